"""Reads `kip/schema.gsql`: its two sections and the vertex, edge and query names it declares."""

import re
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.gsql"
TYPES_MARK, QUERIES_MARK = "# ==== TYPES ====", "# ==== QUERIES ===="

_VERTEX = re.compile(r"^CREATE VERTEX (\w+) \(PRIMARY_ID (\w+) \w+((?:, \w+ [\w<>]+)*)\)", re.MULTILINE)
_EDGE = re.compile(
    r"^CREATE DIRECTED EDGE (\w+) \(FROM (\w+), TO (\w+)((?:, \w+ \w+)*)\)(?: WITH REVERSE_EDGE=\"(\w+)\")?",
    re.MULTILINE,
)
_QUERY = re.compile(r"^CREATE QUERY (\w+)\(", re.MULTILINE)


@dataclass(frozen=True)
class EdgeType:
    source: str
    target: str
    attributes: frozenset[str]


@dataclass(frozen=True)
class GraphSchema:
    """The types and queries schema.gsql declares, with the GSQL text of each section."""

    types_gsql: str
    queries_gsql: str
    vertices: dict[str, frozenset[str]] = field(default_factory=dict)  # type -> attributes (primary id included)
    edges: dict[str, EdgeType] = field(default_factory=dict)  # reverse edges included, endpoints swapped
    forward_edges: tuple[str, ...] = ()  # declared with CREATE DIRECTED EDGE (reverse edges come with them)
    queries: tuple[str, ...] = ()

    def graph_types(self) -> list[str]:
        """Every declared type, as `CREATE GRAPH` lists them."""
        return [*self.vertices, *self.forward_edges]


def _attributes(text: str) -> frozenset[str]:
    return frozenset(part.split()[0] for part in text.split(",") if part.strip())


def parse_schema(text: str) -> GraphSchema:
    types_gsql, _, queries_gsql = text.partition(QUERIES_MARK)
    types_gsql = types_gsql.partition(TYPES_MARK)[2]
    vertices = {name: _attributes(rest) | {primary} for name, primary, rest in _VERTEX.findall(types_gsql)}
    edges: dict[str, EdgeType] = {}
    forward: list[str] = []
    for name, source, target, rest, reverse in _EDGE.findall(types_gsql):
        edges[name] = EdgeType(source, target, _attributes(rest))
        forward.append(name)
        if reverse:
            edges[reverse] = EdgeType(target, source, _attributes(rest))
    return GraphSchema(
        types_gsql=types_gsql.strip(),
        queries_gsql=queries_gsql.strip(),
        vertices=vertices,
        edges=edges,
        forward_edges=tuple(forward),
        queries=tuple(_QUERY.findall(queries_gsql)),
    )


def load_schema(path: Path = SCHEMA_FILE) -> GraphSchema:
    return parse_schema(path.read_text(encoding="utf-8"))
