"""`python -m council.evaluation`: run a question file through every configuration (or those chosen) and write the
report."""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from council.evaluation.errors import ConfigurationChoiceError
from council.evaluation.harness import SELF_MOA, Configuration, run_evaluation
from council.evaluation.questions import load_questions, shipped_questions, spread
from council.evaluation.report import build_report, write_report
from council.evaluation.self_moa import SAMPLE_TEMPERATURE
from council.settings import Settings


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m council.evaluation", description=__doc__)
    parser.add_argument(
        "--questions",
        type=Path,
        default=os.environ.get("QUESTIONS") or shipped_questions("heldout"),
        help="question file (JSONL, docs/eval.md); default: the shipped held-out set, or $QUESTIONS",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=int(os.environ.get("LIMIT") or 0),
        help="only N questions, taken in turn from each category (0 = all); default $LIMIT",
    )
    parser.add_argument(
        "--configurations",
        type=_names,
        default=_names(os.environ.get("CONFIGURATIONS") or ""),
        help=f"only these configurations, comma-separated (e.g. council,council-spoken; {SELF_MOA} for self-MoA); "
        "default: every one, or $CONFIGURATIONS",
    )
    parser.add_argument(
        "--temperature", type=float, default=0.0, help="temperature of every role without its own (0 = greedy)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="sampling seed of every model (fixed, so a rerun repeats where it can)"
    )
    parser.add_argument(
        "--sample-temperature",
        type=float,
        default=SAMPLE_TEMPERATURE,
        help="temperature of self-MoA's samples (each with its own seed; at 0 they would all be one answer)",
    )
    parser.add_argument("--results-dir", type=Path, default=Path("bench/results"), help="where eval-<date>.json/.md go")
    return parser.parse_args()  # fmt: skip


def _names(text: str) -> list[str] | None:
    """A comma-separated list of configuration names; None (every configuration) when empty."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    return names or None


def _show_progress(configuration: Configuration, done: int, total: int, passed: int) -> None:
    width = 30
    bar = "#" * (width * done // total)
    end = "\n" if done == total else ""
    print(
        f"\r{configuration.name:<24} [{bar:<{width}}] {done}/{total} passed {passed}",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def _shown(path: Path) -> str:
    """The question file as the report names it: relative to the working directory when inside it, so a report
    committed from one checkout does not carry that machine's paths."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(path)


def main() -> None:
    arguments = _arguments()
    settings = Settings()
    questions_path: Path = arguments.questions  # a Path: argparse converts $QUESTIONS with `type`
    questions = load_questions(questions_path)
    if arguments.limit > 0:
        questions = spread(questions, arguments.limit)
    try:
        runs = asyncio.run(
            run_evaluation(
                settings,
                questions,
                only=arguments.configurations,
                temperature=arguments.temperature,
                seed=arguments.seed,
                sample_temperature=arguments.sample_temperature,
                progress=_show_progress,
            )
        )
    except ConfigurationChoiceError as error:  # refused before any model loads
        sys.exit(f"python -m council.evaluation: {error}")
    backend = settings.llm.backend if settings.llm.backend == "embedded" else f"openai ({settings.llm.model})"
    report = build_report(
        runs,
        questions=_shown(questions_path),
        limit=arguments.limit or None,
        backend=backend,
        temperature=arguments.temperature,
        seed=arguments.seed,
        sample_temperature=arguments.sample_temperature,
    )
    out = write_report(report, arguments.results_dir)
    print(f"report: {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
