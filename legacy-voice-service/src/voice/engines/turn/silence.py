"""Plain silence endpointing as a turn engine: a pause is always the end of the turn."""

from voice.audio import Samples
from voice.engines.base import TurnDetector


class SilenceTurn(TurnDetector):
    name = "silence"
    licence = "no model"
    semantic = False

    @property
    def model_id(self) -> str:
        return "silence"

    def load(self) -> None:
        """Nothing to load."""

    def warm_up(self) -> None:
        """Nothing to warm."""

    def completion(self, audio: Samples) -> float:
        return 1.0
