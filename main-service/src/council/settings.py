"""The main service's one settings object, read from `COUNCIL_*` environment variables and `.env`."""

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]

# `.env.example` lists unset secrets as `NAME=`; an empty value means "not configured", not "the empty token".
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(lambda value: value or None)]


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the main service.")


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Minimum log level.")
    format: LogFormat = Field("auto", description="auto: console on a TTY, JSON otherwise; or force json/console.")


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted request body in bytes; larger bodies get 413."
    )


class VoiceClientSettings(BaseModel):
    base_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8001"), description="Base URL of the voice service."
    )
    service_token: OptionalSecret = Field(
        None, description="Bearer token sent to the voice service, when it requires one."
    )
    connect_timeout_s: float = Field(2.0, gt=0, description="TCP connect timeout for voice calls.")
    read_timeout_s: float = Field(30.0, gt=0, description="Read timeout for voice calls (transcription can be slow).")
    probe_timeout_s: float = Field(1.0, gt=0, description="Whole-request timeout of a readiness probe.")
    retry_attempts: int = Field(3, ge=1, le=10, description="Attempts for idempotent voice calls (1 = no retry).")
    breaker_failure_threshold: int = Field(
        3, ge=1, description="Consecutive failures that open the circuit breaker to the voice service."
    )
    watch_interval_s: float = Field(
        2.0, gt=0, description="Seconds between background readiness probes of the voice service."
    )
    max_connections: int = Field(20, ge=1, description="Pooled connections to the voice service.")


class Settings(BaseSettings):
    """Every setting of the main service; nested sections use `__` (e.g. COUNCIL_VOICE__BASE_URL)."""

    model_config = SettingsConfigDict(
        env_prefix="COUNCIL_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()
    limits: LimitSettings = LimitSettings()
    voice: VoiceClientSettings = VoiceClientSettings()


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
                    "name": f"COUNCIL_{section.upper()}__{name.upper()}",
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
