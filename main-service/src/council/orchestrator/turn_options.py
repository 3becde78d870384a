"""A turn's council options as callers send them (the `/api/chat` body, the `/ws/chat` message frame, the extension
fields of `/v1/chat/completions`): each field defined once, with its bounds, so every surface accepts and refuses the
same values."""

from typing import Annotated

from pydantic import Field

CouncilMembers = Annotated[
    list[str] | None,
    Field(
        min_length=1,
        max_length=16,
        description="Council members (roles) to ask on the council path, in configured order; omitted = all.",
    ),
]
ReviewRoundChoice = Annotated[
    bool | None,
    Field(
        strict=True,
        description="On the council path, members review each other's answers; omitted = "
        "COUNCIL_DELIBERATION__REVIEW_ROUND.",
    ),
]
RankingChoice = Annotated[
    bool | None,
    Field(
        strict=True,
        description="On the council path, members rank each other's anonymised answers and the chair sees the "
        "aggregate; omitted = COUNCIL_DELIBERATION__RANKING.",
    ),
]
