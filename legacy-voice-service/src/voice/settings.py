"""The voice service's one settings object, read from `VOICE_*` environment variables and `.env`."""

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(8001, ge=1, le=65535, description="TCP port of the voice service.")


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Minimum log level.")
    format: LogFormat = Field("auto", description="auto: console on a TTY, JSON otherwise; or force json/console.")


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(
        26_214_400, ge=1024, description="Largest accepted request body (uploads included) in bytes; else 413."
    )


class Settings(BaseSettings):
    """Every setting of the voice service; nested sections use `__` (e.g. VOICE_SERVER__PORT)."""

    model_config = SettingsConfigDict(
        env_prefix="VOICE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()
    limits: LimitSettings = LimitSettings()


def environment_variables() -> list[dict[str, str]]:
    """Every environment variable the settings read, with its default and meaning, as `.env.example` lists them."""
    variables: list[dict[str, str]] = []
    for section, field in Settings.model_fields.items():
        assert isinstance(field.default, BaseModel), f"settings section {section} needs a default"
        defaults = field.default.model_dump(mode="json")
        for name, info in type(field.default).model_fields.items():
            value = defaults[name]
            variables.append(
                {
                    "name": f"VOICE_{section.upper()}__{name.upper()}",
                    "default": "" if value is None else str(value),
                    "description": info.description or "",
                }
            )
    return variables


def env_example_lines() -> list[str]:
    """This service's part of `.env.example`: a comment with each variable's meaning, then NAME=default."""
    lines: list[str] = []
    for variable in environment_variables():
        lines += [f"# {variable['description']}", f"{variable['name']}={variable['default']}"]
    return lines


if __name__ == "__main__":
    print("\n".join(env_example_lines()))
