"""System prompts of the built-in roles and the messages of the review round, the ranking and the chair's synthesis."""

from collections.abc import Mapping, Sequence

from council.orchestrator.events import Ranking

ROLE_PROMPTS: Mapping[str, str] = {
    "fast": "You are a helpful, concise assistant. Answer the user's message directly.",
    "analytical": (
        "You are the analytical member of a council. Reason step by step, state facts and assumptions, "
        "and give a precise, well-structured answer."
    ),
    "creative": (
        "You are the creative member of a council. Offer original ideas, alternatives and vivid examples "
        "that others might miss."
    ),
    "critical": (
        "You are the critical member of a council. Look for risks, weak assumptions and counter-arguments, "
        "then give your own careful answer."
    ),
    "chair": (
        "You chair a council of advisers. Combine their answers into one clear, correct final answer for the "
        "user. Keep what they agree on, resolve disagreements, and do not mention the council."
    ),
}

SPOKEN_STYLE = (
    "\n\nThis conversation is spoken aloud: answer in two or three short sentences of plain speech, with no lists, "
    "headings, tables or markdown."
)
"""Appended to the members' and the chair's system prompts in a spoken turn, so answers are brief and speakable."""

REVIEW_PROMPT = (
    "You see anonymous answers from other advisers to the same question. Improve your own answer using what is "
    "right in theirs and avoiding what is wrong. Reply with your improved answer only."
)


def review_request(question: str, own: str, others: Sequence[str]) -> str:
    """The review round's message: the member's answer and the others', labelled only by letter (anonymised)."""
    labelled = "\n\n".join(f"Answer {chr(ord('A') + index)}:\n{text}" for index, text in enumerate(others))
    return f"Question: {question}\n\nYour answer:\n{own}\n\nOther answers:\n{labelled}"


RANKING_PROMPT = (
    "You see anonymous answers from other advisers to the same question. Judge which are most accurate and "
    "helpful. Reply with one line only: FINAL RANKING: followed by the answers' letters, best first, separated by "
    "commas, for example FINAL RANKING: B, A"
)


def ranking_request(question: str, ballot: Mapping[str, str]) -> str:
    """The ranking's message: the question and the answers to rank under their labels, in the ballot's order."""
    labelled = "\n\n".join(f"Answer {label}:\n{text}" for label, text in ballot.items())
    letters = ", ".join(ballot)
    return f"Question: {question}\n\n{labelled}\n\nRank answers {letters}, best first, in one line: FINAL RANKING: ..."


def synthesis_request(question: str, answers: Mapping[str, str], ranking: Ranking | None = None) -> str:
    """The chair's message: the question, each surviving member's (final) answer and, when the members ranked each
    other, the aggregate ranking under the same adviser numbers."""
    numbers = {member: index for index, member in enumerate(answers, 1)}
    listed = "\n\n".join(f"Adviser {numbers[member]} ({member}):\n{text}" for member, text in answers.items())
    return (
        f"Question: {question}\n\n{listed}{_ranking_note(ranking, numbers)}\n\nWrite the final answer to the question."
    )


def _ranking_note(ranking: Ranking | None, numbers: Mapping[str, int]) -> str:
    if ranking is None:
        return ""
    ranked = [answer for answer in ranking.answers if answer.mean_rank is not None and answer.member in numbers]
    if not ranked:
        return "\n\nThe advisers also ranked each other's answers, but no ranking could be read."
    lines = "\n".join(
        f"{place}. Adviser {numbers[answer.member]} ({answer.member}): mean rank {answer.mean_rank:.2f} "
        f"from {answer.rankers} {'ranking' if answer.rankers == 1 else 'rankings'}"
        for place, answer in enumerate(ranked, 1)
    )
    return "\n\nThe advisers ranked each other's anonymous answers (1 = best); the aggregate, best first:\n" + lines
