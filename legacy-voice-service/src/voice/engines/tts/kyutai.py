"""Kyutai TTS (extra `kyutai`, Kyutai's `moshi` package): text streamed in word by word, audio out frame by frame;
the model and voice embeddings come from the user's model cache, one voice per council role."""

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice.audio import Samples
from voice.engines.base import StreamingTextToSpeech, Utterance, VoiceInfo
from voice.engines.tts._roles import role_of, role_voices
from voice.errors import EngineBusy, EngineUnavailable, VoiceNotFound
from voice.settings import ModelSettings, TtsSettings

if TYPE_CHECKING:
    from voice.engines.tts._kyutai_speech import KyutaiModel, Speech

VOICE_REPO = "kyutai/tts-voices"
INSTALL_HINT = (
    "pip install 'hybrid-council-voice[kyutai]' on a GPU machine (moshi brings a CUDA torch<2.10); on the CPU machines "
    "here, next to torch==2.13.0: pip install --no-deps --require-hashes -r requirements-kyutai.txt (make setup-nemo)"
)
# moshi's own defaults for a config.json that does not name its files.
_DEFAULT_NAMES = {
    "moshi_name": "model.safetensors",
    "mimi_name": "tokenizer-e351c8d8-checkpoint125.safetensors",
    "tokenizer_name": "tokenizer_spm_32k_3.model",
}
_PLAIN_NAME = re.compile(r"^[^/\\]+$")


def _download_hint(repo: str, folder: Path, files: str = "") -> str:
    return (
        f"Model hubs are not contacted at run time; on a machine with hub access run `huggingface-cli download "
        f"{repo}{files} --local-dir {folder}` and copy that folder here"
    )


@dataclass(frozen=True)
class KyutaiFiles:
    """Every local file a Kyutai TTS model needs; moshi is given these paths, so it never contacts a hub."""

    config: Path
    lm: Path
    mimi: Path
    tokenizer: Path
    mimi_config: Path | None
    lora: Path | None
    voices: dict[str, Path]  # council role -> voice embedding (.safetensors)


class KyutaiTTS(StreamingTextToSpeech):
    name = "kyutai"
    licence = "moshi MIT; Kyutai TTS 1.6B weights CC-BY-4.0; voices per folder of kyutai/tts-voices (vctk CC-BY-4.0)"

    def __init__(self, settings: TtsSettings, models: ModelSettings) -> None:
        self._settings = settings
        cache = models.resolved_cache_dir()
        self._folder = settings.kyutai_model_path or cache / settings.kyutai_model
        self._voices_folder = settings.kyutai_voices_path or cache / VOICE_REPO
        self._model: KyutaiModel | None = None
        self._conditions: dict[str, Any] = {}  # role -> the model's conditioning on that voice
        # moshi keeps a stream's state inside the model's modules: one utterance at a time per loaded model.
        self._speaking = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._settings.kyutai_model

    @property
    def sample_rate(self) -> int:
        return 24_000  # Mimi's rate

    def locate(self) -> KyutaiFiles | list[str]:
        """The model's files, or what is missing, where it was looked for and how to provide it."""
        folder, model = self._folder, self.model_id
        config_path = folder / "config.json"
        if not config_path.is_file():
            return [
                f"No weights for {model} in {folder} (missing config.json). {_download_hint(model, folder)}, or "
                "set VOICE_TTS__KYUTAI_MODEL_PATH."
            ]
        try:
            config: dict[str, Any] = json.loads(config_path.read_text())
        except (OSError, ValueError) as error:
            return [f"{config_path} is not a readable JSON file ({error})."]
        names = {key: str(config.get(key, default)) for key, default in _DEFAULT_NAMES.items()}
        optional = {key: str(config[key]) for key in ("mimi_config_name", "lora_name") if config.get(key)}
        problems = [
            f"{config_path} names {key}={name!r}, which is not a file name."
            for key, name in {**names, **optional}.items()
            if not _PLAIN_NAME.match(name)
        ]
        if problems:
            return problems
        missing = [name for name in [*names.values(), *optional.values()] if not (folder / name).is_file()]
        if missing:
            problems.append(
                f"Incomplete weights for {model} in {folder} (missing {', '.join(missing)}). "
                f"{_download_hint(model, folder)}, or set VOICE_TTS__KYUTAI_MODEL_PATH."
            )
        voices = self._voice_files(config, problems)
        if problems:
            return problems
        return KyutaiFiles(
            config=config_path,
            lm=folder / names["moshi_name"],
            mimi=folder / names["mimi_name"],
            tokenizer=folder / names["tokenizer_name"],
            mimi_config=folder / optional["mimi_config_name"] if "mimi_config_name" in optional else None,
            lora=folder / optional["lora_name"] if "lora_name" in optional else None,
            voices=voices,
        )

    def _voice_files(self, config: dict[str, Any], problems: list[str]) -> dict[str, Path]:
        if "speaker_wavs" not in (config.get("conditioners") or {}):
            problems.append(
                f"{self.model_id} takes its voice from an audio prefix, not from voice embeddings; this engine runs "
                "voice-embedding models such as kyutai/tts-1.6b-en_fr (VOICE_TTS__KYUTAI_MODEL)."
            )
            return {}
        # The embeddings are computed per model: <voice>.<signature>@<epoch>.safetensors (moshi's naming).
        model_id = config.get("model_id")
        if not isinstance(model_id, dict) or "sig" not in model_id or "epoch" not in model_id:
            problems.append(f"{self._folder / 'config.json'} has no model_id (sig, epoch), which names its voices.")
            return {}
        suffix = f".{model_id['sig']}@{model_id['epoch']}.safetensors"
        folder = self._voices_folder.resolve()
        files = {role: (folder / f"{voice}{suffix}").resolve() for role, voice in self._settings.kyutai_voices.items()}
        outside = [role for role, path in files.items() if not path.is_relative_to(folder)]
        if outside:
            problems.append(f"VOICE_TTS__KYUTAI_VOICES names voices outside {folder} (for {', '.join(outside)}).")
            return {}
        if not files:
            problems.append("VOICE_TTS__KYUTAI_VOICES is empty: give at least one council role a voice.")
        missing = [str(path.relative_to(folder)) for path in files.values() if not path.is_file()]
        if missing:
            problems.append(
                f"No voice embeddings for {self.model_id} in {folder} (missing {', '.join(missing)}). "
                f"{_download_hint(VOICE_REPO, folder, ' ' + ' '.join(missing))}, set VOICE_TTS__KYUTAI_VOICES_PATH, "
                "or choose other voices with VOICE_TTS__KYUTAI_VOICES."
            )
        return files

    def load(self) -> None:
        problems: list[str] = []
        try:
            from voice.engines.tts import _kyutai_speech
        except Exception as error:  # ImportError, or a torch build that cannot load underneath it
            problems.append(
                f"moshi or torch cannot be imported ({type(error).__name__}: {error}); install it with {INSTALL_HINT}."
            )
        files = self.locate()
        if isinstance(files, list):
            problems.extend(files)
        if problems:
            raise EngineUnavailable(" ".join(problems))
        assert isinstance(files, KyutaiFiles)
        model = _kyutai_speech.KyutaiModel.load(files, self._settings.kyutai_device, self._settings.kyutai_codebooks)
        self._conditions = {role: model.condition_on(path) for role, path in files.voices.items()}
        self._model = model

    def warm_up(self) -> None:
        voice = self.voices()[0].id
        for _ in self.synthesize("Ready.", voice, 1.0):
            pass

    def voices(self) -> list[VoiceInfo]:
        # English: the model speaks English and French, and the default voices are English.
        return role_voices(self, self._settings.kyutai_voices)

    def utterance(self, voice: str) -> Utterance:
        """One utterance whose text is pushed as it arrives, then finished; closing it early cancels it (the model's
        stream state is reset, nothing more is generated). `speed` has no place here: the model sets its own pace."""
        assert self._model is not None, "load() first"
        conditions = self._conditions.get(role_of(self, voice))
        if conditions is None:
            raise VoiceNotFound(f"The Kyutai voice {voice!r} has no embedding; see VOICE_TTS__KYUTAI_VOICES.")
        if not self._speaking.acquire(blocking=False):
            raise EngineBusy(
                "The kyutai engine speaks one utterance at a time (VOICE_LIMITS__MAX_CONCURRENT_JOBS=1); retry shortly.",
                headers={"Retry-After": "1"},
            )
        try:
            speech = self._model.start(conditions)
        except BaseException:
            self._speaking.release()
            raise
        return _HeldUtterance(speech, self._speaking)


class _HeldUtterance(Utterance):
    """A model stream that holds the engine's one-utterance lock until it is closed (from any thread)."""

    def __init__(self, speech: "Speech", speaking: threading.Lock) -> None:
        self._speech = speech
        self._speaking: threading.Lock | None = speaking

    def push(self, text: str) -> Iterator[Samples]:
        return self._speech.push(text)

    def finish(self) -> Iterator[Samples]:
        return self._speech.finish()

    def close(self) -> None:
        speaking, self._speaking = self._speaking, None
        if speaking is None:
            return
        try:
            self._speech.close()
        finally:
            speaking.release()
