"""Annotated dependency aliases that reach the lifespan's resources."""

from typing import Annotated

from fastapi import Depends, Request

from voice.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
