"""schemathesis against both running services' OpenAPI specs: whatever a client sends, never a 5xx, and every answer
(status, media type, body) is one the spec documents.

Its CLI runs as a subprocess (its pytest plugin does not support pytest 9 yet); a fixed seed keeps runs repeatable.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ServiceProcess, StartService

# Each run may take its 900 s, and the first test also starts the shared voice service and a main service.
pytestmark = pytest.mark.timeout(1500)

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def fuzz(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", CHECKS,
        "--max-examples", "15", "--seed", "20261125", "--generation-deterministic", "--no-shrink",
        "--workers", "1", "--request-timeout", "120",
        "--report-dir", str(tmp_path), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)


@pytest.fixture(scope="module")
def fuzzed_main(start_main_module: StartService, voice: ServiceProcess) -> ServiceProcess:
    # Rate limits would turn the burst into 429s and hide the handlers behind them; short answers keep it quick.
    return start_main_module(voice, COUNCIL_RATE_LIMIT__ENABLED="false", COUNCIL_LLM__MAX_TOKENS="4")


def test_main_service_never_answers_5xx_and_answers_as_documented(fuzzed_main: ServiceProcess, tmp_path: Path) -> None:
    result = fuzz(fuzzed_main.url, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


def test_voice_service_never_answers_5xx_and_answers_as_documented(voice: ServiceProcess, tmp_path: Path) -> None:
    result = fuzz(voice.url, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
