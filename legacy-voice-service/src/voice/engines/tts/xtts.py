"""Coqui XTTS v2 (extra `coqui`): opt-in by licence acceptance, weights from the user's cache, one voice per role."""

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import TextToSpeech, VoiceInfo
from voice.engines.tts._roles import role_of, role_voices
from voice.errors import EngineUnavailable, VoiceNotFound
from voice.settings import ModelSettings, TtsSettings

MODEL_NAME = "coqui/XTTS-v2"
INSTALL_HINT = (
    "pip install 'hybrid-council-voice[coqui]' torch==2.13.0 (torch pinned to the CPU build on these machines)"
)
REQUIRED_FILES = ("config.json", "model.pth", "vocab.json", "speakers_xtts.pth")


class XttsTTS(TextToSpeech):
    name = "xtts"
    licence = "coqui-tts MPL-2.0; XTTS v2 weights Coqui Public Model License 1.0 (non-commercial)"

    def __init__(self, settings: TtsSettings, models: ModelSettings) -> None:
        self._settings = settings
        self._folder = settings.xtts_model_path or models.resolved_cache_dir() / MODEL_NAME
        self._model: Any = None

    @property
    def model_id(self) -> str:
        return "xtts-v2"

    @property
    def sample_rate(self) -> int:
        return 24_000

    def load(self) -> None:
        if not self._settings.xtts_licence_accepted:
            raise EngineUnavailable(
                "XTTS v2 is opt-in: its weights are under the Coqui Public Model License (non-commercial use only). "
                "Read https://coqui.ai/cpml and set VOICE_TTS__XTTS_LICENCE_ACCEPTED=true to accept it."
            )
        # The acceptance is recorded by the setting; never let coqui stop at its interactive licence prompt.
        os.environ["COQUI_TOS_AGREED"] = "1"
        problems: list[str] = []
        try:
            from TTS.tts.configs.xtts_config import XttsConfig
            from TTS.tts.models.xtts import Xtts
        except Exception as error:  # ImportError, or torchaudio's OSError when only its CUDA build is installed
            problems.append(
                f"coqui-tts cannot be imported ({type(error).__name__}: {error}); install it with {INSTALL_HINT}, "
                "with a torchaudio build that matches the CPU torch."
            )
        missing = [name for name in REQUIRED_FILES if not (self._folder / name).is_file()]
        if missing:
            problems.append(
                f"No weights for {MODEL_NAME} in {self._folder} (missing {', '.join(missing)}). Model hubs are not "
                f"contacted at run time; on a machine with hub access run `huggingface-cli download {MODEL_NAME} "
                f"--local-dir {self._folder}` and copy that folder here, or set VOICE_TTS__XTTS_MODEL_PATH."
            )
        if problems:
            raise EngineUnavailable(" ".join(problems))
        config = XttsConfig()
        config.load_json(str(self._folder / "config.json"))
        model = Xtts.init_from_config(config)
        model.load_checkpoint(config, checkpoint_dir=str(self._folder), use_deepspeed=False)
        model.eval()
        self._model = model

    def warm_up(self) -> None:
        role = next(iter(self._settings.xtts_speakers), None)
        if role is not None:
            for _ in self.synthesize("Ready.", f"xtts-{role}", 1.0):
                pass

    def voices(self) -> list[VoiceInfo]:
        return role_voices(self, self._settings.xtts_speakers)

    def synthesize(self, text: str, voice: str, speed: float) -> Iterator[Samples]:
        assert self._model is not None, "load() first"
        speaker = self._settings.xtts_speakers.get(role_of(self, voice))
        if speaker is None:
            raise VoiceNotFound(f"The XTTS voice {voice!r} has no speaker; see VOICE_TTS__XTTS_SPEAKERS.")
        latents = self._model.speaker_manager.speakers[speaker]
        for chunk in self._model.inference_stream(
            text, "en", latents["gpt_cond_latent"], latents["speaker_embedding"], speed=speed
        ):
            yield np.asarray(chunk.cpu().numpy(), dtype=np.float32).reshape(-1)
