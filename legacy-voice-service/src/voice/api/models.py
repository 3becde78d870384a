"""`GET /v1/models` (OpenAI list shape) and `GET /v1/audio/voices` (the Speaches / Kokoro-FastAPI convention)."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from voice.api.deps import EnginesDep

router = APIRouter(tags=["models"])


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "hybrid-council-voice"
    task: Literal["stt", "tts", "vad", "turn"]
    engine: str
    status: str
    default: bool
    licence: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Voice(BaseModel):
    id: str
    engine: str
    language: str
    sample_rate: int
    name: str
    role: str | None = None


class VoiceList(BaseModel):
    voices: list[Voice]


@router.get("/v1/models", summary="Models this service can run, with their state")
async def list_models(engines: EnginesDep) -> ModelList:
    return ModelList(
        data=[
            ModelCard(
                id=loaded.engine.model_id,
                task=loaded.engine.kind,
                engine=loaded.name,
                status=loaded.state.value,
                default=loaded.default,
                licence=loaded.engine.licence,
            )
            for loaded in engines.all()
        ]
    )


@router.get("/v1/audio/voices", summary="Voices of the text-to-speech engines that are ready")
async def list_voices(engines: EnginesDep) -> VoiceList:
    return VoiceList(
        voices=[
            Voice(
                id=voice.id,
                engine=voice.engine,
                language=voice.language,
                sample_rate=voice.sample_rate,
                name=voice.name,
                role=voice.extra.get("role"),
            )
            for voice in engines.voices()
        ]
    )
