"""Kyutai's streaming TTS on `moshi` (imported only here): words go into the model as text arrives, and each 80 ms
frame it makes is decoded by Mimi at once.

The loop follows moshi's `TTSModel.generate` and Kyutai's streaming example (delayed-streams-modeling,
scripts/tts_pytorch_streaming.py): the state machine pops a word whenever the model asks for one, so the model is
stepped only while more words than its lookahead are queued, and to the end once the text is finished.
"""

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from moshi.models.lm import LMGen
from moshi.models.loaders import CheckpointInfo
from moshi.models.tts import TTSModel, script_to_entries
from moshi.utils.compile import no_compile

from voice.audio import Samples
from voice.engines.base import Utterance
from voice.engines.tts.kyutai import KyutaiFiles
from voice.errors import EngineUnavailable

TEMPERATURE = 0.6  # Kyutai's examples and the model's lm_gen_config
CFG = 2.0  # the conditioning value Kyutai's examples give the CFG-distilled model
PADDING_BETWEEN = 1  # one forced pad between words, as Kyutai's examples: it articulates better
CLICK_FRAMES = 2  # moshi's generate drops the first two decoded frames: they click
_LAST_SPACE = re.compile(r"^(.*\s)(\S*)$", re.DOTALL)


def resolve_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


class KyutaiModel:
    """A loaded model: the language model, the Mimi codec and the tokenizer, wrapped by moshi's `TTSModel`."""

    def __init__(self, tts: TTSModel, *, compiled: bool) -> None:
        self.tts = tts
        self.compiled = compiled

    @classmethod
    def load(cls, files: KyutaiFiles, device_setting: str, codebooks: int) -> "KyutaiModel":
        device = resolve_device(device_setting)
        info = CheckpointInfo.from_hf_repo(
            str(files.config.parent),  # only a name here: every file is given as a local path
            moshi_weights=files.lm,
            mimi_weights=files.mimi,
            tokenizer=files.tokenizer,
            config_path=files.config,
            mimi_config_path=files.mimi_config,
            lora_weights=files.lora,
        )
        available = int((info.lm_config or {}).get("n_q", 0))
        if codebooks > available:
            raise EngineUnavailable(
                f"VOICE_TTS__KYUTAI_CODEBOOKS={codebooks}, but the model generates at most {available} codebooks."
            )
        # bfloat16 is what the weights are and what GPUs run fast; on a CPU float32 is faster and safer.
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        tts = TTSModel.from_checkpoint_info(info, n_q=codebooks, temp=TEMPERATURE, device=device, dtype=dtype)
        if not tts.multistream:
            tts.lm.dep_q = tts.n_q  # generate only the codebooks asked for (as moshi's generate does)
        # moshi compiles its rope, gating and norm kernels with torch.compile, which pays on a GPU; on a CPU inductor
        # would build C++ kernels with the system compiler at first use (slow, and gcc needed), so CPUs run eager.
        return cls(tts, compiled=device.startswith("cuda"))

    def condition_on(self, voice: Path) -> Any:
        """The model's conditioning tensors for one voice embedding."""
        cfg = CFG if self.tts.valid_cfg_conditionings else None
        attributes = self.tts.make_condition_attributes([voice], cfg_coef=cfg)
        provider = self.tts.lm.condition_provider
        assert provider is not None, "a voice-embedding model has a condition provider"
        return provider.prepare_and_provide([attributes])

    def start(self, conditions: Any) -> "Speech":
        """A new utterance on this model (use it as a context manager, or close it): the model is in its stream."""
        return Speech(self.tts, conditions, compiled=self.compiled)


class Speech(Utterance):
    """One utterance: text pushed as it arrives, audio yielded frame by frame (80 ms) as the model makes it."""

    def __init__(self, tts: TTSModel, conditions: Any, *, compiled: bool) -> None:
        self._tts = tts
        self._compiled = compiled
        self._machine = tts.machine
        self._state = tts.machine.new_state([])
        self._offset = 0  # steps taken
        self._frames = 0  # frames the model gave out (none during its first `max_delay` steps)
        self._partial = ""  # the last word of the text so far, which the next push may go on
        self._first_words = True  # the first words of the utterance carry the speaker token
        device = tts.lm.device
        self._silent_inputs = torch.full(
            (1, tts.lm.n_q - tts.lm.dep_q, 1), self._machine.token_ids.zero, dtype=torch.long, device=device
        )
        # Before the audio starts (`delay_steps`) the depth transformer has nothing to say: skip it, as generate does.
        self._no_audio = torch.full((1, tts.lm.dep_q, 1), self._machine.token_ids.zero, dtype=torch.long, device=device)
        self._generator = LMGen(
            tts.lm,
            temp=tts.temp,
            temp_text=tts.temp,
            cfg_coef=tts.cfg_coef,
            condition_tensors=conditions,
            on_text_logits_hook=self._on_text_logits,
            on_text_hook=self._on_text,
            on_audio_hook=self._on_audio,
            cfg_is_masked_until=None,
            cfg_is_no_text=True,
        )
        self._streams = ExitStack()
        try:
            self._streams.enter_context(self._generator.streaming(1))
            self._streams.enter_context(tts.mimi.streaming(1))
        except BaseException:
            self._streams.close()  # never leave the model half in a stream
            raise

    def push(self, text: str) -> Iterator[Samples]:
        """Queue the whole words of `text` and yield the audio the model can make before it needs more words."""
        match = _LAST_SPACE.match(self._partial + text)
        complete, self._partial = (match.group(1), match.group(2)) if match else ("", self._partial + text)
        self._queue(complete)
        while len(self._state.entries) > self._machine.second_stream_ahead:
            yield from self._step()

    def finish(self) -> Iterator[Samples]:
        """The text is complete: yield the rest of the audio, to its end."""
        self._queue(self._partial)
        self._partial = ""
        while not self._ended() and self._offset < self._tts.max_gen_length:
            yield from self._step()

    def close(self) -> None:
        """Leave the model's streaming state (also what cancels an utterance); safe to call twice."""
        self._streams.close()

    def _queue(self, text: str) -> None:
        if not text.strip():
            return
        tts = self._tts
        entries = script_to_entries(
            tts.tokenizer,
            self._machine.token_ids,
            tts.mimi.frame_rate,
            [text],
            multi_speaker=tts.multi_speaker and self._first_words,
            padding_between=PADDING_BETWEEN,
        )
        self._state.entries.extend(entries)
        self._first_words = self._first_words and not entries

    def _ended(self) -> bool:
        end = self._state.end_step
        return end is not None and self._frames - self._tts.delay_steps >= end + CLICK_FRAMES

    def _step(self) -> Iterator[Samples]:
        tts = self._tts
        no_audio = self._no_audio if self._offset < tts.delay_steps else None
        with self._compilation():
            frame = self._generator.step(self._silent_inputs, depformer_replace_tokens=no_audio)
        self._offset += 1
        if frame is None:
            return
        index = self._frames - tts.delay_steps  # frames before the audio delay carry no audio
        self._frames += 1
        if index < 0:
            return
        # grad mode is per thread (and each push may run in another worker thread), so it is set around each call.
        with self._compilation(), torch.no_grad():
            pcm = tts.mimi.decode(frame[:, 1:, :])
        end = self._state.end_step
        if index < CLICK_FRAMES or (end is not None and index >= end + CLICK_FRAMES):
            return  # decoded all the same: Mimi's stream must see every frame
        samples: Samples = np.clip(pcm[0, 0].float().cpu().numpy(), -1.0, 1.0).astype(np.float32)
        yield samples

    def _compilation(self) -> AbstractContextManager[Any]:
        return nullcontext() if self._compiled else no_compile()

    def _on_text_logits(self, logits: Any) -> None:
        if self._tts.padding_bonus:
            logits[..., self._machine.token_ids.pad] += self._tts.padding_bonus

    def _on_text(self, tokens: Any) -> None:
        """The model's text token says whether it wants the next word; the state machine answers with its tokens."""
        chosen = [self._machine.process(self._offset, self._state, token)[0] for token in tokens.tolist()]
        tokens[:] = torch.tensor(chosen, dtype=torch.long, device=tokens.device)

    def _on_audio(self, audio: Any) -> None:
        """Audio tokens before the audio delay (per codebook) are forced to the zero token, as in generate."""
        lm = self._tts.lm
        for codebook in range(audio.shape[1]):
            if self._offset < lm.delays[codebook + lm.audio_offset] + self._tts.delay_steps:
                audio[:, codebook] = self._machine.token_ids.zero
