"""The real Kyutai loading and streaming synthesis path (moshi), on a tiny randomly initialised model the test builds:
the same architecture as kyutai/tts-1.6b-en_fr (voice embeddings by cross-attention, CFG and control conditioners,
a lookahead text stream, per-step depth-transformer weights, Mimi), only small. It is saved as that model's files
(config.json, safetensors weights, a SentencePiece tokenizer, a Mimi config, voice embeddings) in a model cache,
and the engine finds and loads it as it would the real one.

An untrained model makes noise, not speech: these tests prove the plumbing (loading, streamed text in, audio frames
out, cancel, the service around it, and the realtime speech socket streaming each answer through one utterance), not
what the real model sounds like, which needs its hub-only weights.

Runs only where moshi is installed (make setup-nemo puts it in .venv-nemo next to the CPU torch); elsewhere it is
skipped with that reason, except in that suite of `make test` (VOICE_TEST_KYUTAI_REQUIRED=1), where a missing moshi
is a failure.
"""

import base64
import importlib.util
import io
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppClient
from voice.audio import Samples, StreamEncoder
from voice.engines.base import Utterance
from voice.engines.tts.kyutai import KyutaiFiles, KyutaiTTS
from voice.errors import EngineBusy
from voice.settings import ModelSettings, Settings, TtsSettings

if TYPE_CHECKING:
    from voice.engines.tts._kyutai_speech import KyutaiModel

pytestmark = pytest.mark.skipif(
    os.environ.get("VOICE_TEST_KYUTAI_REQUIRED") != "1" and importlib.util.find_spec("moshi") is None,
    reason="moshi is not installed (make setup-nemo installs it into .venv-nemo; see docs/voice-api.md)",
)

MODEL = "tiny/kyutai-tts"
VOICES = {"chair": "test/chair.wav", "critical": "test/critical.wav"}
SPEAKER_DIM = 16
FRAME = 1920  # 80 ms at 24 kHz
CORPUS = [
    "the council has decided to vote tomorrow",
    "point number one is worth a sentence of its own",
    "we speak as the text arrives and stop when asked",
    "ready hello world yes it is about three kilometres away",
]
SEANET = {
    "channels": 1, "dimension": 16, "causal": True, "n_filters": 2, "n_residual_layers": 1, "activation": "ELU",
    "compress": 2, "dilation_base": 2, "disable_norm_outer_blocks": 0, "kernel_size": 7, "residual_kernel_size": 3,
    "last_kernel_size": 3, "norm": "none", "pad_mode": "constant", "ratios": [8, 6, 5, 4], "true_skip": True,
}  # fmt: skip
MIMI = {
    "sample_rate": 24_000,
    "channels": 1,
    "frame_rate": 12.5,
    "seanet": SEANET,
    "quantizer": {"dimension": 8, "n_q": 4, "bins": 16, "input_dimension": 16, "output_dimension": 16},
    "transformer": {
        "d_model": 16, "num_heads": 2, "num_layers": 1, "causal": True, "layer_scale": 0.01, "context": 25,
        "conv_layout": True, "max_period": 10000, "gating": "none", "norm": "layer_norm",
        "positional_embedding": "rope", "dim_feedforward": 32, "input_dimension": 16, "output_dimensions": [16],
    },
}  # fmt: skip
# kyutai/tts-1.6b-en_fr's config.json with every size cut down (its dim is 2048, 16 layers, 32 codebooks, ...).
CONFIG: dict[str, Any] = {
    "moshi_name": "tiny_lm.safetensors",
    "mimi_name": "tiny_mimi.safetensors",
    "tokenizer_name": "tiny_spm.model",
    "mimi_config_name": "tiny_mimi.json",
    "model_type": "tts",
    "model_id": {"sig": "tiny", "epoch": 1},
    "lm_gen_config": {"temp": 0.6, "text_temp": 0.6},
    "tts_config": {"audio_delay": 0.16, "second_stream_ahead": 2},
    "card": 16, "n_q": 4, "dep_q": 4, "delays": [0, 0, 2, 2, 2], "dim": 32, "text_card": 64,
    "existing_text_padding_id": 3, "num_heads": 2, "num_layers": 1, "hidden_scale": 2, "causal": True,
    "layer_scale": None, "context": 64, "max_period": 10000, "gating": "silu", "norm": "rms_norm_f32",
    "positional_embedding": "rope", "depformer_dim": 16, "depformer_num_heads": 2, "depformer_num_layers": 1,
    "depformer_dim_feedforward": 32, "depformer_multi_linear": True, "depformer_pos_emb": "none",
    "depformer_weights_per_step": True, "depformer_low_rank_embeddings": 8,
    "depformer_weights_per_step_schedule": [0, 1, 2, 2], "demux_second_stream": True, "text_card_out": None,
    "cross_attention": True,
    "conditioners": {
        "speaker_wavs": {"type": "tensor", "tensor": {"dim": SPEAKER_DIM}},
        "cfg": {"type": "lut", "lut": {"n_bins": 7, "dim": 16, "tokenizer": "noop",
                                       "possible_values": ["1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0"]}},
        "control": {"type": "lut", "lut": {"dim": 32, "n_bins": 1, "tokenizer": "noop", "possible_values": ["ok"]}},
    },
    "fuser": {"cross_attention_pos_emb": True, "cross_attention_pos_emb_scale": 1, "sum": ["control", "cfg"],
              "prepend": [], "cross": ["speaker_wavs"]},
}  # fmt: skip


def build_tiny_model(cache: Path) -> None:
    """Write a randomly initialised model and two voice embeddings where the engine looks for them."""
    import sentencepiece
    import torch
    from moshi.models.loaders import CheckpointInfo, get_mimi
    from safetensors.torch import save_file

    torch.manual_seed(0)
    folder = cache / MODEL
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / CONFIG["mimi_config_name"]).write_text(json.dumps(MIMI))
    tokenizer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=tokenizer, vocab_size=48, minloglevel=2
    )
    (folder / CONFIG["tokenizer_name"]).write_bytes(tokenizer.getvalue())
    info = CheckpointInfo.from_hf_repo(
        MODEL,
        moshi_weights=folder / CONFIG["moshi_name"],
        mimi_weights=folder / CONFIG["mimi_name"],
        tokenizer=folder / CONFIG["tokenizer_name"],
        config_path=folder / "config.json",
        mimi_config_path=folder / CONFIG["mimi_config_name"],
    )
    lm = info.get_moshi(device="cpu", dtype=torch.float32, load_weight=False)
    save_file({name: tensor.contiguous() for name, tensor in lm.state_dict().items()}, folder / CONFIG["moshi_name"])
    mimi = get_mimi(None, MIMI, device="cpu", num_codebooks=4)
    save_file({name: tensor.contiguous() for name, tensor in mimi.state_dict().items()}, folder / CONFIG["mimi_name"])
    for voice in VOICES.values():
        path = cache / "kyutai" / "tts-voices" / f"{voice}.tiny@1.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"speaker_wavs": torch.randn(1, SPEAKER_DIM, 10)}, path)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny model's operations are too small to share between threads: with two, on a machine busy with other
    work, its synthesis ran 8 times slower (threads waiting on each other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kyutai-cache")
    build_tiny_model(folder)
    return folder


def tts_settings(**changes: Any) -> TtsSettings:
    return TtsSettings(kyutai_model=MODEL, kyutai_voices=VOICES, kyutai_device="cpu", kyutai_codebooks=4, **changes)


@pytest.fixture(scope="module")
def engine(cache: Path) -> KyutaiTTS:
    import torch

    torch.manual_seed(1)
    engine = KyutaiTTS(tts_settings(), ModelSettings(cache_dir=cache))
    engine.load()
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def model(cache: Path) -> "KyutaiModel":
    from voice.engines.tts._kyutai_speech import KyutaiModel

    return KyutaiModel.load(files(cache), "cpu", 4)


def files(cache: Path) -> KyutaiFiles:
    found = KyutaiTTS(tts_settings(), ModelSettings(cache_dir=cache)).locate()
    assert isinstance(found, KyutaiFiles), found
    return found


def total_samples(chunks: Iterator[np.ndarray[Any, Any]]) -> int:
    sizes = []
    for chunk in chunks:
        assert chunk.dtype == np.float32
        assert chunk.ndim == 1
        assert np.all(np.abs(chunk) <= 1.0)
        sizes.append(chunk.size)
    assert all(size == FRAME for size in sizes)  # one Mimi frame each: audio leaves as it is made
    return sum(sizes)


def test_the_tiny_model_loads_from_the_cache_and_speaks_a_sentence_frame_by_frame(engine: KyutaiTTS) -> None:
    assert [voice.id for voice in engine.voices()] == ["kyutai-chair", "kyutai-critical"]
    samples = total_samples(engine.synthesize("The council has decided.", "kyutai-chair", 1.0))
    # At least a frame per word: the state machine feeds one word at a time, and pads between them.
    assert samples >= 4 * FRAME
    assert total_samples(engine.synthesize("Yes.", "kyutai-critical", 1.0)) > 0


def moshi_reference(model: "KyutaiModel", voice: Path, text: str, seed: int) -> npt.NDArray[np.float32]:
    """What moshi's own one-shot `TTSModel.simple_generate` makes of the whole text, with the same random draws."""
    import torch
    from moshi.utils.compile import no_compile

    torch.manual_seed(seed)
    with no_compile():  # as the engine runs on a CPU
        [audio] = model.tts.simple_generate(text, str(voice), show_progress=False)
    reference: npt.NDArray[np.float32] = audio.numpy()
    return reference


def test_the_engine_makes_what_moshis_own_generate_makes(model: "KyutaiModel", cache: Path) -> None:
    import torch

    voice = files(cache).voices["chair"]
    text = "The council has decided to vote tomorrow."
    reference = moshi_reference(model, voice, text, seed=7)
    torch.manual_seed(7)
    with model.start(model.condition_on(voice)) as speech:
        ours = np.concatenate([*speech.push(text), *speech.finish()])
    assert reference.size > 0
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_streamed_text_is_spoken_before_it_is_finished_and_sounds_the_same(model: "KyutaiModel", cache: Path) -> None:
    import torch

    voice = files(cache).voices["critical"]
    # Text arrives as an LLM writes it, even in pieces of words; audio comes while the rest has not arrived.
    deltas = ["Point num", "ber one is wor", "th a sentence of its own, and", " we vote tomorrow."]
    reference = moshi_reference(model, voice, "".join(deltas), seed=11)
    torch.manual_seed(11)
    with model.start(model.condition_on(voice)) as speech:
        early = [chunk for delta in deltas for chunk in speech.push(delta)]
        rest = list(speech.finish())
    assert early  # the model spoke the first words while the text was still open
    assert rest  # the last words (the lookahead the model waits for) and the audio delay come at the end
    assert total_samples(iter([*early, *rest])) == reference.size
    # Feeding the words as they come changes nothing the model does: the same audio as from the whole text at once.
    np.testing.assert_allclose(np.concatenate([*early, *rest]), reference, atol=1e-6)


def test_an_utterance_stops_when_cancelled_and_the_next_one_speaks(engine: KyutaiTTS) -> None:
    long_text = " ".join(["point number one is worth a sentence of its own"] * 20)
    chunks = engine.synthesize(long_text, "kyutai-chair", 1.0)
    next(chunks)
    chunks.close()  # what a caller's cancel does: the generator is closed mid-utterance
    # The model left its streaming state and the engine its lock: another utterance starts at once.
    assert total_samples(engine.synthesize("Ready.", "kyutai-critical", 1.0)) > 0


def test_a_second_utterance_while_one_is_open_is_refused_as_busy(engine: KyutaiTTS) -> None:
    with engine.utterance("kyutai-chair"), pytest.raises(EngineBusy, match="one utterance at a time"):
        next(engine.synthesize("Hello.", "kyutai-critical", 1.0))


def events_until(socket: Any, last: str) -> list[dict[str, Any]]:
    events = []
    while (event := socket.receive_json())["type"] not in (last, "error"):
        events.append(event)
    return [*events, event]


def kyutai_settings(cache: Path, **sections: Any) -> Settings:
    return Settings(
        _env_file=None,
        **sections,
        stt={"enabled": False},
        vad={"enabled": False},
        tts={"engine": "kyutai", **tts_settings().model_dump(include={"kyutai_model", "kyutai_voices",
                                                                     "kyutai_device", "kyutai_codebooks"})},
        models={"cache_dir": str(cache)},
    )  # fmt: skip


def test_the_service_speaks_with_kyutai_over_http(app_client: AppClient, cache: Path) -> None:
    client = app_client(kyutai_settings(cache))
    ready = client.get("/health/ready").json()
    assert ready["checks"]["tts:kyutai"][0]["status"] == "pass"  # loaded and warmed before readiness passed
    voices = [voice["id"] for voice in client.get("/v1/audio/voices").json()["voices"]]
    assert voices == ["kyutai-chair", "kyutai-critical"]

    spoken = client.post(
        "/v1/audio/speech", json={"input": "Hello world.", "voice": "kyutai-chair", "response_format": "pcm"}
    )
    assert spoken.status_code == 200
    assert len(spoken.content) >= 2 * FRAME  # pcm16 at 24 kHz, the engine's own rate


class RecordedUtterance(Utterance):
    """The engine's real utterance, passed through, with what the speech socket did to it written down: the tests
    see how many utterances an answer took, what text went in when, how many frames came out, and the close."""

    def __init__(self, real: Utterance) -> None:
        self.real = real
        self.pushed: list[str] = []
        self.frames = 0
        self.finished = False
        self.closed = False

    def push(self, text: str) -> Iterator[Samples]:
        self.pushed.append(text)
        return self._counted(self.real.push(text))

    def finish(self) -> Iterator[Samples]:
        self.finished = True
        return self._counted(self.real.finish())

    def close(self) -> None:
        self.closed = True
        self.real.close()

    def _counted(self, frames: Iterator[Samples]) -> Iterator[Samples]:
        for frame in frames:
            self.frames += 1
            yield frame


@dataclass
class SpeakingService:
    client: TestClient
    engine: KyutaiTTS
    utterances: list[RecordedUtterance]  # every utterance the engine opened, in order

    def socket(self) -> Any:
        return self.client.websocket_connect("ws://localhost/v1/realtime/speech?voice=kyutai-chair")


@pytest.fixture
def speaking(app_client: AppClient, cache: Path, monkeypatch: pytest.MonkeyPatch) -> SpeakingService:
    # The smallest text queue allowed; every answer in these tests fits in it but one, which is there to be refused.
    client = app_client(kyutai_settings(cache, realtime={"max_queued_text_chars": 2048}))
    engine = client.app_state["engines"].synthesizer("kyutai").engine
    assert isinstance(engine, KyutaiTTS)
    utterances: list[RecordedUtterance] = []
    real = engine.utterance

    def recorded(voice: str) -> Utterance:
        utterance = RecordedUtterance(real(voice))
        utterances.append(utterance)
        return utterance

    monkeypatch.setattr(engine, "utterance", recorded)
    return SpeakingService(client, engine, utterances)


def first_event_while_the_text_is_open(socket: Any) -> dict[str, Any]:
    """The next event, which should be audio although the answer's text is still open. A guard only: if no audio
    comes (the clause path waits for a sentence's end), a marker the server answers at once ends the wait after a
    minute instead of hanging the suite; the tiny model's first frames take milliseconds."""
    marker = threading.Timer(60, socket.send_json, [{"type": "session.update", "session": {}}])
    marker.start()
    try:
        event: dict[str, Any] = socket.receive_json()
    finally:
        marker.cancel()
    assert event["type"] == "speech.audio.delta", f"no audio while the answer's text was still open: {event}"
    return event


def pcm_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "speech.audio.delta")


def test_an_answers_audio_starts_before_its_text_is_complete_in_one_utterance(speaking: SpeakingService) -> None:
    import torch

    # No sentence or clause mark anywhere: the clause path would have nothing to speak until speech.text.done.
    deltas = ["The council has decided to vote tomorrow and we", " speak as the text arrives", " and stop when asked"]
    torch.manual_seed(5)
    with speaking.socket() as socket:
        assert socket.receive_json()["session"]["voice"] == "kyutai-chair"
        socket.send_json({"type": "speech.text.delta", "delta": deltas[0]})
        first = first_event_while_the_text_is_open(socket)
        # The audio came from the first delta alone: nothing else had been sent.
        assert len(base64.b64decode(first["delta"])) > 0
        assert [u.pushed for u in speaking.utterances] == [[deltas[0]]]
        for delta in deltas[1:]:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        socket.send_json({"type": "speech.text.done"})
        events = [first, *events_until(socket, "speech.audio.done")]
        assert events[-1]["type"] == "speech.audio.done"
        # Frames, not clauses: each audio event is at most one 80 ms frame (pcm16), sent as the model made it.
        sizes = [len(base64.b64decode(e["delta"])) for e in events if e["type"] == "speech.audio.delta"]
        assert max(sizes) <= 2 * FRAME
        assert len(sizes) >= 8

    # One utterance served the whole answer: every delta went into it as it came, then it was finished and closed.
    [utterance] = speaking.utterances
    assert "".join(utterance.pushed) == "".join(deltas)
    assert utterance.finished
    assert utterance.closed
    # And it is the audio the engine makes of the whole answer in one go (same random draws): nothing was cut.
    torch.manual_seed(5)
    encoder = StreamEncoder("pcm", speaking.engine.sample_rate)
    whole = b"".join(encoder.encode(chunk) for chunk in speaking.engine.synthesize("".join(deltas), "kyutai-chair", 1))
    assert pcm_of(events) == whole + encoder.finish()


def test_cancel_closes_the_answers_utterance_at_once_and_no_frame_follows(speaking: SpeakingService) -> None:
    long_answer = " ".join(["point number one is worth a sentence of its own"] * 30)  # about 600 frames to speak
    with speaking.socket() as socket:
        socket.receive_json()
        socket.send_json({"type": "speech.text.delta", "delta": long_answer})
        first_event_while_the_text_is_open(socket)
        socket.send_json({"type": "speech.cancel"})
        events_until(socket, "speech.cancelled")  # frames already on the wire when cancel arrived may come first
        [utterance] = speaking.utterances
        # speech.cancelled comes once the utterance is closed: the model stopped, far from the end of the answer.
        assert utterance.closed
        assert not utterance.finished
        made = utterance.frames
        assert made < 300
        # Nothing of the cancelled answer follows: the next event is the answer to the next request.
        socket.send_json({"type": "session.update", "session": {}})
        assert socket.receive_json()["type"] == "session.updated"
        assert utterance.frames == made
        # The engine is free: the next answer is spoken, in an utterance of its own.
        socket.send_json({"type": "speech.text.delta", "delta": "Ready"})
        socket.send_json({"type": "speech.text.done"})
        events = events_until(socket, "speech.audio.done")
        assert events[-1]["type"] == "speech.audio.done"
        assert pcm_of(events)
    assert [u.pushed for u in speaking.utterances][1:] == [["Ready"]]


def test_closing_the_socket_mid_answer_closes_its_utterance_and_frees_the_engine(speaking: SpeakingService) -> None:
    with speaking.socket() as socket:
        socket.receive_json()
        socket.send_json({"type": "speech.text.delta", "delta": " ".join(["we vote tomorrow"] * 100)})
        first_event_while_the_text_is_open(socket)
    # Leaving the block closes the socket and ends the session: its utterance was closed on the way out.
    [utterance] = speaking.utterances
    assert utterance.closed
    assert not utterance.finished
    speaking.engine.utterance("kyutai-critical").close()  # not EngineBusy: the engine's lock was released


def test_an_answer_the_busy_engine_cannot_take_is_kept_and_spoken_when_it_is_free_and_the_queue_is_bounded(
    speaking: SpeakingService,
) -> None:
    held = speaking.engine.utterance("kyutai-critical")  # another utterance holds the model
    with speaking.socket() as socket:
        socket.receive_json()
        socket.send_json({"type": "speech.text.delta", "delta": "The council has decided"})
        busy = socket.receive_json()
        assert (busy["type"], busy["error"]["code"], busy["text"]) == (
            "error",
            "rate_limited",
            "The council has decided",
        )
        held.close()
        socket.send_json({"type": "speech.text.done"})  # wakes the kept answer: it is spoken now, whole
        events = events_until(socket, "speech.audio.done")
        assert events[-1]["type"] == "speech.audio.done"
        assert pcm_of(events)
        # speech.text.done with no text is an empty answer: done at once, no utterance.
        socket.send_json({"type": "speech.text.done"})
        assert socket.receive_json()["type"] == "speech.audio.done"
        # Text beyond the queue's bound is refused, as on the clause path, before any utterance opens for it.
        socket.send_json({"type": "speech.text.delta", "delta": "we vote tomorrow " * 130})
        refused = socket.receive_json()
        assert (refused["type"], refused["error"]["code"]) == ("error", "invalid_request")
        assert "VOICE_REALTIME__MAX_QUEUED_TEXT_CHARS" in refused["error"]["message"]
    assert [u.pushed for u in speaking.utterances[1:]] == [["The council has decided"]]


def test_an_answer_left_open_is_ended_after_the_text_gap_and_the_engine_is_free(
    app_client: AppClient, cache: Path
) -> None:
    # The model speaks one utterance at a time for every socket: an answer that never gets speech.text.done must
    # not hold it for ever.
    client = app_client(kyutai_settings(cache, realtime={"max_text_gap_s": 0.5}))
    engine = client.app_state["engines"].synthesizer("kyutai").engine
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=kyutai-chair") as socket:
        socket.receive_json()
        socket.send_json({"type": "speech.text.delta", "delta": "The council has decided"})
        # A guard only: if the answer is never ended, an unknown event's error ends the wait after a minute.
        guard = threading.Timer(60, socket.send_json, [{"type": "no.such.event"}])
        guard.start()
        try:
            error = events_until(socket, "error")[-1]
        finally:
            guard.cancel()
        assert "VOICE_REALTIME__MAX_TEXT_GAP_S" in error["error"]["message"]
        assert events_until(socket, "speech.audio.done")[-1]["type"] == "speech.audio.done"
        engine.utterance("kyutai-critical").close()  # not EngineBusy: the answer's utterance was closed
        # Text that comes later is another answer, spoken in an utterance of its own.
        socket.send_json({"type": "speech.text.delta", "delta": "Ready"})
        socket.send_json({"type": "speech.text.done"})
        events = events_until(socket, "speech.audio.done")
        assert events[-1]["type"] == "speech.audio.done"
        assert pcm_of(events)
