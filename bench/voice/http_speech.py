"""The voice service over HTTP on loopback: time to first audio byte of streamed speech against the whole
response, and transcription latency, with the service as a real process (models loaded once).

Usage: legacy-voice-service/.venv/bin/python bench/voice/http_speech.py [--rounds N]; QUICK=1: 3 rounds.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the process harness the tests use
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import summary, write_result

from servicekit import voice_process

ONE_SENTENCE = "The council approved the budget after a long debate."
PASSAGE = " ".join(
    [
        "The council met this morning to review the quarterly figures.",
        "Our analyst pointed out that spending rose faster than income.",
        "The critic asked whether the new hiring plan was really needed.",
        "After some discussion, the chair proposed a smaller first step.",
        "Everyone agreed to revisit the question at the next meeting.",
        "The treasury will publish the updated numbers on Friday.",
    ]
)


def speak(client: httpx.Client, text: str) -> tuple[float, float, float]:
    """Seconds to the first audio byte, seconds to the last, and seconds of audio (pcm: s16le mono 24 kHz)."""
    body = {"model": "tts-1", "voice": "en_US-joe-medium", "input": text, "response_format": "pcm"}
    started = time.perf_counter()
    first = 0.0
    size = 0
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if chunk and not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size / 2 / 24_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3 if os.environ.get("QUICK") == "1" else 10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        service = voice_process(Path(folder) / "voice.log", VOICE_TTS__NOISE_SCALE="0", VOICE_TTS__NOISE_W_SCALE="0")
        service.start()
        try:
            with httpx.Client(base_url=service.url, timeout=120) as client:
                speak(client, "Warm the connection.")
                results: dict[str, dict[str, object]] = {}
                for name, text in (("one_sentence", ONE_SENTENCE), ("six_sentences", PASSAGE)):
                    runs = [speak(client, text) for _ in range(args.rounds)]
                    results[f"speech_{name}"] = {
                        "first_audio_ms_median": round(1000 * statistics.median(r[0] for r in runs), 1),
                        "total_ms_median": round(1000 * statistics.median(r[1] for r in runs), 1),
                        "audio_seconds": round(runs[0][2], 2),
                        "first_audio_ms": summary([1000 * r[0] for r in runs], "ms", 1),
                        "total_ms": summary([1000 * r[1] for r in runs], "ms", 1),
                    }
                wav = client.post(
                    "/v1/audio/speech",
                    json={"voice": "en_US-joe-medium", "input": PASSAGE, "response_format": "wav"},
                ).content
                latencies = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    client.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav)}).raise_for_status()
                    latencies.append(time.perf_counter() - started)
                audio_seconds = (len(wav) - 44) / 2 / 24_000
                results["transcription"] = {
                    "audio_seconds": round(audio_seconds, 2),
                    "latency_ms_median": round(1000 * statistics.median(latencies), 1),
                    "rtf_median": round(statistics.median(latencies) / audio_seconds, 4),
                    "latency_ms": summary([1000 * x for x in latencies], "ms", 1),
                }
        finally:
            service.stop()
    write_result("voice_http", {"rounds": args.rounds, **results})


if __name__ == "__main__":
    main()
