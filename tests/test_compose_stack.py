"""docker-compose.yml run for real: both images built, the whole stack started in containers with podman-compose.

No container registry is reachable here, so the base images are local STAND-INS built from Debian by
scripts/compose-images (python:3.13-slim, python:3.11-slim, redis:7-alpine; README, "Containers"). Everything else is
real: the Dockerfiles, the compose file, the service images, the compose network and named volumes, the published
port. Podman 4.3 schedules healthchecks with systemd timers, and there is no systemd here: the test runs each compose
healthcheck itself (`podman healthcheck run`, the check the compose file declares) at the file's own interval, as
Docker's daemon would. Container settings this machine needs are in tests/compose/, used only by this test.
"""

import io
import json
import os
import re
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import ROOT
from servicekit import free_port

# The first test also builds every image (23 min from empty caches on 2 busy cores, README "Containers").
pytestmark = pytest.mark.timeout(3600)

PROJECT = "council-compose-test"  # not the file's own name: a user's stack on this machine is never touched
OVERRIDE_TEMPLATE = ROOT / "tests" / "compose" / "test.override.yml"
CONTAINERS_CONF = ROOT / "tests" / "compose" / "containers.conf"
TOOLS = Path(os.environ.get("COUNCIL_COMPOSE_TOOLS", Path.home() / ".local" / "share" / "hybrid-council"))
PODMAN_COMPOSE = TOOLS / "podman-compose" / "bin" / "podman-compose"
SENTENCE = "The council meets this morning to discuss the harvest."


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", "", text.lower()).split()


def seconds(duration: str) -> float:
    """A compose duration such as `10s` or `2m`, in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[unit] for n, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


@dataclass
class Stack:
    """The test's compose project: podman-compose with the test's override, and the published main-service URL."""

    port: int
    env: dict[str, str]
    healthchecks: dict[str, dict[str, Any]]
    override: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(PODMAN_COMPOSE), "-p", PROJECT, "-f", "docker-compose.yml", "-f", str(self.override), *args]
        result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert not check or result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True)
        assert not check or result.returncode == 0, f"podman {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def containers(self) -> dict[str, dict[str, Any]]:
        """The project's containers by compose service name, running or not."""
        label = f"label=io.podman.compose.project={PROJECT}"
        listing = self.podman("ps", "--all", "--filter", label, "--format", "json")
        return {entry["Labels"]["com.docker.compose.service"]: entry for entry in json.loads(listing.stdout or "[]")}

    def inspect(self, service: str) -> dict[str, Any]:
        name = self.containers()[service]["Names"][0]
        state: dict[str, Any] = json.loads(self.podman("inspect", name).stdout)[0]
        return state

    def logs(self, service: str) -> str:
        name = self.containers()[service]["Names"][0]
        result = self.podman("logs", "--tail", "40", name, check=False)
        return result.stdout + result.stderr

    def wait_healthy(self, service: str) -> None:
        """Runs the service's compose healthcheck at the file's interval until podman records healthy or unhealthy."""
        interval = seconds(self.healthchecks[service].get("interval", "30s"))
        name = self.containers()[service]["Names"][0]
        while True:
            self.podman("healthcheck", "run", name, check=False)  # exit status 1 until healthy; podman keeps the record
            state = self.inspect(service)["State"]
            status = (state.get("Health") or state.get("Healthcheck") or {}).get("Status")
            if status == "healthy":
                return
            assert status != "unhealthy", f"{service} became unhealthy:\n{self.logs(service)}"
            assert state["Running"], f"{service} exited ({state['ExitCode']}):\n{self.logs(service)}"
            time.sleep(interval)

    def up(self) -> None:
        self.compose("up", "-d")
        for service in self.healthchecks:
            self.wait_healthy(service)

    def ready(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/health/ready", timeout=30).json()
        return body

    def wait_ready_check(self, check: str, status: str, within_s: float) -> dict[str, Any]:
        """Polls main's readiness until `check` reports `status`; `within_s` only keeps a broken stack from hanging."""
        deadline = time.monotonic() + within_s
        while True:
            body = self.ready()
            if body["checks"][check][0]["status"] == status or time.monotonic() > deadline:
                return body
            time.sleep(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    compose_file = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    healthchecks = {
        name: service["healthcheck"]
        for name, service in compose_file["services"].items()
        if "profiles" not in service and "healthcheck" in service
    }
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), "COMPOSE_PROJECT_NAME": PROJECT}
    port = free_port()
    # podman-compose 1.6 does not interpolate variables in values tagged !override: the port is filled in here.
    override = tmp_path_factory.mktemp("compose") / OVERRIDE_TEMPLATE.name
    override.write_text(OVERRIDE_TEMPLATE.read_text().replace("${COUNCIL_COMPOSE_TEST_PORT}", str(port)))
    # Tools, base-image stand-ins and both service images: each step is skipped when already done on this machine.
    build = subprocess.run([str(ROOT / "scripts" / "compose-images")], env=env, capture_output=True, text=True)
    assert build.returncode == 0, f"scripts/compose-images failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    stack = Stack(port, env, healthchecks, override)
    stack.compose("down", "-v")  # what a crashed earlier run may have left
    try:
        stack.up()
        yield stack
    finally:
        stack.compose("down", "-v", check=False)


def chat(stack: Stack, message: str, thread_id: str | None = None) -> dict[str, Any]:
    body = {"message": message, "path": "fast", **({"thread_id": thread_id} if thread_id else {})}
    response = httpx.post(f"{stack.url}/api/chat", json=body, timeout=300)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def speech_round_trip(stack: Stack) -> list[str]:
    """Speech synthesized and transcribed by the voice container, both through the main service's voice proxy."""
    with httpx.Client(base_url=stack.url, timeout=300) as client:
        speech = client.post("/api/voice/speak", json={"input": SENTENCE, "response_format": "wav"})
        assert speech.status_code == 200, speech.text
        with wave.open(io.BytesIO(speech.content)) as audio:
            assert audio.getnframes() > audio.getframerate()  # over a second of audio
        transcript = client.post("/api/voice/transcribe", files={"file": ("speech.wav", speech.content, "audio/wav")})
    assert transcript.status_code == 200, transcript.text
    return words(transcript.json()["text"])


def test_every_service_becomes_healthy_by_its_compose_healthcheck(stack: Stack) -> None:
    containers = stack.containers()
    assert set(containers) == {"redis", "voice-service", "main-service"}
    for service in containers:
        state = stack.inspect(service)["State"]
        assert (state.get("Health") or state.get("Healthcheck"))["Status"] == "healthy", service
    # The images run as the non-root user their Dockerfiles create.
    for service in ("main-service", "voice-service"):
        assert stack.podman("exec", containers[service]["Names"][0], "id", "-un").stdout.strip() == "app"


def test_a_chat_turn_answers_through_the_published_port(stack: Stack) -> None:
    answer = chat(stack, "Name a colour of the sky.")
    assert answer["path"] == "fast"
    assert answer["answer"].strip()


def test_main_reaches_voice_and_redis_by_their_compose_names(stack: Stack) -> None:
    checks = stack.ready()["checks"]
    assert checks["voice:ready"][0]["status"] == "pass", checks
    (pheromind,) = [check for name, check in checks.items() if name.startswith("pheromind")]
    assert pheromind[0]["status"] == "pass", checks
    assert pheromind[0]["backend"] == "redis", checks
    heard, said = speech_round_trip(stack), words(SENTENCE)
    assert len(set(heard) & set(said)) >= len(said) - 2, (heard, said)


def test_conversations_survive_down_and_up_in_the_named_volume(stack: Stack) -> None:
    thread_id = chat(stack, "Remember the word lantern.")["thread_id"]

    stack.compose("down")  # containers and network go; named volumes stay
    assert f"{PROJECT}_council-data" in stack.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    stack.up()

    response = httpx.get(f"{stack.url}/api/conversations/{thread_id}", timeout=30)
    assert response.status_code == 200, response.text
    assert "lantern" in response.text


def test_voice_stopped_text_chat_goes_on_and_voice_recovers_without_restarting_main(stack: Stack) -> None:
    main_before = stack.inspect("main-service")

    stack.compose("stop", "voice-service")
    body = stack.wait_ready_check("voice:ready", "warn", within_s=120)
    assert body["status"] == "warn", body
    assert chat(stack, "Still there without a voice?")["answer"].strip()
    speak = httpx.post(f"{stack.url}/api/voice/speak", json={"input": "Hello."}, timeout=60)
    assert speak.status_code == 503, speak.text

    stack.compose("start", "voice-service")
    stack.wait_healthy("voice-service")
    body = stack.wait_ready_check("voice:ready", "pass", within_s=120)
    assert body["status"] == "pass", body
    heard, said = speech_round_trip(stack), words(SENTENCE)
    assert len(set(heard) & set(said)) >= len(said) - 2, (heard, said)

    main_after = stack.inspect("main-service")
    assert main_after["Id"] == main_before["Id"]
    assert main_after["State"]["StartedAt"] == main_before["State"]["StartedAt"]  # not restarted


def test_down_with_volumes_leaves_nothing_behind(stack: Stack) -> None:
    stack.compose("down", "-v")

    label = f"label=io.podman.compose.project={PROJECT}"
    assert stack.podman("ps", "--all", "--quiet", "--filter", label).stdout.split() == []
    assert stack.podman("pod", "ps", "--quiet", "--filter", f"name={PROJECT}").stdout.split() == []
    volumes = stack.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    networks = stack.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert [name for name in volumes + networks if name.startswith(PROJECT)] == []
