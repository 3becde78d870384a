"""`python -m council.evaluation` as a user runs it: a choice of configurations that cannot run is refused at once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("arguments", "environment"),
    [(["--configurations", "council,council-whispered"], {}), ([], {"CONFIGURATIONS": "council, council-whispered"})],
)
def test_an_unknown_configuration_is_refused_with_the_known_ones_and_no_report(
    arguments: list[str], environment: dict[str, str], tmp_path: Path
) -> None:
    results = tmp_path / "results"
    # The working directory is empty, so no `.env` is read.
    done = subprocess.run(
        [sys.executable, "-m", "council.evaluation", "--limit", "1", "--results-dir", str(results), *arguments],
        cwd=tmp_path,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "unknown configuration council-whispered; choose from member:analytical" in done.stderr
    assert "council-spoken-96, self-moa" in done.stderr
    assert not results.exists()
