"""The report's figures: pass rates with intervals, the best member as the baseline, and files on disk."""

import dataclasses
import json
from pathlib import Path

from council.evaluation.harness import Configuration, ConfigurationRun, ItemRun
from council.evaluation.report import best_member, build_report, render_markdown, write_report


def run(name: str, passes: list[bool]) -> ConfigurationRun:
    path = "fast" if name.startswith("member:") else "council"
    configuration = Configuration(name, path, role=name.removeprefix("member:") if path == "fast" else None,
                                  review_round=name == "council+review")  # fmt: skip
    items = tuple(
        ItemRun(f"q{index}", "arithmetic" if index % 2 else "factual", passed, () if passed else ("number 1: found 2",),
                10, 0.5, "Answer: 1")
        for index, passed in enumerate(passes)
    )  # fmt: skip
    return ConfigurationRun(configuration, items)


RUNS = [
    run("member:analytical", [True, False, False, False] * 5),
    run("member:creative", [True, True, False, False] * 5),
    run("council", [True, True, True, False] * 5),
    run("council+review", [True, True, True, True] * 5),
]


def test_best_member_is_the_member_with_most_passes() -> None:
    best = best_member(RUNS)
    assert best is not None
    assert best.configuration.name == "member:creative"


def test_report_compares_the_council_with_the_best_member_and_the_review_with_the_council() -> None:
    report = build_report(RUNS, questions="dev.jsonl", limit=20, backend="embedded", temperature=0.0, seed=0)
    pairs = [(c["baseline"], c["candidate"], round(c["difference"], 2)) for c in report["comparisons"]]
    assert pairs == [("member:creative", "council", 0.25), ("member:creative", "council+review", 0.5),
                     ("council", "council+review", 0.25)]  # fmt: skip
    council = report["configurations"][2]
    assert council["pass_rate"]["passed"] == 15
    assert council["by_category"] == {"factual": {"passed": 10, "total": 10}, "arithmetic": {"passed": 5, "total": 10}}
    assert council["output_tokens"] == {"total": 200, "mean": 10.0}


def test_report_compares_ranking_and_self_moa_and_states_how_k_was_chosen() -> None:
    moa = Configuration("self-moa:creative", "council", role="creative", samples=3, note="best member creative; k = 3")
    ranking = Configuration("council+ranking", "council", ranking=True)
    ranked_items = tuple(
        dataclasses.replace(item, ballots=3, ballots_read=index % 2) for index, item in enumerate(RUNS[2].items)
    )
    runs = [*RUNS, ConfigurationRun(ranking, ranked_items), ConfigurationRun(moa, RUNS[1].items)]
    report = build_report(runs, questions="dev.jsonl", limit=20, backend="embedded", temperature=0.0, seed=0,
                          sample_temperature=0.7)  # fmt: skip

    pairs = [(c["baseline"], c["candidate"]) for c in report["comparisons"]]
    assert pairs == [
        ("member:creative", "council"),
        ("member:creative", "council+review"),
        ("member:creative", "council+ranking"),
        ("member:creative", "self-moa:creative"),
        ("council", "council+review"),
        ("council", "council+ranking"),
        ("self-moa:creative", "council"),
    ]
    assert report["sample_temperature"] == 0.7
    markdown = render_markdown(report)
    assert "- **self-moa:creative**: best member creative; k = 3" in markdown
    assert "Self-MoA samples at temperature 0.7" in markdown
    assert (
        "- **council+ranking**: 10 of 60 peer rankings could be read; the others were counted as unreadable" in markdown
    )
    # the same answers as the best member: no difference, and the report says so plainly
    assert "- **self-moa:creative** vs member:creative: +0.0 points" in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("- **self-moa:creative** vs"))
    assert line.endswith("not significant at the 5 % level (the interval includes 0).")


def test_markdown_states_whether_each_difference_is_significant(tmp_path: Path) -> None:
    report = build_report(RUNS, questions="dev.jsonl", limit=None, backend="embedded", temperature=0.7, seed=3)
    markdown = render_markdown(report)
    assert "| council | - | 15/20 | 75.0 % |" in markdown
    assert "temperature 0.7, seed 3" in markdown
    statements = [line for line in markdown.splitlines() if line.startswith("- **")]
    assert len(statements) == 3
    assert all("significant" in line for line in statements)
    out = write_report(report, tmp_path / "results")
    assert json.loads(out.read_text())["configurations"][0]["name"] == "member:analytical"
    assert out.with_suffix(".md").read_text() == markdown
    assert out.name.startswith("eval-")


def test_the_table_names_the_models_that_answered_so_a_mixed_council_reads_as_one() -> None:
    member = dataclasses.replace(RUNS[0].configuration, models=("SmolLM2",))
    plain = dataclasses.replace(RUNS[2].configuration, models=("SmolLM2", "SmolLM2", "SmolLM2", "SmolLM2"))
    mixed = dataclasses.replace(RUNS[3].configuration, models=("SmolLM2", "SmolLM2", "llama3.2", "qwen2.5"))
    runs = [ConfigurationRun(c, run.items) for c, run in zip((member, plain, mixed), RUNS[::2] + RUNS[3:], strict=True)]
    markdown = render_markdown(build_report(runs, questions="q", limit=None, backend="b", temperature=0, seed=0))
    assert "| member:analytical | SmolLM2 | 5/20 |" in markdown
    assert "| council | SmolLM2 x3; chair SmolLM2 | 15/20 |" in markdown
    assert "| council+review | SmolLM2 x2, llama3.2; chair qwen2.5 | 20/20 |" in markdown


def test_spoken_councils_are_compared_with_the_written_one_and_the_lever_with_the_settings_budget() -> None:
    spoken = [
        Configuration(name, "council", spoken_tokens=tokens, note=f"spoken turn: members capped at {tokens} tokens")
        for name, tokens in (("council-spoken", 96), ("council-spoken-32", 32))
    ]
    heard = [(2, [True, False, False, False] * 5), (3, [True, True, False, False] * 5)]
    spoken_runs = [
        ConfigurationRun(configuration, tuple(dataclasses.replace(item, passed=passed, members_heard=members - i % 2)
                                              for i, (item, passed) in enumerate(zip(RUNS[2].items, passes, strict=True))))
        for configuration, (members, passes) in zip(spoken, heard, strict=True)
    ]  # fmt: skip
    report = build_report([*RUNS[:3], *spoken_runs], questions="q", limit=None, backend="b", temperature=0, seed=0)

    pairs = [(c["baseline"], c["candidate"], round(c["difference"], 2)) for c in report["comparisons"]]
    assert pairs == [
        ("member:creative", "council", 0.25),
        ("member:creative", "council-spoken", -0.25),
        ("member:creative", "council-spoken-32", 0.0),
        ("council", "council-spoken", -0.5),
        ("council", "council-spoken-32", -0.25),
        ("council-spoken", "council-spoken-32", 0.25),
    ]
    assert [c["members_heard"]["mean"] for c in report["configurations"][2:]] == [0, 1.5, 2.5]
    markdown = render_markdown(report)
    assert (
        "- **council-spoken**: spoken turn: members capped at 96 tokens; the chair heard 1.5 members per item"
        in markdown
    )
    assert "- **council-spoken-32** vs council-spoken: +25.0 points" in markdown
