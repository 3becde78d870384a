"""The smart router: explicit commands, then the caller's choice, then cheap rules; every decision has a reason."""

import re
from dataclasses import dataclass
from typing import Literal

from council.orchestrator.events import PathName

RequestedPath = Literal["auto", "fast", "council", "kip"]

_COMMAND = re.compile(r"^\s*/(council|fast|agent)(?:\s+|$)(.*)\Z", re.IGNORECASE | re.DOTALL)
_AGENT = re.compile(r"^([A-Za-z0-9_.\-]{1,64})(?:\s+|$)(.*)\Z", re.DOTALL)
# A message addressed to an agent the way people address each other: "@mathy what is 6*7", "@scout, find docs".
_MENTION = re.compile(r"^@([A-Za-z0-9_.\-]{1,64})[,:]?\s+(\S.*)\Z", re.DOTALL)
# The documented forms are `/agent NAME do …` and `@NAME do …`: the "do" is syntax, not part of the request.
_DO = re.compile(r"^do(?:\s+|\Z)", re.IGNORECASE)
# Phrases that ask for a judgement between options, where several perspectives are worth their cost.
_DELIBERATION = re.compile(
    r"\b(should (?:i|we)|pros and cons|trade-?offs?|compare|comparison|versus|vs\.?|which is better|"
    r"evaluate|assess|critique|recommend|best (?:way|approach|option)|decide|decision|strategy|"
    r"advantages|disadvantages|risks? of)\b",
    re.IGNORECASE,
)


class RoutingError(ValueError):
    """The message cannot be routed as written (e.g. `/agent` without a name); the message says how to fix it."""


@dataclass(frozen=True)
class RouteDecision:
    path: PathName
    reason: str
    message: str
    """The text the models answer: the user's message without its command."""
    agent: str | None = None


def decide(
    text: str,
    *,
    requested: RequestedPath = "auto",
    kip_available: bool = False,
    council_min_words: int = 60,
    trail_strength: float | None = None,
    hot_threshold: float | None = None,
) -> RouteDecision:
    """Pure and cheap: no model call. `trail_strength` is Pheromind's signal for this message from the caller's own
    trails (never another client's), when it exists."""
    command = _COMMAND.match(text)
    if command:
        return _from_command(command.group(1).lower(), command.group(2).strip(), kip_available)
    message = text.strip()
    if not message:
        raise RoutingError("The message is empty.")
    if requested == "kip":
        raise RoutingError("The KIP path needs an agent: send '/agent NAME your request'.")
    if requested != "auto":
        return RouteDecision(requested, f"path '{requested}' requested by the caller", message)
    mention = _MENTION.match(message) if kip_available else None
    if mention:
        name = mention.group(1)
        request = _agent_request(mention.group(2))
        if not request:
            raise RoutingError(f"'@{name} do' needs a request after it, e.g. '@{name} do 6*7'.")
        return RouteDecision("kip", f"addressed to agent '@{name}'", request, agent=name)
    if trail_strength is not None and hot_threshold is not None and trail_strength >= hot_threshold:
        return RouteDecision(
            "council",
            f"hot topic: the caller's Pheromind trail strength {trail_strength:.2f} >= {hot_threshold:g}",
            message,
        )
    words = len(message.split())
    if words >= council_min_words:
        return RouteDecision("council", f"long message ({words} words >= {council_min_words})", message)
    cue = _DELIBERATION.search(message)
    if cue:
        return RouteDecision("council", f"asks for a judgement ('{cue.group(0).lower()}')", message)
    return RouteDecision("fast", f"short, direct message ({words} words, no deliberation cue)", message)


def _from_command(command: str, rest: str, kip_available: bool) -> RouteDecision:
    if command == "agent":
        agent = _AGENT.match(rest)
        if agent is None:
            raise RoutingError("'/agent' needs an agent name: '/agent NAME your request'.")
        name, request = agent.group(1), _agent_request(agent.group(2))
        if not request:
            raise RoutingError(f"'/agent {name}' needs a request after the agent's name.")
        if not kip_available:
            return RouteDecision(
                "fast",
                f"'/agent {name}' addresses KIP, which this orchestrator runs without; answered on the fast path",
                request,
            )
        return RouteDecision("kip", f"explicit command '/agent {name}'", request, agent=name)
    if not rest:
        raise RoutingError(f"'/{command}' needs a message after it.")
    path: PathName = "council" if command == "council" else "fast"
    return RouteDecision(path, f"explicit command '/{command}'", rest)


def _agent_request(text: str) -> str:
    """What the agent is asked: the text after the name, without the optional leading "do"."""
    return _DO.sub("", text.strip(), count=1).strip()


def asked_of_models(text: str, *, kip_available: bool) -> str:
    """What a turn on `text` asked the models (the message without its command), as Pheromind and the answer
    cache saw it; the text itself when it cannot be routed (such a turn asked nothing)."""
    try:
        return decide(text, kip_available=kip_available).message
    except RoutingError:
        return text
