"""Annotated dependency aliases that reach the lifespan's resources."""

from typing import Annotated

from fastapi import Depends, Request

from council.settings import Settings
from council.voice import VoiceClient


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _voice(request: Request) -> VoiceClient:
    voice: VoiceClient = request.state.voice
    return voice


SettingsDep = Annotated[Settings, Depends(_settings)]
VoiceDep = Annotated[VoiceClient, Depends(_voice)]
