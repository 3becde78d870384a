"""`POST /v1/audio/transcriptions`, OpenAI-compatible: multipart upload in, json/text/verbose_json/srt/vtt out."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from voice.api.deps import EnginesDep, SettingsDep
from voice.api.responses import TRANSCRIPTION_RESPONSES
from voice.api.uploads import decode_upload
from voice.engines.base import Transcript, TranscriptionOptions
from voice.errors import InvalidRequest

router = APIRouter(tags=["speech-to-text"])

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
Granularity = Literal["segment", "word"]


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe an audio file",
    response_class=Response,
    responses=TRANSCRIPTION_RESPONSES,
)
async def create_transcription(
    engines: EnginesDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="Audio in any common container/codec (wav, flac, mp3, ogg, webm).")],
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=2000)] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    timestamp_granularities: Annotated[list[Granularity], Form(alias="timestamp_granularities[]")] = [],  # noqa: B006  # FastAPI copies defaults per request
) -> Response:
    if timestamp_granularities and response_format != "verbose_json":
        raise InvalidRequest("timestamp_granularities[] needs response_format=verbose_json.")
    loaded = engines.transcriber(model)
    engine = loaded.require_ready()
    options = TranscriptionOptions(
        language=language or None,
        prompt=prompt or None,
        temperature=temperature,
        word_timestamps="word" in timestamp_granularities,
    )
    # Decoding is work on the engine's behalf: it waits in the engine's queue too, so a flood of uploads is a 429,
    # not as many FFmpeg decodes at once.
    async with loaded.job() as job:
        audio = await decode_upload(file, engine.sample_rate, settings)
        job.audio_seconds = audio.size / engine.sample_rate
        transcript = await job.call(lambda: engine.transcribe(audio, options))
    return render(transcript, response_format, set(timestamp_granularities))


def render(transcript: Transcript, response_format: ResponseFormat, granularities: set[str]) -> Response:
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format == "srt":
        return PlainTextResponse(_subtitles(transcript, srt=True), media_type="application/x-subrip")
    if response_format == "vtt":
        return PlainTextResponse(_subtitles(transcript, srt=False), media_type="text/vtt")
    if response_format == "json":
        return JSONResponse({"text": transcript.text})
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": transcript.language,
        "duration": transcript.duration,
        "text": transcript.text,
    }
    if granularities != {"word"}:
        body["segments"] = [
            {
                "id": segment.id,
                "seek": 0,
                "start": segment.start,
                "end": segment.end,
                "text": segment.text,
                "tokens": [],
                "temperature": segment.temperature,
                "avg_logprob": segment.avg_logprob,
                "compression_ratio": 0.0,
                "no_speech_prob": segment.no_speech_prob,
            }
            for segment in transcript.segments
        ]
    if "word" in granularities:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words]
    return JSONResponse(body)


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _subtitles(transcript: Transcript, *, srt: bool) -> str:
    separator = "," if srt else "."
    blocks = []
    for number, segment in enumerate(transcript.segments, start=1):
        timing = f"{_timestamp(segment.start, separator)} --> {_timestamp(segment.end, separator)}"
        blocks.append(f"{number}\n{timing}\n{segment.text}\n" if srt else f"{timing}\n{segment.text}\n")
    body = "\n".join(blocks)
    return body if srt else f"WEBVTT\n\n{body}"
