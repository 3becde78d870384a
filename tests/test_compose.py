"""docker-compose.yml is valid Compose (no Docker engine here: the JSON Schema stands in) and agrees with the code."""

import json
import re
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import ROOT

SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
SERVICES = {"main-service": ("COUNCIL_", 8000, "3.13"), "voice-service": ("VOICE_", 8001, "3.11")}
BUILD_DIRS = {"main-service": "main-service", "voice-service": "legacy-voice-service"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


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
