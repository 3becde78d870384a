"""`POST /v1/audio/vad`: the speech segments (start/end seconds) that Silero VAD finds in an uploaded file."""

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from voice.api.deps import EnginesDep, SettingsDep
from voice.api.uploads import decode_upload
from voice.errors import ModelNotFound

router = APIRouter(tags=["voice-activity"])


class SpeechSegment(BaseModel):
    start: float
    end: float


class VadResponse(BaseModel):
    duration: float
    speech_seconds: float
    segments: list[SpeechSegment]


@router.post("/v1/audio/vad", summary="Find the speech segments in an audio file")
async def detect_speech(
    engines: EnginesDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="Audio in any common container/codec.")],
) -> VadResponse:
    if engines.vad is None:
        raise ModelNotFound("Voice-activity detection is disabled on this replica (VOICE_VAD__ENABLED=false).")
    loaded = engines.vad
    engine = loaded.require_ready()
    async with loaded.job() as job:  # the decode waits in the engine's queue too (see transcriptions.py)
        audio = await decode_upload(file, engine.sample_rate, settings)
        job.audio_seconds = audio.size / engine.sample_rate
        spans = await job.call(lambda: engine.detect(audio))
    return VadResponse(
        duration=round(job.audio_seconds, 3),
        speech_seconds=round(sum(span.end - span.start for span in spans), 3),
        segments=[SpeechSegment(start=span.start, end=span.end) for span in spans],
    )
