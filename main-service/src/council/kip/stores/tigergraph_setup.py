"""Set up the KIP graph on a TigerGraph server once, before the store uses it: the vertex and edge types, the graph,
and its installed queries. `python -m council.kip.stores.tigergraph_setup init` (COUNCIL_KIP__TIGERGRAPH__* settings);
`--types-exist` when another graph already created the types."""

import argparse

from council.kip.stores._gsql import GraphSchema, load_schema
from council.kip.stores._tigergraph_rows import connect
from council.settings import Settings, TigerGraphSettings


def initialize(settings: TigerGraphSettings, *, create_types: bool = True, schema: GraphSchema | None = None) -> None:
    """Create the KIP vertex and edge types (unless they exist already), the graph, and install its queries."""
    schema = schema or load_schema()
    conn = connect(settings, graph="")
    try:
        if create_types:
            conn.gsql(schema.types_gsql)
        conn.gsql(f"CREATE GRAPH {settings.graph}({', '.join(schema.graph_types())})")
        conn.gsql(f"USE GRAPH {settings.graph}\n{schema.queries_gsql}\nINSTALL QUERY ALL")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m council.kip.stores.tigergraph_setup",
        description="Set up the KIP graph on TigerGraph (COUNCIL_KIP__TIGERGRAPH__* settings).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the schema types, the graph, and install the queries")
    init.add_argument("--types-exist", action="store_true", help="the KIP types exist (adding a second graph)")
    arguments = parser.parse_args(argv)
    settings = Settings().kip.tigergraph
    initialize(settings, create_types=not arguments.types_exist)
    print(f"KIP graph {settings.graph!r} ready on {settings.host}.")


if __name__ == "__main__":
    main()
