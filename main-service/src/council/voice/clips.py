"""Audio of short fixed phrases (the council's acknowledgement), kept once the voice service has spoken them.

Saying a kept phrase again costs no synthesis, so it is heard the moment a turn is routed to the council, when
the members' generation already holds the CPU (measured: synthesizing it then took ~650 ms on 2 cores). Shared by
every voice session of this process; bounded, least recently used out first.
"""

from collections import OrderedDict

MAX_CLIPS = 16  # a phrase per role voice in practice; 24 kHz s16le, ~70 KB for a 1.5 s phrase


class SpokenClips:
    def __init__(self, max_clips: int = MAX_CLIPS) -> None:
        self.max_clips = max_clips
        self._clips: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, voice: str, text: str) -> bytes | None:
        pcm = self._clips.get((voice, text))
        if pcm is not None:
            self._clips.move_to_end((voice, text))
        return pcm

    def put(self, voice: str, text: str, pcm: bytes) -> None:
        if not pcm:
            return
        self._clips[(voice, text)] = pcm
        self._clips.move_to_end((voice, text))
        while len(self._clips) > self.max_clips:
            self._clips.popitem(last=False)
