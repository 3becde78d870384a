"""System prompts of the built-in roles and the messages of the review round and the chair's synthesis."""

from collections.abc import Mapping, Sequence

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


def synthesis_request(question: str, answers: Mapping[str, str]) -> str:
    """The chair's message: the question and each surviving member's (final) answer."""
    listed = "\n\n".join(
        f"Adviser {index} ({member}):\n{text}" for index, (member, text) in enumerate(answers.items(), 1)
    )
    return f"Question: {question}\n\n{listed}\n\nWrite the final answer to the question."
