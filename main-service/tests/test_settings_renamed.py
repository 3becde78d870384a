"""Renamed settings sections: the old `COUNCIL_COUNCIL__*` names work for one release, with a warning."""

import warnings
from pathlib import Path

import pytest

from council.settings import Settings


def test_an_old_section_name_is_read_as_the_new_one_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_COUNCIL__MEMBERS", '["analytical", "critical"]')
    monkeypatch.setenv("COUNCIL_COUNCIL__REVIEW_ROUND", "true")

    with pytest.warns(FutureWarning) as warned:
        settings = Settings(_env_file=None)

    assert settings.deliberation.members == ["analytical", "critical"]
    assert settings.deliberation.review_round is True
    messages = sorted(str(warning.message) for warning in warned)
    assert messages == [
        "COUNCIL_COUNCIL__MEMBERS is deprecated and stops working in the next release: "
        "set COUNCIL_DELIBERATION__MEMBERS instead.",
        "COUNCIL_COUNCIL__REVIEW_ROUND is deprecated and stops working in the next release: "
        "set COUNCIL_DELIBERATION__REVIEW_ROUND instead.",
    ]


def test_the_new_name_wins_and_the_old_one_fills_only_what_it_leaves_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_DELIBERATION__MEMBERS", '["creative"]')
    monkeypatch.setenv("COUNCIL_COUNCIL__MEMBERS", '["analytical", "critical"]')
    monkeypatch.setenv("COUNCIL_COUNCIL__MEMBER_TIMEOUT_S", "9")

    with pytest.warns(FutureWarning):
        settings = Settings(_env_file=None)

    assert settings.deliberation.members == ["creative"]
    assert settings.deliberation.member_timeout_s == 9


def test_an_old_name_in_the_env_file_is_read_and_an_ignored_env_file_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('COUNCIL_COUNCIL__ROLES={"fast": {"max_tokens": 7}}\n')

    with pytest.warns(FutureWarning, match="COUNCIL_DELIBERATION__ROLES"):
        from_file = Settings(_env_file=env_file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: nothing old was read
        without_file = Settings(_env_file=None)

    assert from_file.deliberation.roles["fast"].max_tokens == 7
    assert without_file.deliberation.roles == {}


def test_the_new_names_alone_warn_of_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_DELIBERATION__COUNCIL_MIN_WORDS", "12")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = Settings(_env_file=None)

    assert settings.deliberation.council_min_words == 12
