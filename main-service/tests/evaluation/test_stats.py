"""The statistics against published values: Wilson intervals (Newcombe 1998a) and the paired Newcombe interval."""

import pytest

from council.evaluation import compare_paired, pass_rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table II, score method.
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_published_values(successes: int, total: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, total)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_wilson_interval_of_all_passes_reaches_one() -> None:
    interval = wilson_interval(20, 20)
    assert interval.high == 1.0
    assert interval.low == pytest.approx(1 - 0.1611, abs=1e-4)  # the mirror of 0/20


@pytest.mark.parametrize(("successes", "total"), [(0, 0), (3, 2), (-1, 5)])
def test_wilson_interval_refuses_impossible_counts(successes: int, total: int) -> None:
    with pytest.raises(ValueError, match="successes <= total"):
        wilson_interval(successes, total)


def test_pass_rate_counts_and_rates() -> None:
    rate = pass_rate([True, False, True, True])
    assert (rate.passed, rate.total, rate.rate) == (3, 4, 0.75)
    assert rate.interval == wilson_interval(3, 4)


def paired(both: int, candidate_only: int, baseline_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Baseline and candidate outcomes, item by item, with the given 2x2 table."""
    baseline = [True] * both + [False] * candidate_only + [True] * baseline_only + [False] * neither
    candidate = [True] * both + [True] * candidate_only + [False] * baseline_only + [False] * neither
    return baseline, candidate


def test_paired_interval_matches_the_published_example() -> None:
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables" (2017), ch. 8, Cavo et al. 2012:
    # table [[59, 6], [16, 80]] gives -0.0621 (95 % CI -0.1186 to -0.0046) with Newcombe's square-and-add.
    baseline, candidate = paired(both=59, candidate_only=6, baseline_only=16, neither=80)
    comparison = compare_paired(baseline, candidate)
    assert round(comparison.difference, 4) == -0.0621
    assert (round(comparison.interval.low, 4), round(comparison.interval.high, 4)) == (-0.1186, -0.0046)
    assert (comparison.candidate_only, comparison.baseline_only, comparison.items) == (6, 16, 161)
    assert comparison.significant
    assert "significantly worse" in comparison.statement()


def test_paired_difference_is_antisymmetric() -> None:
    baseline, candidate = paired(both=59, candidate_only=6, baseline_only=16, neither=80)
    forward, backward = compare_paired(baseline, candidate), compare_paired(candidate, baseline)
    assert backward.difference == pytest.approx(-forward.difference)
    assert (backward.interval.low, backward.interval.high) == pytest.approx(
        (-forward.interval.high, -forward.interval.low)
    )


def test_identical_outcomes_are_not_significant() -> None:
    outcomes = [True] * 30 + [False] * 70
    comparison = compare_paired(outcomes, list(outcomes))
    assert comparison.difference == 0
    assert comparison.interval.low < 0 < comparison.interval.high
    assert not comparison.significant
    assert comparison.statement().endswith("not significant at the 5 % level (the interval includes 0).")


def test_a_small_gain_on_few_items_is_not_significant() -> None:
    baseline, candidate = paired(both=10, candidate_only=3, baseline_only=1, neither=6)
    comparison = compare_paired(baseline, candidate)
    assert comparison.difference == pytest.approx(0.1)
    assert not comparison.significant
    assert comparison.statement().startswith("+10.0 points (95 % CI ")


def test_a_large_consistent_gain_is_significant() -> None:
    baseline, candidate = paired(both=20, candidate_only=30, baseline_only=0, neither=50)
    comparison = compare_paired(baseline, candidate)
    assert comparison.significant
    assert comparison.interval.low > 0
    assert "significantly better" in comparison.statement()


def test_paired_comparison_needs_the_same_items() -> None:
    with pytest.raises(ValueError, match="same items"):
        compare_paired([True, False], [True])
    with pytest.raises(ValueError, match="no items"):
        compare_paired([], [])
