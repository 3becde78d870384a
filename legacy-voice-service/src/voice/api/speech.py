"""`POST /v1/audio/speech`, OpenAI-compatible: text in, audio streamed out chunk by chunk as it is synthesized."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from voice.api.deps import EnginesDep, MetricsDep, SettingsDep
from voice.api.responses import SPEECH_RESPONSES
from voice.audio import MEDIA_TYPES, OUTPUT_FORMATS, OutputFormat, StreamEncoder
from voice.engines.base import TextToSpeech
from voice.engines.loading import Job
from voice.errors import InvalidRequest, TextTooLong, UnsupportedFormat
from voice.observability.metrics import Metrics

router = APIRouter(tags=["text-to-speech"])


class SpeechRequest(BaseModel):
    model: str = Field("tts-1", description="A model id from GET /v1/models, or an OpenAI name (tts-1, ...).")
    input: str = Field(description="The text to speak.")
    voice: str = Field(description="A voice id from GET /v1/audio/voices.")
    response_format: str = Field("mp3", description="mp3, opus (Ogg), wav or pcm (raw s16le mono 24 kHz).")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate; 1 is the voice's own.")


class HeldStreamingResponse(StreamingResponse):
    """A stream that releases what it holds (the engine's queue slot) however it ends, disconnects included."""

    def __init__(self, content: AsyncIterator[bytes], media_type: str, release: Callable[[], Awaitable[None]]) -> None:
        super().__init__(content, media_type=media_type)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._release()


@router.post(
    "/v1/audio/speech",
    summary="Synthesize speech, streamed as it is produced",
    response_class=StreamingResponse,
    responses=SPEECH_RESPONSES,
)
async def create_speech(
    body: SpeechRequest, engines: EnginesDep, settings: SettingsDep, metrics: MetricsDep
) -> StreamingResponse:
    if body.response_format not in OUTPUT_FORMATS:
        raise UnsupportedFormat(
            f"response_format {body.response_format!r} is not supported; use one of {', '.join(OUTPUT_FORMATS)}."
        )
    output: OutputFormat = body.response_format  # checked against OUTPUT_FORMATS above
    text = body.input.strip()
    if not text:
        raise InvalidRequest("input is empty: give the text to speak.")
    if len(text) > settings.limits.max_text_chars:
        raise TextTooLong(
            f"input has {len(text)} characters; the limit is {settings.limits.max_text_chars} "
            "(VOICE_LIMITS__MAX_TEXT_CHARS). Split the text into several requests."
        )
    loaded = engines.synthesizer(body.model)
    voice = engines.resolve_voice(body.voice, loaded)
    engine = loaded.require_ready()
    encoder = StreamEncoder(output, engine.sample_rate)  # before the slot: if this fails, nothing is held
    # The queue slot is taken before the response starts, so a full queue is a clean 429, not a broken stream.
    # From here on only the response releases it (however the stream ends), or the except below.
    stack = AsyncExitStack()
    job = await stack.enter_async_context(loaded.job(voice=voice, chars=len(text)))
    try:
        chunks = _stream(engine, job, text, voice, body.speed, encoder, metrics)
        return HeldStreamingResponse(chunks, media_type=MEDIA_TYPES[output], release=stack.aclose)
    except BaseException:
        await stack.aclose()
        raise


async def _stream(
    engine: TextToSpeech, job: Job, text: str, voice: str, speed: float, encoder: StreamEncoder, metrics: Metrics
) -> AsyncIterator[bytes]:
    job.completed = False
    gauge = metrics.synthesis_in_progress.labels(engine.name)
    pieces_made = metrics.synthesized_pieces.labels(engine.name)
    gauge.inc()
    try:
        header = encoder.start()
        if header:
            yield header
        pieces = iter(engine.synthesize(text, voice, speed))  # each next() synthesizes one sentence or clause
        while (chunk := await job.call(lambda: next(pieces, None))) is not None:
            job.audio_seconds += chunk.size / engine.sample_rate
            pieces_made.inc()
            yield encoder.encode(chunk)
        yield encoder.finish()
        job.completed = True
    finally:
        gauge.dec()
