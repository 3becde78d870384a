"""The evaluation's report: pass rates with intervals, cost, and paired gains, as `eval-<date>.json` and `.md`."""

import itertools
import json
import platform
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from council.evaluation.harness import ConfigurationRun, best_member
from council.evaluation.stats import PairedComparison, compare_paired, pass_rate

__all__ = ["best_member", "build_report", "comparisons", "render_markdown", "write_report"]


def comparisons(runs: Sequence[ConfigurationRun]) -> list[tuple[str, str, PairedComparison]]:
    """Each council configuration and self-MoA against the best single member; the review round, the ranking and
    each spoken council against the plain (written) council; every other spoken budget against the settings' own (the
    first spoken configuration); and the council against self-MoA at its token budget (does mixing roles beat
    sampling the best one?)."""
    by_name = {run.configuration.name: run for run in runs}
    best = best_member(runs)
    councils = [run.configuration.name for run in runs if run.configuration.path == "council"]
    spoken = [run.configuration.name for run in runs if run.configuration.spoken_tokens is not None]
    moa = next((run.configuration.name for run in runs if run.configuration.samples), None)
    pairs: list[tuple[str, str]] = []
    if best is not None:
        pairs += [(best.configuration.name, name) for name in councils]
    if "council" in by_name:
        pairs += [("council", name) for name in ("council+review", "council+ranking", *spoken) if name in by_name]
    pairs += [(spoken[0], name) for name in spoken[1:]]
    if "council" in by_name and moa is not None:
        pairs.append((moa, "council"))
    return [
        (base, candidate, compare_paired(_outcomes(by_name[base]), _outcomes(by_name[candidate])))
        for base, candidate in pairs
    ]


def _outcomes(run: ConfigurationRun) -> list[bool]:
    return [item.passed for item in run.items]


def build_report(
    runs: Sequence[ConfigurationRun],
    *,
    questions: str,
    limit: int | None,
    backend: str,
    temperature: float,
    seed: int | None,
    sample_temperature: float | None = None,
) -> dict[str, Any]:
    configurations = []
    for run in runs:
        rate = pass_rate(_outcomes(run))
        tokens = [item.output_tokens for item in run.items]
        walls = [item.wall_s for item in run.items]
        categories = Counter(item.category or "-" for item in run.items)
        passed = Counter(item.category or "-" for item in run.items if item.passed)
        configurations.append(
            {
                **asdict(run.configuration),
                "pass_rate": asdict(rate),
                "by_category": {name: {"passed": passed[name], "total": total} for name, total in categories.items()},
                "output_tokens": {"total": sum(tokens), "mean": round(statistics.fmean(tokens), 1)},
                "wall_s": {"total": round(sum(walls), 2), "median": round(statistics.median(walls), 3)},
                "ballots": {"total": sum(i.ballots for i in run.items), "read": sum(i.ballots_read for i in run.items)},
                "members_heard": {"mean": round(statistics.fmean(i.members_heard for i in run.items), 2)},
                "items": [asdict(item) for item in run.items],
            }
        )
    return {
        "evaluation": "council-vs-members",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "questions": questions,
        "limit": limit,
        "backend": backend,
        "temperature": temperature,
        "seed": seed,
        "sample_temperature": sample_temperature,
        "python": platform.python_version(),
        "configurations": configurations,
        "comparisons": [_comparison(base, candidate, c) for base, candidate, c in comparisons(runs)],
    }


def _comparison(baseline: str, candidate: str, comparison: PairedComparison) -> dict[str, Any]:
    return {
        "baseline": baseline,
        "candidate": candidate,
        "items": comparison.items,
        "candidate_only": comparison.candidate_only,
        "baseline_only": comparison.baseline_only,
        "difference": comparison.difference,
        "interval": asdict(comparison.interval),
        "significant": comparison.significant,
        "statement": comparison.statement(),
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Evaluation {report['when']}", ""]
    lines += [f"Questions: `{report['questions']}`" + (f" ({report['limit']}, taken in turn from each category)" if report["limit"] else "") + f"; backend: {report['backend']}; temperature {report['temperature']}, seed {report['seed']}; scored by code (docs/eval.md).", ""]  # fmt: skip
    lines += ["| configuration | models | passed | pass rate | 95 % CI | tokens generated (total / mean) | wall time s (total / median) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for config in report["configurations"]:
        rate, interval = config["pass_rate"], config["pass_rate"]["interval"]
        lines.append(
            f"| {config['name']} | {_models(config)} | {rate['passed']}/{rate['total']} | {rate['rate'] * 100:.1f} % "
            f"| {interval['low'] * 100:.1f} to {interval['high'] * 100:.1f} % "
            f"| {config['output_tokens']['total']} / {config['output_tokens']['mean']} "
            f"| {config['wall_s']['total']} / {config['wall_s']['median']} |"
        )
    notes = [f"- **{config['name']}**: {config['note']}{_heard(config)}" for config in report["configurations"]
             if config.get("note")]  # fmt: skip
    notes += [
        f"- **{config['name']}**: {config['ballots']['read']} of {config['ballots']['total']} peer rankings could be "
        "read; the others were counted as unreadable, never guessed (the chair is shown the readable ones)"
        for config in report["configurations"]
        if config.get("ballots", {}).get("total")
    ]
    if notes:
        lines += ["", "## How the configurations were set up", ""]
        if report.get("sample_temperature") is not None and any(c["samples"] for c in report["configurations"]):
            lines += [f"Self-MoA samples at temperature {report['sample_temperature']} (seed + i for sample i; greedy "
                      "samples would all be the same answer), and synthesizes with the same model at the run's "
                      "temperature; k matches its tokens to the plain council's.", ""]  # fmt: skip
        lines += notes
    if report["comparisons"]:
        lines += ["", "## Paired differences (candidate minus baseline, same items)", ""]
        lines += ["The best single member is picked on these same items, which favours it over the council.", ""]
        lines += [f"- **{c['candidate']}** vs {c['baseline']}: {c['statement']}" for c in report["comparisons"]]
    lines += ["", "## Pass rate by category", "", "| configuration | " + " | ".join(_categories(report)) + " |",
              "| --- |" + " --- |" * len(_categories(report))]  # fmt: skip
    for config in report["configurations"]:
        cells = [_cell(config["by_category"].get(name)) for name in _categories(report)]
        lines.append(f"| {config['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _models(config: dict[str, Any]) -> str:
    """The models that answered: one name; or, on the council path, the members' then the chair's (`xn` for a run
    of one model), so that a mixed council reads as one."""
    models: list[str] = config.get("models") or []
    if len(models) < 2:
        return "".join(models) or "-"
    *members, chair = models
    runs = [(name, sum(1 for _ in group)) for name, group in itertools.groupby(members)]
    return ", ".join(f"{name} x{count}" if count > 1 else name for name, count in runs) + f"; chair {chair}"


def _heard(config: dict[str, Any]) -> str:
    """How many members' answers a spoken council's chair had, on average: the quorum or the deadline drops the rest."""
    if config.get("spoken_tokens") is None:
        return ""
    return f"; the chair heard {config['members_heard']['mean']:g} members per item on average"


def _categories(report: dict[str, Any]) -> list[str]:
    return sorted({name for config in report["configurations"] for name in config["by_category"]})


def _cell(counts: dict[str, int] | None) -> str:
    return f"{counts['passed']}/{counts['total']}" if counts else "-"


def write_report(report: dict[str, Any], results_dir: Path) -> Path:
    """`eval-<UTC date>.json` and `.md` in the directory; returns the JSON's path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / f"eval-{datetime.now(UTC):%Y-%m-%d}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render_markdown(report))
    return stem.with_suffix(".json")
