"""The smart router's decisions, table by table: commands, the caller's choice, cheap rules, Pheromind."""

import pytest

from council.orchestrator.smart_router import RoutingError, decide

LONG = " ".join(["word"] * 60)


@pytest.mark.parametrize(
    ("text", "path", "message", "reason_part"),
    [
        ("What is 2+2?", "fast", "What is 2+2?", "short, direct message (3 words"),
        ("hello", "fast", "hello", "no deliberation cue"),
        ("Should I use Postgres or SQLite?", "council", "Should I use Postgres or SQLite?", "'should i'"),
        ("Compare Rust and Go for CLIs", "council", "Compare Rust and Go for CLIs", "'compare'"),
        ("What are the pros and cons of remote work", "council", "What are the pros and cons of remote work", "pros"),
        ("Give me the trade-offs here", "council", "Give me the trade-offs here", "'trade-offs'"),
        (LONG, "council", LONG, "long message (60 words >= 60)"),
        ("/council hi there", "council", "hi there", "explicit command '/council'"),
        ("/COUNCIL  hi", "council", "hi", "explicit command '/council'"),
        ("/fast Should I buy a car?", "fast", "Should I buy a car?", "explicit command '/fast'"),
        ("  /fast\nmultiline\ntext", "fast", "multiline\ntext", "'/fast'"),
        ("/agent scout find docs", "fast", "find docs", "KIP, which this orchestrator runs without"),
        ("/unknown command stays text", "fast", "/unknown command stays text", "short"),
    ],
)
def test_auto_routing(text: str, path: str, message: str, reason_part: str) -> None:
    decision = decide(text)

    assert (decision.path, decision.message) == (path, message)
    assert reason_part in decision.reason


@pytest.mark.parametrize(
    ("requested", "text", "path"),
    [("fast", "Should I move to Berlin?", "fast"), ("council", "hi", "council"), ("auto", "hi", "fast")],
)
def test_the_callers_path_overrides_the_rules(requested: str, text: str, path: str) -> None:
    decision = decide(text, requested=requested)  # type: ignore[arg-type]

    assert decision.path == path


def test_an_explicit_command_wins_over_the_callers_path() -> None:
    decision = decide("/council hi", requested="fast")

    assert decision.path == "council"


@pytest.mark.parametrize(
    ("text", "kip_available", "path", "agent", "message"),
    [
        ("@mathy what is 6*7", True, "kip", "mathy", "what is 6*7"),
        ("@scout, find the docs", True, "kip", "scout", "find the docs"),
        ("@mathy what is 6*7", False, "fast", None, "@mathy what is 6*7"),
        ("email me @ noon", True, "fast", None, "email me @ noon"),
        ("@mathy", True, "fast", None, "@mathy"),
    ],
)
def test_a_message_addressed_to_an_agent_goes_to_kip(
    text: str, kip_available: bool, path: str, agent: str | None, message: str
) -> None:
    decision = decide(text, kip_available=kip_available)

    assert (decision.path, decision.agent, decision.message) == (path, agent, message)
    if path == "kip":
        assert decision.reason == f"addressed to agent '@{agent}'"


def test_agent_command_reaches_kip_only_when_it_exists() -> None:
    decision = decide("/agent scout find the docs", kip_available=True)

    assert (decision.path, decision.agent, decision.message) == ("kip", "scout", "find the docs")
    assert decision.reason == "explicit command '/agent scout'"


@pytest.mark.parametrize(
    ("text", "agent", "message"),
    [
        ("/agent mathy do 6 * 7", "mathy", "6 * 7"),
        ("/agent mathy DO   6 * 7", "mathy", "6 * 7"),
        ("/agent mathy do\n6 * 7", "mathy", "6 * 7"),
        ("/agent mathy 6 * 7", "mathy", "6 * 7"),
        ("/agent scribe do note: do the dishes", "scribe", "note: do the dishes"),  # only the leading "do"
        ("/agent scout done yet?", "scout", "done yet?"),  # a word that starts with "do" is the request
        ("/agent scout dog facts", "scout", "dog facts"),
        ("@mathy do 6*7", "mathy", "6*7"),
        ("@mathy, do 6*7", "mathy", "6*7"),
        ("@mathy Do sqrt(16)", "mathy", "sqrt(16)"),
        ("@scout dogs and cats", "scout", "dogs and cats"),
    ],
)
def test_the_documented_do_before_an_agents_request_is_syntax(text: str, agent: str, message: str) -> None:
    decision = decide(text, kip_available=True)

    assert (decision.path, decision.agent, decision.message) == ("kip", agent, message)


@pytest.mark.parametrize("text", ["/agent mathy do", "/agent mathy do   ", "@mathy do", "@mathy, do  "])
def test_do_without_a_request_is_refused_with_a_fix(text: str) -> None:
    with pytest.raises(RoutingError, match="needs a request"):
        decide(text, kip_available=True)


@pytest.mark.parametrize(
    ("strength", "path"),
    [(3.0, "council"), (2.5, "council"), (2.4, "fast"), (None, "fast")],
)
def test_a_hot_pheromind_trail_sends_short_messages_to_the_council(strength: float | None, path: str) -> None:
    decision = decide("tell me about tides", trail_strength=strength, hot_threshold=2.5)

    assert decision.path == path
    if path == "council":
        assert "Pheromind trail strength" in decision.reason


@pytest.mark.parametrize(
    ("text", "requested", "error"),
    [
        ("", "auto", "empty"),
        ("   \n ", "auto", "empty"),
        ("/council", "auto", "needs a message"),
        ("/fast   ", "auto", "needs a message"),
        ("/agent", "auto", "needs an agent name"),
        ("/agent scout", "auto", "needs a request"),
        ("find the docs", "kip", "needs an agent"),
    ],
)
def test_unroutable_messages_are_refused_with_a_fix(text: str, requested: str, error: str) -> None:
    with pytest.raises(RoutingError, match=error):
        decide(text, requested=requested)  # type: ignore[arg-type]
