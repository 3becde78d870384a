"""Dependencies flow one way: every import inside `council` (run-time or under `if TYPE_CHECKING:`, absolute or
relative, at module level or inside a function) stays in its component, points down the layers, or reaches a leaf."""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "council"

LAYERS: dict[str, tuple[str, ...]] = {
    # Top first. A component (a package, or a module of its own) may import itself, any component of a lower layer
    # and any leaf; never another component of its own layer (siblings stay independent) nor anything above.
    "entry point": ("council.__main__",),
    "app": ("council.app",),
    # `evaluation` (issue 15's harness) drives turns through the orchestrator, as the routes do.
    "surfaces": ("council.api", "council.evaluation"),
    "sessions": ("council.sessions",),
    "lifespan": ("council.lifespan",),
    "middleware": ("council.ratelimit", "council.security", "council.body_limit"),
    "orchestrator": ("council.orchestrator",),
    "services": ("council.kip", "council.pheromind", "council.voice"),
    "models": ("council.llm",),
}
LEAVES: tuple[str, ...] = (
    # Anyone may import a leaf; a leaf imports only leaves (and libraries).
    "council",  # the root package itself (`__version__`), not what lies under it
    "council.settings",
    "council.errors",
    "council.http_errors",
    "council.ids",
    "council.health",
    "council.auth",
    "council.origins",
    "council.observability",
    "council.turns",
    "council.agent_events",
    "council.topics",
)
LEAF = "leaf"

_RANK: dict[str, tuple[int, str]] = {
    **{name: (0, LEAF) for name in LEAVES},
    **{name: (len(LAYERS) - i, layer) for i, (layer, names) in enumerate(LAYERS.items()) for name in names},
}


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = SRC) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        yield module_name(path, root), path


def _is_module(name: str, root: Path) -> bool:
    path = root.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(module: str, source: str, *, package: bool, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """Each `council` module the source imports, with its line. `from pkg import name` counts as `pkg.name` when
    that is a module (`from council.orchestrator import synthesis`), else as `pkg`."""
    here = module if package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):  # every node: function bodies and TYPE_CHECKING blocks included
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from . import x` is this package; each further dot one package up
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}", root) else base for a in node.names]
        else:
            continue
        for name in found:
            if name == "council" or name.startswith("council."):
                yield node.lineno, name


def component(module: str) -> str | None:
    """The table entry a module belongs to: the nearest listed package or module (the root package only itself)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in _RANK and (name != "council" or end == len(parts)):
            return name
    return None


def against_the_flow(importer: str, imported: str) -> str | None:
    """What is wrong with `importer` importing `imported`, or None when the arrow points the right way."""
    source, target = component(importer), component(imported)
    if target is None:
        return f"{importer} imports {imported}, which is in no layer"
    if source is None or source == target:
        return None  # an importer in no layer is reported once, by the test that classifies every module
    (source_rank, source_layer), (target_rank, target_layer) = _RANK[source], _RANK[target]
    if target_rank < source_rank or target_layer == source_layer == LEAF:
        return None
    why = "a sibling in its own layer" if source_rank == target_rank else "a higher layer"
    return f"{importer} (layer {source_layer}) imports {imported} (layer {target_layer}): {why}"


def violations(root: Path = SRC) -> list[str]:
    found: dict[str, None] = {}  # ordered, and `from x import a, b` reported once
    for module, path in modules(root):
        for line, imported in imports_of(module, path.read_text(), package=path.name == "__init__.py", root=root):
            if (wrong := against_the_flow(module, imported)) is not None:
                found[f"{wrong} ({path.relative_to(root.parent)}:{line})"] = None
    return list(found)


def test_every_module_is_in_a_layer_or_a_leaf() -> None:
    unplaced = [module for module, _ in modules() if component(module) is None]
    assert not unplaced, f"Add these to LAYERS or LEAVES in {Path(__file__).name}: {', '.join(unplaced)}"


def test_every_import_points_down_the_layers() -> None:
    found = violations()
    if found:
        pytest.fail("Imports against the layer order:\n" + "\n".join(found), pytrace=False)


@pytest.mark.parametrize(
    ("module", "package", "source", "expected"),
    [
        pytest.param(
            "council.kip.decisions",
            False,
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from council.orchestrator.events import X\n",
            "council.kip.decisions (layer services) imports council.orchestrator.events (layer orchestrator): "
            "a higher layer",
            id="type-checking import, upward",
        ),
        pytest.param(
            "council.orchestrator.graph",
            False,
            "def node() -> None:\n    import council.api.chat\n",
            "council.orchestrator.graph (layer orchestrator) imports council.api.chat (layer surfaces): a higher layer",
            id="function-local import, upward",
        ),
        pytest.param(
            "council.kip.decisions",
            False,
            "from ..pheromind import patterns\n",
            "council.kip.decisions (layer services) imports council.pheromind.patterns (layer services): "
            "a sibling in its own layer",
            id="relative import, sibling",
        ),
        pytest.param(
            "council.observability",
            True,
            "from ..orchestrator import Orchestrator\n",
            "council.observability (layer leaf) imports council.orchestrator (layer orchestrator): a higher layer",
            id="package init, relative, leaf upward",
        ),
        pytest.param("council.kip.tools", False, "from .stores.base import KipStore\n", None, id="own package"),
        pytest.param("council.api.chat", False, "from council.orchestrator import events\n", None, id="downward"),
        pytest.param("council.kip.runner", False, "from council.errors import CouncilError\n", None, id="to a leaf"),
        pytest.param("council.errors", False, "from council.observability import correlation\n", None, id="leaf"),
    ],
)
def test_the_check_sees_every_kind_of_import(module: str, package: bool, source: str, expected: str | None) -> None:
    found = [against_the_flow(module, imported) for _, imported in imports_of(module, source, package=package)]
    assert found == [expected]


def test_package_inits_only_re_export() -> None:
    """What a package others import builds lives in a module of its own, so importing any one of its modules (an
    event type, a protocol) runs nothing else. Surfaces and above are imported by the app alone: not checked."""
    checked = _RANK["council.orchestrator"][0]
    for module, path in modules():
        if path.name != "__init__.py" or module == "council" or _RANK[component(module) or "council"][0] > checked:
            continue  # the root holds `__version__`, read from the package metadata
        body = ast.parse(path.read_text()).body
        doc = body[:1] if body and isinstance(body[0], ast.Expr) else []
        logic = [
            f"{path.relative_to(SRC.parent)}:{node.lineno}"
            for node in body[len(doc) :]
            if not isinstance(node, ast.Import | ast.ImportFrom) and not _is_dunder_all(node)
        ]
        assert not logic, f"{module} does more than re-export: {', '.join(logic)}"


def _is_dunder_all(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]


def test_the_event_types_load_without_kip() -> None:
    """Every surface imports the turn's event types: that must not open KIP's stores, tools and treasury."""
    code = (
        "import sys, council.orchestrator.events; print(sorted(m for m in sys.modules if m.startswith('council.kip')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]"
