"""The report's figures: pass rates with intervals, the best member as the baseline, and files on disk."""

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


def test_markdown_states_whether_each_difference_is_significant(tmp_path: Path) -> None:
    report = build_report(RUNS, questions="dev.jsonl", limit=None, backend="embedded", temperature=0.7, seed=3)
    markdown = render_markdown(report)
    assert "| council | 15/20 | 75.0 % |" in markdown
    assert "temperature 0.7, seed 3" in markdown
    statements = [line for line in markdown.splitlines() if line.startswith("- **")]
    assert len(statements) == 3
    assert all("significant" in line for line in statements)
    out = write_report(report, tmp_path / "results")
    assert json.loads(out.read_text())["configurations"][0]["name"] == "member:analytical"
    assert out.with_suffix(".md").read_text() == markdown
    assert out.name.startswith("eval-")
