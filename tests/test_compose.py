"""docker-compose.yml, alone and with the scale-out override docker-compose.scale.yml, is valid Compose (no Docker
engine here: the JSON Schema stands in) and agrees with the code."""

import json
import re
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml
from council.origins import HostAllowList, host_name, is_same_origin
from council.settings import KipSettings, MemorySettings, SecuritySettings

from conftest import ROOT

SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
SERVICES = {"main-service": ("COUNCIL_", 8000, "3.13"), "voice-service": ("VOICE_", 8001, "3.11")}
BUILD_DIRS = {"main-service": "main-service", "voice-service": "legacy-voice-service"}
SCALE_FILE = ROOT / "docker-compose.scale.yml"
PROXY_TEMPLATE = "/etc/nginx/templates/default.conf.template"


class Reset:
    """What Compose's `!reset` tag loads as: the merge removes the key from the files before it."""


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it, with the `!reset` tag the scale override uses (any other tag still fails)."""


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def scale() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(SCALE_FILE.read_text(), Loader=ComposeLoader)  # noqa: S506  # SafeLoader + one tag
    return document


@pytest.fixture(scope="module")
def scaled(compose: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """`docker compose -f docker-compose.yml -f docker-compose.scale.yml config`, before interpolation."""
    return merge(compose, scale)


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge rules (reference/compose-file/merge), as far as these files use them: mappings merge by key,
    `!reset` removes, command, entrypoint and a healthcheck's test are replaced, other sequences are appended to
    (entries of ports and volumes only once)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            if isinstance(value, Reset):
                merged.pop(name, None)
            else:
                merged[name] = merge(base[name], value, name) if name in base else without_resets(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in ("command", "entrypoint", "test"):
        return base + [item for item in override if item not in base]
    return without_resets(override)


def without_resets(document: Any) -> Any:
    """The file as Compose validates it on its own: a `!reset` key is simply absent."""
    if isinstance(document, dict):
        return {name: without_resets(value) for name, value in document.items() if not isinstance(value, Reset)}
    return document


def proxy_config(scaled: dict[str, Any]) -> str:
    mounts = dict(reversed(volume.split(":")[:2]) for volume in scaled["services"]["proxy"]["volumes"])
    return (ROOT / mounts[PROXY_TEMPLATE]).read_text()


def env_example_names() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line)}


def test_compose_file_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    # The spec declares draft-07 under an https URL that jsonschema does not map, so name the draft explicitly.
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_rejects_an_invalid_file(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = {**compose, "services": {"main-service": {"ports": "8000:8000", "healthcheck": {"interval": 5}}}}
    assert not validator.is_valid(broken)


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


@pytest.mark.parametrize("name", SERVICES)
def test_ports_and_health_paths_match_the_settings(compose: dict[str, Any], name: str) -> None:
    prefix, port, _ = SERVICES[name]
    service = compose["services"][name]
    assert service["environment"][f"{prefix}SERVER__PORT"] == str(port)
    assert service["environment"][f"{prefix}SERVER__HOST"] == "0.0.0.0"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health/ready" in probe


def test_only_the_main_service_is_published_and_only_on_the_hosts_loopback(compose: dict[str, Any]) -> None:
    published = {name: service["ports"] for name, service in compose["services"].items() if "ports" in service}
    assert published == {"main-service": ["127.0.0.1:8000:8000"]}


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_compose_sets_is_a_real_setting(compose: dict[str, Any], name: str) -> None:
    prefix, _, _ = SERVICES[name]
    known = env_example_names()  # generated from the settings classes; test_env_example keeps it current
    for variable in compose["services"][name]["environment"]:
        assert variable.startswith(prefix), f"{name} sets {variable}, which is not one of its settings"
        assert variable in known, f"{name} sets {variable}, which no settings class reads"


def test_main_waits_for_redis_health_and_reaches_voice_by_service_name(compose: dict[str, Any]) -> None:
    main = compose["services"]["main-service"]
    assert main["depends_on"]["redis"]["condition"] == "service_healthy"
    assert main["environment"]["COUNCIL_VOICE__BASE_URL"] == "http://voice-service:8001"


def test_main_keeps_trails_and_rate_limits_in_the_compose_redis(compose: dict[str, Any]) -> None:
    environment = compose["services"]["main-service"]["environment"]
    assert environment["COUNCIL_PHEROMIND__BACKEND"] == "redis"
    assert environment["COUNCIL_PHEROMIND__REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["COUNCIL_RATE_LIMIT__REDIS_URL"].startswith("redis://redis:6379/")


@pytest.mark.parametrize(("name", "mount"), [("main-service", "data"), ("voice-service", ".cache")])
def test_named_volumes_mount_on_folders_the_non_root_user_creates(
    compose: dict[str, Any], name: str, mount: str
) -> None:
    # A named volume takes the owner of the image folder it mounts on; one the image lacks is created root-owned.
    assert f"/home/app/{mount}" in [volume.split(":")[1] for volume in compose["services"][name]["volumes"]]
    dockerfile = (ROOT / BUILD_DIRS[name] / "Dockerfile").read_text()
    assert dockerfile.index("USER app") < dockerfile.index(f"RUN mkdir {mount}")


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfiles_use_the_pinned_python(compose: dict[str, Any], name: str) -> None:
    _, port, python = SERVICES[name]
    build_dir = ROOT / BUILD_DIRS[name]
    assert compose["services"][name]["build"] == f"./{BUILD_DIRS[name]}"
    dockerfile = (build_dir / "Dockerfile").read_text()
    assert f"FROM python:{python}-slim" in dockerfile
    assert f"EXPOSE {port}" in dockerfile


def test_profiles_offer_an_llm_server_and_tigergraph(compose: dict[str, Any]) -> None:
    assert compose["services"]["ollama"]["profiles"] == ["ollama"]
    assert compose["services"]["tigergraph"]["profiles"] == ["tigergraph"]


def test_env_example_lists_exactly_the_settings_of_both_services() -> None:
    result = subprocess.run([str(ROOT / "scripts" / "env-example"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_setup_is_up_to_date_after_make_test_set_it_up() -> None:
    # `make -q` exits 0 only when no recipe would run: a second `make test` reinstalls nothing.
    for target in ("setup", "setup-nemo"):
        result = subprocess.run(["make", "-q", target], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"make {target} would run again although nothing changed"


# ---- docker-compose.scale.yml: many main replicas behind a proxy, sharing PostgreSQL and Redis ----


def test_scale_override_and_the_merged_stack_validate_against_the_compose_spec(
    scale: dict[str, Any], scaled: dict[str, Any]
) -> None:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    for document in (without_resets(scale), scaled):
        errors = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(document)]
        assert errors == []


def test_the_merge_helper_follows_composes_rules() -> None:
    base = {"s": {"ports": ["1:1"], "command": ["a"], "environment": {"A": "1"}, "volumes": ["v:/x"]}}
    override = {"s": {"ports": Reset(), "command": ["b"], "environment": {"B": "2"}, "volumes": ["v:/x", "w:/y"]}}
    assert merge(base, override) == {
        "s": {"command": ["b"], "environment": {"A": "1", "B": "2"}, "volumes": ["v:/x", "w:/y"]}
    }


def test_scaled_main_publishes_no_port_and_the_proxy_takes_the_loopback_one(scaled: dict[str, Any]) -> None:
    published = {name: service["ports"] for name, service in scaled["services"].items() if "ports" in service}
    assert published == {"proxy": ["127.0.0.1:8000:8000"]}


def test_replicas_share_no_volume(scaled: dict[str, Any]) -> None:
    # With both stores in PostgreSQL nothing in data/ is shared state; a shared volume would let a forgotten setting
    # fall back to one SQLite file under several writers, and replicas would re-quantize the model into one folder
    # at once (each container's main process has the same PID, which names the partial file).
    assert "volumes" not in scaled["services"]["main-service"]


def test_every_variable_the_override_sets_on_main_is_a_real_setting(scale: dict[str, Any]) -> None:
    known = env_example_names()
    environment = scale["services"]["main-service"]["environment"]
    for variable in environment:
        if variable == "FORWARDED_ALLOW_IPS":  # uvicorn's own, read from the environment by `uvicorn.run`
            continue
        assert variable.startswith("COUNCIL_"), f"the override sets {variable}, which is not one of main's settings"
        assert variable in known, f"the override sets {variable}, which no settings class reads"


def test_scaled_main_keeps_memory_and_kip_in_the_compose_postgres(scaled: dict[str, Any]) -> None:
    environment = scaled["services"]["main-service"]["environment"]
    postgres = scaled["services"]["postgres"]["environment"]
    assert environment["COUNCIL_MEMORY__BACKEND"] == "postgres"
    assert environment["COUNCIL_KIP__STORE"] == "postgres"
    user, database = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    url = re.compile(rf"postgresql://{user}:\$\{{POSTGRES_PASSWORD(:\?[^}}]*)?\}}@postgres:5432/{database}")
    for variable in ("COUNCIL_MEMORY__POSTGRES_URL", "COUNCIL_KIP__POSTGRES_URL"):
        assert url.fullmatch(environment[variable]), environment[variable]
    # Pheromind, the answer cache and rate limits stay in the compose Redis of the base file.
    assert environment["COUNCIL_PHEROMIND__BACKEND"] == "redis"
    assert environment["COUNCIL_RATE_LIMIT__REDIS_URL"].startswith("redis://redis:6379/")


def test_the_postgres_password_comes_from_the_environment_and_is_required(scale: dict[str, Any]) -> None:
    # `${VAR:?message}`: Compose refuses to start without it rather than run PostgreSQL with an empty password.
    assert re.fullmatch(
        r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", scale["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )


def test_postgres_is_the_official_image_on_a_named_volume_and_main_waits_for_it(scaled: dict[str, Any]) -> None:
    postgres = scaled["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    volume, mount = postgres["volumes"][0].split(":")
    assert (volume, mount) == ("postgres-data", "/var/lib/postgresql/data")
    assert volume in scaled["volumes"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "ports" not in postgres
    depends_on = scaled["services"]["main-service"]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_every_service_of_the_scaled_stack_has_a_healthcheck(scaled: dict[str, Any]) -> None:
    for name, service in scaled["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert scaled["services"]["proxy"]["depends_on"]["main-service"]["condition"] == "service_healthy"


def test_postgres_accepts_the_connections_of_several_replicas(scaled: dict[str, Any]) -> None:
    # Per replica: the checkpointer's pool (psycopg_pool's default of 4), the KIP store's and the turn locks'.
    per_replica = 4 + KipSettings().postgres_pool_size + MemorySettings().lock_pool_size
    command = scaled["services"]["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].removeprefix("max_connections="))
    assert max_connections >= 5 * per_replica


def test_proxy_round_robins_over_the_main_service_by_its_compose_name(scaled: dict[str, Any]) -> None:
    config = proxy_config(scaled)
    _, port, _ = SERVICES["main-service"]
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", config, re.DOTALL)
    assert upstream is not None
    name, body = upstream.groups()
    # One server entry by the service name, which the compose DNS answers with every replica's address; `resolve`
    # follows replicas as they come and go, and needs the shared zone and a resolver.
    assert re.findall(r"^\s*server (\S+)(.*);", body, re.MULTILINE) == [(f"main-service:{port}", " resolve")]
    assert re.search(r"^\s*zone \w+ \d+k;", body, re.MULTILINE)
    assert "resolver ${NGINX_LOCAL_RESOLVERS}" in config
    assert not re.search(r"\b(ip_hash|hash|sticky)\b", body), "no sticky sessions are needed"
    assert f"proxy_pass http://{name};" in config
    assert scaled["services"]["proxy"]["environment"]["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"] == "1"
    assert scaled["services"]["proxy"]["image"].startswith("nginx:")


def test_proxy_upgrades_websockets(scaled: dict[str, Any]) -> None:
    config = proxy_config(scaled)
    assert "proxy_http_version 1.1;" in config
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "proxy_set_header Connection $connection_upgrade;" in config
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", config)


def test_proxy_passes_the_browsers_host_so_the_host_and_origin_checks_accept_it(scaled: dict[str, Any]) -> None:
    config = proxy_config(scaled)
    assert "proxy_set_header Host $http_host;" in config
    # Why $http_host and not $host: nginx's $host drops the port, and the WebSocket origin check (same origin =
    # same host and port) would then refuse the web UI's own socket.
    origin = "http://127.0.0.1:8000"
    assert is_same_origin(origin, "127.0.0.1:8000")  # what $http_host forwards
    assert not is_same_origin(origin, "127.0.0.1")  # what $host would
    assert HostAllowList(SecuritySettings().allowed_hosts).allows(host_name("127.0.0.1:8000"))


def test_proxy_overwrites_the_forwarded_address_main_trusts(scaled: dict[str, Any]) -> None:
    # Main trusts X-Forwarded-For from anyone on the compose network and keys rate limits by it: the proxy must
    # send the peer's address alone, not append it to whatever the client sent.
    config = proxy_config(scaled)
    assert scaled["services"]["main-service"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config
    assert "$proxy_add_x_forwarded_for" not in config
