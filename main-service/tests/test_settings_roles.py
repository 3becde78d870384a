"""Per-role settings read from COUNCIL_DELIBERATION__ROLES: unset fields fall back to the llm section."""

import pydantic
import pytest

from council.llm import ModelRegistry
from council.settings import Settings


def test_a_roles_timeouts_are_read_from_the_roles_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_DELIBERATION__ROLES", '{"fast": {"connect_timeout_s": 1.5, "read_timeout_s": 30}}')

    roles = Settings(_env_file=None).deliberation.roles

    assert (roles["fast"].connect_timeout_s, roles["fast"].read_timeout_s) == (1.5, 30)


@pytest.mark.parametrize("field", ["connect_timeout_s", "read_timeout_s"])
def test_a_roles_timeout_must_be_positive(field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        Settings(_env_file=None, deliberation={"roles": {"fast": {field: 0}}})


@pytest.mark.parametrize(("value", "seed"), [("0", 0), ("42", 42), ("", None)])
def test_a_seed_of_zero_is_a_seed_and_an_empty_one_is_none(
    monkeypatch: pytest.MonkeyPatch, value: str, seed: int | None
) -> None:
    monkeypatch.setenv("COUNCIL_LLM__SEED", value)
    monkeypatch.setenv("COUNCIL_LLM__BACKEND", "openai")  # nothing to load: the models are remote

    settings = Settings(_env_file=None)
    models = ModelRegistry.from_settings(settings.llm, {}, ["fast"])

    assert settings.llm.seed == seed
    assert models.get("fast").seed == seed  # every role's model samples with it
