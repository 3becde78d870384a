"""A STAND-IN for a TigerGraph server (no TigerGraph can run here), serving only what the KIP store uses.

It is a real HTTP server (Starlette under uvicorn) speaking TigerGraph 4's single-port layout:
- GSQL `POST /gsql/v1/statements`: CREATE VERTEX / CREATE DIRECTED EDGE (server-global types), CREATE GRAPH,
  and `USE GRAPH …` + CREATE QUERY + INSTALL QUERY ALL for the queries in `kip/schema.gsql`;
- REST++ `GET /restpp/echo`, `POST /restpp/graph/{graph}` (upsert: overwrite and `add` ops, `vertex_must_exist`,
  missing endpoint vertices created with default values), `GET /restpp/graph/{graph}/vertices/{type}[/{id}]`,
  `POST /restpp/query/{graph}/{query}` (JSON parameters, strings URL-decoded as TigerGraph does).
Everything written is checked against the declared types: an upsert or INSERT into a type or attribute that
`schema.gsql` does not declare is an error, as on a real server. The installed queries are Python renderings of
the GSQL in schema.gsql — the stand-in does NOT compile or run GSQL. Requests are served concurrently, each one
transaction (all or nothing) isolated no more than read-committed allows (see Transaction), as TigerGraph
documents its own; nothing serializes them, so what keeps the KIP invariants here is the store's writer lock;
see docs/kip.md.
"""

import asyncio
import base64
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

type Json = dict[str, Any]
DEFAULTS = {"STRING": "", "INT": 0, "BOOL": False}
PYTHON_TYPES: dict[str, tuple[type, ...]] = {"STRING": (str,), "INT": (int,), "BOOL": (bool,)}


def _check_values(kind: str, type_name: str, values: Json, declared: dict[str, str]) -> None:
    for name, value in values.items():
        if name not in declared:
            raise GraphError(f"Attribute {name} is not declared for {kind} type {type_name}.", "REST-30200")
        if not isinstance(value, PYTHON_TYPES[declared[name]]) or (declared[name] == "INT" and isinstance(value, bool)):
            raise GraphError(f"{type_name}.{name} is {declared[name]}, got {value!r}.", "REST-30200")


_VERTEX = re.compile(r"^CREATE VERTEX (\w+) \(PRIMARY_ID (\w+) (\w+)((?:, \w+ \w+)*)\)", re.MULTILINE)
_EDGE = re.compile(
    r"^CREATE DIRECTED EDGE (\w+) \(FROM (\w+), TO (\w+)((?:, \w+ \w+)*)\)(?: WITH REVERSE_EDGE=\"(\w+)\")?",
    re.MULTILINE,
)


@dataclass
class Hold:
    """Keeps the next call of one installed query in flight (before it runs) until the test sets `released`, and
    notes every request that reaches the server meanwhile: a test's view of a request that has not ended yet."""

    graph: str
    query: str
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    overlapped: threading.Event = field(default_factory=threading.Event)  # set at the first request meanwhile
    meanwhile: list[str] = field(default_factory=list)

    def in_flight(self) -> bool:
        return self.arrived.is_set() and not self.finished.is_set()


class GraphError(Exception):
    def __init__(self, message: str, code: str = "REST-30000") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Catalog:
    """Server-global types, as CREATE VERTEX / CREATE DIRECTED EDGE declared them (attribute -> GSQL type)."""

    vertex_attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    primary: dict[str, str] = field(default_factory=dict)
    edge_attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: dict[str, tuple[str, str]] = field(default_factory=dict)  # edge type -> (from type, to type)
    reverse: dict[str, str] = field(default_factory=dict)  # forward edge -> its reverse edge

    def add(self, gsql: str) -> list[str]:
        vertices, edges = _VERTEX.findall(gsql), _EDGE.findall(gsql)
        names = [v[0] for v in vertices] + [e[0] for e in edges] + [e[4] for e in edges if e[4]]
        clashes = [name for name in names if name in self.vertex_attrs or name in self.edges]
        if clashes:
            return [f"Failed to create vertex types: {clashes} already exist."]
        for name, primary, primary_type, rest in vertices:
            self.primary[name] = primary
            self.vertex_attrs[name] = {primary: primary_type} | _typed(rest)
        for name, source, target, rest, reverse in edges:
            self.edges[name], self.edge_attrs[name] = (source, target), _typed(rest)
            if reverse:
                self.reverse[name] = reverse
                self.edges[reverse], self.edge_attrs[reverse] = (target, source), _typed(rest)
        return [
            f"Successfully created vertex types: [{', '.join(v[0] for v in vertices)}].",
            f"Successfully created edge types: [{', '.join(e[0] for e in edges)}].",
        ]


def _typed(text: str) -> dict[str, str]:
    return {part.split()[0]: part.split()[1] for part in text.split(",") if part.strip()}


type VertexKey = tuple[str, str]  # (vertex type, id)
type EdgeKey = tuple[str, str, str]  # (edge type, from id, to id)


@dataclass
class Graph:
    """One graph's committed state. No request changes it in place: each runs on its own `Transaction`, begun from
    it and committed back whole. Committing replaces a changed vertex's dict, so a begun view is never changed."""

    catalog: Catalog
    types: set[str]
    queries: dict[str, set[str]] = field(default_factory=dict)  # installed query -> its parameter names
    vertices: dict[str, dict[str, Json]] = field(default_factory=dict)
    edges: dict[EdgeKey, Json] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # every vertex and edge type a committed write touched

    def begin(self) -> "Transaction":
        return Transaction(self, {kind: dict(by_id) for kind, by_id in self.vertices.items()}, dict(self.edges))

    def commit(self, txn: "Transaction") -> None:
        """Apply what `txn` changed, attribute by attribute over what is committed by now: the last writer wins."""
        for vertex_type, vertex_id in txn.deleted:
            self.vertices.get(vertex_type, {}).pop(vertex_id, None)
        for (vertex_type, vertex_id), value in txn.working.items():
            store = self.vertices.setdefault(vertex_type, {})
            before, now = txn.original[(vertex_type, vertex_id)], store.get(vertex_id)
            changes = {name: v for name, v in value.items() if before is None or before[name] != v}
            for name, delta in txn.added.get((vertex_type, vertex_id), {}).items():
                changes[name] = (value[name] - delta if now is None else now[name]) + delta
            if changes:
                store[vertex_id] = {**(now or value), **changes}
        for key in txn.deleted_edges:
            self.edges.pop(key, None)
        self.edges |= txn.new_edges
        self.written |= txn.written


@dataclass
class Transaction:
    """One request on a graph, run as TigerGraph runs an installed query or a REST++ request: as ONE transaction,
    all or nothing (a request that fails commits nothing), isolated at read-committed. The stand-in makes the
    isolation as weak as read-committed lets it be: the request reads the state committed when it began (never a
    concurrent request's uncommitted writes, but no lock on what it read either), and its writes reach the graph at
    its end over whatever committed meanwhile. Two concurrent requests that read one balance both debit it: a lost
    update, which read-committed allows and the store's writer lock exists to prevent."""

    graph: Graph
    base_vertices: dict[str, dict[str, Json]]
    base_edges: dict[EdgeKey, Json]
    working: dict[VertexKey, Json] = field(default_factory=dict)  # this request's copies of what it read or wrote
    original: dict[VertexKey, Json | None] = field(default_factory=dict)  # each as begun; None: it did not exist
    deleted: set[VertexKey] = field(default_factory=set)
    added: dict[VertexKey, dict[str, Any]] = field(default_factory=dict)  # `add` ops: applied to the committed value
    new_edges: dict[EdgeKey, Json] = field(default_factory=dict)
    deleted_edges: set[EdgeKey] = field(default_factory=set)
    written: set[str] = field(default_factory=set)

    # ---- writes (validated against the catalog) --------------------------------------------------------
    def check_vertex_type(self, vertex_type: str) -> dict[str, str]:
        if vertex_type not in self.graph.types or vertex_type not in self.graph.catalog.vertex_attrs:
            raise GraphError(f"The vertex type {vertex_type} is not declared in graph.", "REST-30200")
        return self.graph.catalog.vertex_attrs[vertex_type]

    def upsert_vertex(self, vertex_type: str, vertex_id: str, values: Json, ops: dict[str, str] | None = None) -> None:
        declared = self.check_vertex_type(vertex_type)
        _check_values("vertex", vertex_type, values, declared)
        self.written.add(vertex_type)
        vertex = self.get(vertex_type, vertex_id)
        if vertex is None:
            key = (vertex_type, vertex_id)
            vertex = {name: DEFAULTS[kind] for name, kind in declared.items()}
            vertex[self.graph.catalog.primary[vertex_type]] = vertex_id
            self.working[key], self.original[key] = vertex, None
            self.deleted.discard(key)
        for name, value in values.items():
            if (ops or {}).get(name, "overwrite") == "add":
                vertex[name] += value
                added = self.added.setdefault((vertex_type, vertex_id), {})
                added[name] = added.get(name, 0) + value
            else:
                vertex[name] = value

    def insert_vertex(self, vertex_type: str, values: list[Any]) -> None:
        declared = self.check_vertex_type(vertex_type)
        if len(values) != len(declared):
            raise GraphError(f"INSERT INTO {vertex_type} expects {len(declared)} values.")
        self.upsert_vertex(vertex_type, values[0], dict(zip(list(declared)[1:], values[1:], strict=True)))

    def upsert_edge(
        self,
        edge_type: str,
        from_id: str,
        to_id: str,
        values: Json,
        *,
        must_exist: bool = False,
        ends: tuple[str, str] | None = None,
    ) -> bool:
        catalog = self.graph.catalog
        if edge_type not in self.graph.types or edge_type not in catalog.edges:
            raise GraphError(f"The edge type {edge_type} is not declared in graph.", "REST-30200")
        _check_values("edge", edge_type, values, catalog.edge_attrs[edge_type])
        source, target = catalog.edges[edge_type]
        if ends is not None and ends != (source, target):
            raise GraphError(f"{edge_type} goes from {source} to {target}, not {ends[0]} to {ends[1]}.", "REST-30200")
        for vertex_type, vertex_id in ((source, from_id), (target, to_id)):
            if self.get(vertex_type, vertex_id) is None:
                if must_exist:
                    return False
                self.upsert_vertex(vertex_type, vertex_id, {})
        self.written.add(edge_type)
        keys = [(edge_type, from_id, to_id)]
        if reverse := catalog.reverse.get(edge_type):
            keys.append((reverse, to_id, from_id))
        for key in keys:
            self.new_edges[key] = dict(values)
            self.deleted_edges.discard(key)
        return True

    def delete_vertex(self, vertex_type: str, vertex_id: str) -> None:
        """Delete the vertex and its edges: those whose end of its type is this id (another type's vertex may have
        the same id, e.g. an Account and a Conversation both named `treasury`; its edges stay)."""
        if self.get(vertex_type, vertex_id) is not None:
            del self.working[(vertex_type, vertex_id)]
            self.deleted.add((vertex_type, vertex_id))
        ends = self.graph.catalog.edges
        for key in [*self.base_edges, *self.new_edges]:
            source, target = ends[key[0]]
            if (source, key[1]) == (vertex_type, vertex_id) or (target, key[2]) == (vertex_type, vertex_id):
                self.new_edges.pop(key, None)
                self.deleted_edges.add(key)

    # ---- reads (this request's own writes included) ----------------------------------------------------
    def all(self, vertex_type: str) -> list[Json]:
        self.check_vertex_type(vertex_type)
        ids = [*self.base_vertices.get(vertex_type, {})]
        ids += [key[1] for key in self.working if key[0] == vertex_type and key[1] not in ids]
        return [vertex for vertex_id in ids if (vertex := self.get(vertex_type, vertex_id)) is not None]

    def get(self, vertex_type: str, vertex_id: str) -> Json | None:
        """This request's copy of the vertex, which it may change in place (committed at its end)."""
        key = (vertex_type, vertex_id)
        if key in self.working or key in self.deleted:
            return self.working.get(key)
        committed = self.base_vertices.get(vertex_type, {}).get(vertex_id)
        if committed is None:
            return None
        self.working[key], self.original[key] = dict(committed), committed
        return self.working[key]

    def out(self, edge_type: str, from_id: str) -> list[tuple[str, Json]]:
        found = {key: values for key, values in self.base_edges.items() if key[:2] == (edge_type, from_id)}
        found |= {key: values for key, values in self.new_edges.items() if key[:2] == (edge_type, from_id)}
        return [(key[2], values) for key, values in found.items() if key not in self.deleted_edges]


def vertex_out(vertex_type: str, attrs: Json, accums: Json | None = None) -> Json:
    return {"v_id": next(iter(attrs.values())), "v_type": vertex_type, "attributes": dict(attrs) | (accums or {})}


# ---- installed queries: Python renderings of the GSQL in schema.gsql -------------------------------------
def _spent_since(g: Transaction, account: str, day_start: str) -> int:
    """What `account` paid out since `day_start`, as the queries sum DEBITED_BY edges against a daily cap."""
    return sum(
        edge["amount"]
        for txn_id, edge in g.out("DEBITED_BY", account)
        if (g.get("LedgerTxn", txn_id) or {}).get("created_at", "") >= day_start
    )


def kip_post(g: Transaction, p: Json) -> list[Json]:
    status, detail, original, seq = "", "", "", 0
    source, target, amount = p["source"], p["target"], p["amount"]
    if p["idempotency_key"]:
        for txn_id, _ in g.out("KEYS", p["idempotency_key"]):
            txn = g.get("LedgerTxn", txn_id)
            assert txn is not None
            original, detail = txn["id"], txn["fingerprint"]
            status = "replayed" if detail == p["fingerprint"] else "key_reused"
    if not status:
        parties = [a for a in g.all("Account") if a["id"] in (source, target)]
        balance = sum(a["balance"] for a in parties if a["id"] == source)
        if (source and target and len(parties) < 2) or ((not source or not target) and len(parties) < 1):
            status = "unknown_account"
        elif source and balance < amount:
            status, detail = "insufficient_funds", str(balance)
    if not status and p["daily_cap"] >= 0 and source != "treasury":
        spent = _spent_since(g, source, p["day_start"])
        if spent + amount > p["daily_cap"]:
            status, detail = "budget_exceeded", str(spent)
    if not status:
        ledger = g.get("Ledger", "ledger")
        assert ledger is not None
        seq = ledger["last_seq"] + 1
        ledger["last_seq"] = seq
        ledger["supply"] += amount if p["kind"] == "mint" else -amount if p["kind"] == "burn" else 0
        txn_id = p["txn_id"]
        g.insert_vertex(
            "LedgerTxn",
            [
                txn_id,
                seq,
                p["kind"],
                amount,
                source,
                target,
                p["reason"],
                p["idempotency_key"],
                p["fingerprint"],
                p["request_id"],
                p["created_at"],
            ],
        )
        if p["idempotency_key"]:
            g.insert_vertex("IdempotencyKey", [p["idempotency_key"], txn_id])
            g.upsert_edge("KEYS", p["idempotency_key"], txn_id, {})
        for account in g.all("Account"):
            if account["id"] == source:
                account["balance"] -= amount
            if account["id"] == target:
                account["balance"] += amount
        if source:
            g.upsert_edge("DEBITS", txn_id, source, {"amount": amount})
        if target:
            g.upsert_edge("CREDITS", txn_id, target, {"amount": amount})
        status, original = "ok", txn_id
    return [{"status": status, "detail": detail, "txn_id": original, "seq": seq}]


def kip_start_tool_call(g: Transaction, p: Json) -> list[Json]:
    status, detail, original = "", "", ""
    agent_id, cost, key, txn_id = p["agent_id"], p["cost"], p["call_key"], p["txn_id"]
    if key:
        for call_id, _ in g.out("KEYS_CALL", key):
            status, original = "replayed", call_id
    if not status and cost > 0 and key and g.get("IdempotencyKey", key) is not None:
        status = "key_reused"
    parties = [a for a in g.all("Account") if a["id"] in (agent_id, "treasury")]
    balance = sum(a["balance"] for a in parties if a["id"] == agent_id)
    if not status:
        if len(parties) < 2:
            status = "unknown_account"
        elif balance < cost:
            status, detail = "insufficient_funds", str(balance)
    if not status and cost > 0 and p["daily_cap"] >= 0:
        spent = _spent_since(g, agent_id, p["day_start"])
        if spent + cost > p["daily_cap"]:
            status, detail = "budget_exceeded", str(spent)
    if not status and cost > 0:
        ledger = g.get("Ledger", "ledger")
        assert ledger is not None
        ledger["last_seq"] += 1
        g.insert_vertex(
            "LedgerTxn",
            [
                txn_id,
                ledger["last_seq"],
                "charge",
                cost,
                agent_id,
                "treasury",
                p["reason"],
                key,
                p["fingerprint"],
                p["request_id"],
                p["created_at"],
            ],
        )
        if key:
            g.insert_vertex("IdempotencyKey", [key, txn_id])
            g.upsert_edge("KEYS", key, txn_id, {})
        for account in parties:
            account["balance"] += -cost if account["id"] == agent_id else cost
        g.upsert_edge("DEBITS", txn_id, agent_id, {"amount": cost})
        g.upsert_edge("CREDITS", txn_id, "treasury", {"amount": cost})
    if not status:
        call_id, tool = p["call_id"], p["tool"]
        record = [call_id, agent_id, tool, False, cost, txn_id, p["created_at"], key, p["call_fingerprint"]]
        g.insert_vertex("ToolCall", [*record, "running", "", "{}", balance - cost])
        g.insert_vertex("Tool", [tool])
        g.upsert_edge("CALLED", agent_id, call_id, {})
        g.upsert_edge("OF_TOOL", call_id, tool, {})
        if cost > 0:
            g.upsert_edge("PAID_BY", call_id, txn_id, {})
        if key:
            g.insert_vertex("ToolCallKey", [key, call_id])
            g.upsert_edge("KEYS_CALL", key, call_id, {})
        status, original = "ok", call_id
    return [{"status": status, "detail": detail, "call_id": original, "balance": balance - cost}]


def kip_create_agent(g: Transaction, p: Json) -> list[Json]:
    if any(n["name_key"] == p["name_key"] for n in g.all("AgentName")):
        return [{"status": "name_taken"}]
    g.insert_vertex("Account", [p["agent_id"], "agent", 0])
    g.insert_vertex(
        "Agent",
        [
            p["agent_id"],
            p["name"],
            p["role"],
            p["capabilities"],
            "active",
            p["per_call_cap"],
            p["daily_cap"],
            p["changed_at"],
            p["changed_at"],
        ],
    )
    g.insert_vertex("AgentName", [p["name_key"], p["agent_id"]])
    g.upsert_edge("HOLDS", p["agent_id"], p["agent_id"], {})
    g.upsert_edge("NAMES", p["name_key"], p["agent_id"], {})
    return [{"status": "ok"}]


def kip_update_agent(g: Transaction, p: Json) -> list[Json]:
    agent = g.get("Agent", p["agent_id"])
    if agent is None:
        return [{"status": "unknown_agent"}]
    if any(n["name_key"] == p["name_key"] and n["agent_id"] != p["agent_id"] for n in g.all("AgentName")):
        return [{"status": "name_taken"}]
    if p["name_key"] != p["old_name_key"]:
        g.delete_vertex("AgentName", p["old_name_key"])
        g.insert_vertex("AgentName", [p["name_key"], p["agent_id"]])
        g.upsert_edge("NAMES", p["name_key"], p["agent_id"], {})
    for name in ("name", "role", "capabilities", "status", "per_call_cap", "daily_cap"):
        agent[name] = p[name]
    agent["updated_at"] = p["changed_at"]
    return [{"status": "ok"}]


def kip_transactions(g: Transaction, p: Json) -> list[Json]:
    txns = [
        t
        for t in g.all("LedgerTxn")
        if t["seq"] > p["after"]
        and p["txn_id"] in ("", t["id"])
        and p["kind"] in ("", t["kind"])
        and (not p["since"] or t["created_at"] >= p["since"])
        and (not p["until"] or t["created_at"] < p["until"])
        and p["account"] in ("", t["source"], t["target"])
    ]
    txns = sorted(txns, key=lambda t: t["seq"])[: p["lim"]]
    out = []
    for t in txns:
        legs = [
            f"{side}|{account}|{edge['amount']}"
            for side, kind in (("debit", "DEBITS"), ("credit", "CREDITS"))
            for account, edge in g.out(kind, t["id"])
        ]
        out.append(vertex_out("LedgerTxn", t, {"@legs": legs}))
    return [{"Txns": out}]


def kip_activity(g: Transaction, p: Json) -> list[Json]:
    out = []
    for agent in g.all("Agent"):
        acc = {"@spent": 0, "@earned": 0, "@funded": 0, "@calls": 0, "@successes": 0}
        for account, _ in g.out("HOLDS", agent["id"]):
            for txn_id, edge in g.out("DEBITED_BY", account):
                if (g.get("LedgerTxn", txn_id) or {})["created_at"] >= p["since"]:
                    acc["@spent"] += edge["amount"]
            for txn_id, edge in g.out("CREDITED_BY", account):
                txn = g.get("LedgerTxn", txn_id) or {}
                if txn["created_at"] >= p["since"]:
                    acc["@earned" if txn["kind"] == "reward" else "@funded"] += edge["amount"]
        for call_id, _ in g.out("CALLED", agent["id"]):
            call = g.get("ToolCall", call_id) or {}
            if call["created_at"] >= p["since"]:
                acc["@calls"] += 1
                acc["@successes"] += 1 if call["ok"] else 0
        out.append(vertex_out("Agent", agent, acc))
    return [{"Agents": out}]


def _like(value: str, pattern: str) -> bool:
    regex, chars = "", iter(pattern)
    for char in chars:
        if char == "\\":
            regex += re.escape(next(chars, ""))
        else:
            regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def kip_knowledge(g: Transaction, p: Json) -> list[Json]:
    items = [
        k
        for k in g.all("Knowledge")
        if (not p["pattern"] or _like(k["topic"].lower(), p["pattern"]) or _like(k["content"].lower(), p["pattern"]))
        and p["topic_key"] in ("", k["topic"].lower())
        and p["kind"] in ("", k["kind"])
        and p["source"] in ("", k["source"])
        and p["agent_id"] in ("", k["agent_id"])
    ]
    items.sort(key=lambda k: k["id"])
    items.sort(key=lambda k: k["created_at"], reverse=True)
    return [{"Items": [vertex_out("Knowledge", k) for k in items[: p["lim"]]]}]


def kip_conversation(g: Transaction, p: Json) -> list[Json]:
    conversation = g.get("Conversation", p["thread_id"])
    if conversation is None:
        return [{"Convs": [], "Messages": [], "Derived": []}]
    messages = []
    for message_id, _ in g.out("HAS_MESSAGE", p["thread_id"]):
        decided = [knowledge_id for knowledge_id, _ in g.out("DECIDED", message_id)]
        messages.append(vertex_out("Message", g.get("Message", message_id) or {}, {"@decided": decided}))
    derived = [vertex_out("Knowledge", g.get("Knowledge", k) or {}) for k, _ in g.out("GAVE", p["thread_id"])]
    return [{"Convs": [vertex_out("Conversation", conversation)], "Messages": messages, "Derived": derived}]


def kip_delete_conversation(g: Transaction, p: Json) -> list[Json]:
    thread_id = p["thread_id"]
    if g.get("Conversation", thread_id) is None:
        return [{"deleted": 0}]
    doomed = [("Message", m) for m, _ in g.out("HAS_MESSAGE", thread_id)]
    doomed += [("Knowledge", k) for k, _ in g.out("GAVE", thread_id)]
    for vertex_type, vertex_id in [*doomed, ("Conversation", thread_id)]:
        g.delete_vertex(vertex_type, vertex_id)
    return [{"deleted": len(doomed) + 1}]


QUERIES: dict[str, Callable[[Transaction, Json], list[Json]]] = {
    "kip_post": kip_post,
    "kip_start_tool_call": kip_start_tool_call,
    "kip_create_agent": kip_create_agent,
    "kip_update_agent": kip_update_agent,
    "kip_transactions": kip_transactions,
    "kip_activity": kip_activity,
    "kip_knowledge": kip_knowledge,
    "kip_conversation": kip_conversation,
    "kip_delete_conversation": kip_delete_conversation,
}


# ---- the HTTP server ---------------------------------------------------------------------------------------
class TigerGraphStandIn:
    def __init__(self, *, username: str = "tigergraph", password: str = "standin-secret") -> None:  # noqa: S107
        self.username, self.password = username, password
        self.catalog = Catalog()
        self.graphs: dict[str, Graph] = {}
        self.requests: list[str] = []  # "METHOD path" of every request, for tests
        self.in_flight = self.peak_in_flight = 0  # requests begun and not yet ended: the server's concurrency
        self._holds: list[Hold] = []
        self.app = Starlette(
            routes=[
                Route("/gsql/v1/statements", self.statements, methods=["POST"]),
                Route("/restpp/echo", self.echo, methods=["GET", "POST"]),
                Route("/restpp/graph/{graph}", self.upsert, methods=["POST"]),
                Route("/restpp/graph/{graph}/vertices/{vertex_type}", self.vertices, methods=["GET"]),
                Route("/restpp/graph/{graph}/vertices/{vertex_type}/{vertex_id}", self.vertices, methods=["GET"]),
                Route("/restpp/query/{graph}/{query}", self.query, methods=["POST"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        sock = socket.socket()
        # Responses go out as header + body writes: without NODELAY, Nagle meets delayed ACK (40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="none")
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # uvicorn offers no start event to wait on
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("The TigerGraph stand-in did not start.")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)

    @property
    def host(self) -> str:
        return "http://127.0.0.1"

    def hold(self, graph: str, query: str) -> Hold:
        """Hold the next call of installed query `query` on `graph` until `released` is set (at most 30 s)."""
        hold = Hold(graph, query)
        self._holds.append(hold)
        return hold

    # ---- helpers ---------------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    @staticmethod
    def _answer(results: Any = None, *, error: GraphError | None = None) -> JSONResponse:
        body: Json = {"version": {"edition": "standin", "api": "v2"}, "error": error is not None}
        body["message"] = str(error) if error else ""
        if error:
            body["code"] = error.code
        else:
            body["results"] = results
        return JSONResponse(body)

    def _graph(self, request: Request) -> Graph:
        name = request.path_params["graph"]
        if name not in self.graphs:
            raise GraphError(f"Graph name {name} cannot be found.", "REST-1004")
        return self.graphs[name]

    async def _guarded(
        self, request: Request, work: Callable[[Transaction], Any], held: Hold | None = None
    ) -> Response:
        self.requests.append(f"{request.method} {request.url.path}")
        for hold in self._holds:
            if hold is not held and hold.in_flight():
                hold.meanwhile.append(f"{request.method} {request.url.path}")
                hold.overlapped.set()
        if not self._authorized(request):
            return JSONResponse({"error": True, "message": "Unauthorized"}, status_code=401)
        # Begun and committed on the server's loop, run on a thread meanwhile: requests overlap as on a real server,
        # each one a transaction (Transaction) and nothing more: no lock serializes them.
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            graph = self._graph(request)
            txn = graph.begin()
            result = await asyncio.to_thread(work, txn)
            graph.commit(txn)  # not reached when `work` raised: a failed request writes nothing
            return self._answer(result)
        except GraphError as error:
            return self._answer(error=error)
        finally:
            self.in_flight -= 1

    # ---- endpoints -------------------------------------------------------------------------------------
    async def statements(self, request: Request) -> Response:
        text = (await request.body()).decode()
        self.requests.append(f"{request.method} {request.url.path}")
        if not self._authorized(request):
            return PlainTextResponse("Unauthorized", status_code=401)
        # Schema changes run on the loop, never during another one (real TigerGraph runs them exclusively too).
        return PlainTextResponse("\n".join(self._run_gsql(text)))

    def _run_gsql(self, text: str) -> list[str]:
        if re.search(r"^CREATE (VERTEX|DIRECTED EDGE)", text, re.MULTILINE):
            return self.catalog.add(text)
        if match := re.match(r"CREATE GRAPH (\w+)\(([\w, ]*)\)", text.strip()):
            name, types = match.group(1), {t.strip() for t in match.group(2).split(",") if t.strip()}
            known = set(self.catalog.vertex_attrs) | set(self.catalog.edges)
            if name in self.graphs or types - known:
                return [f"The graph {name} could not be created! Unknown types: {sorted(types - known)}"]
            types |= {self.catalog.reverse[t] for t in types if t in self.catalog.reverse}
            self.graphs[name] = Graph(self.catalog, types)
            return [f"The graph {name} is created."]
        if match := re.match(r"USE GRAPH (\w+)", text.strip()):
            graph = self.graphs.get(match.group(1))
            if graph is None:
                return [f"Graph {match.group(1)} does not exist."]
            names = re.findall(r"^CREATE QUERY (\w+)\(", text, re.MULTILINE)
            unknown = [name for name in names if name not in QUERIES]
            if unknown:
                return [f"Semantic Check Fails: the stand-in has no rendering of {unknown}"]
            if "INSTALL QUERY ALL" in text:
                for name, params in re.findall(r"^CREATE QUERY (\w+)\(([^)]*)\)", text, re.MULTILINE):
                    graph.queries[name] = {param.split()[1] for param in params.split(",")}
            return [f"Successfully created queries: [{', '.join(names)}].", "Query installation finished."]
        return [f"The stand-in does not understand: {text[:80]!r}"]

    async def echo(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"error": True, "message": "Unauthorized"}, status_code=401)
        return JSONResponse({"error": False, "message": "Hello GSQL"})

    async def upsert(self, request: Request) -> Response:
        body = json.loads(await request.body())
        must_exist = request.query_params.get("vertex_must_exist", "").lower() == "true"

        def work(txn: Transaction) -> list[Json]:
            # All or nothing like one REST++ request: an error raised here commits none of it.
            accepted_vertices = accepted_edges = 0
            for vertex_type, by_id in body.get("vertices", {}).items():
                for vertex_id, attrs in by_id.items():
                    values = {name: spec["value"] for name, spec in attrs.items()}
                    ops = {name: spec.get("op", "overwrite") for name, spec in attrs.items()}
                    txn.upsert_vertex(vertex_type, vertex_id, values, ops)
                    accepted_vertices += 1
            for source_type, by_source in body.get("edges", {}).items():
                for source_id, by_edge in by_source.items():
                    for edge_type, by_target_type in by_edge.items():
                        for target_type, by_target in by_target_type.items():
                            for target_id, attrs in by_target.items():
                                values = {name: spec["value"] for name, spec in attrs.items()}
                                ends = (source_type, target_type)
                                if txn.upsert_edge(
                                    edge_type, source_id, target_id, values, must_exist=must_exist, ends=ends
                                ):
                                    accepted_edges += 1
            return [{"accepted_vertices": accepted_vertices, "accepted_edges": accepted_edges}]

        return await self._guarded(request, work)

    async def vertices(self, request: Request) -> Response:
        def work(txn: Transaction) -> list[Json]:
            vertex_type = request.path_params["vertex_type"]
            vertex_id = request.path_params.get("vertex_id")
            if vertex_id is None:
                return [vertex_out(vertex_type, attrs) for attrs in txn.all(vertex_type)]
            txn.check_vertex_type(vertex_type)
            found = txn.get(vertex_type, vertex_id)
            if found is None:
                raise GraphError(
                    f"The input vertex id '{vertex_id}' is not a valid vertex id for vertex type = {vertex_type}.",
                    "601",
                )
            return [vertex_out(vertex_type, found)]

        return await self._guarded(request, work)

    async def query(self, request: Request) -> Response:
        raw = json.loads(await request.body() or b"{}")
        params = {key: unquote(value) if isinstance(value, str) else value for key, value in raw.items()}

        def work(txn: Transaction) -> list[Json]:
            graph, name = txn.graph, request.path_params["query"]
            if name not in graph.queries:
                raise GraphError(
                    f"Endpoint is not found from url = /query/{request.path_params['graph']}/{name}", "REST-1000"
                )
            if set(params) != graph.queries[name]:  # stricter than TigerGraph, which defaults missing ones
                raise GraphError(f"{name} takes {sorted(graph.queries[name])}, got {sorted(params)}.", "REST-30000")
            return QUERIES[name](txn, params)

        graph, name = request.path_params["graph"], request.path_params["query"]
        hold = next((h for h in self._holds if (h.graph, h.query) == (graph, name) and not h.arrived.is_set()), None)
        if hold is None:
            return await self._guarded(request, work)
        hold.arrived.set()
        await asyncio.to_thread(hold.released.wait, 30)  # off the server's loop: other requests keep arriving
        try:
            return await self._guarded(request, work, hold)
        finally:
            hold.finished.set()
