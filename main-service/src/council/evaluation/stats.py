"""Pass rates with Wilson intervals, and the paired comparison of two configurations on the same items.

Pure functions of pass/fail outcomes; the 95 % level is fixed because the report never shows another.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal quantile for a two-sided 95 % interval


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PassRate:
    """How many items passed out of how many, the rate, and its 95 % Wilson score interval."""

    passed: int
    total: int
    rate: float
    interval: Interval


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus baseline on the same items: the difference in pass rate and its 95 % interval.

    `candidate_only` and `baseline_only` count the discordant items (one passed, the other failed); only they
    carry information about the difference. `significant` means the interval excludes 0: one method decides,
    so the verdict never disagrees with the interval printed beside it.
    """

    items: int
    baseline: PassRate
    candidate: PassRate
    candidate_only: int
    baseline_only: int
    difference: float
    interval: Interval

    @property
    def significant(self) -> bool:
        return not self.interval.contains(0.0)

    def statement(self) -> str:
        """One plain sentence for the report, e.g. `+4.0 points (95 % CI -1.2 to +9.1): not significant ...`."""
        figures = (
            f"{self.difference * 100:+.1f} points (95 % CI {self.interval.low * 100:+.1f} to "
            f"{self.interval.high * 100:+.1f}; {self.candidate_only} items only the candidate passed, "
            f"{self.baseline_only} only the baseline)"
        )
        if self.significant:
            better = "better" if self.difference > 0 else "worse"
            return f"{figures}: the candidate is significantly {better} at the 5 % level."
        return f"{figures}: not significant at the 5 % level (the interval includes 0)."


def wilson_interval(successes: int, total: int, z: float = Z_95) -> Interval:
    """The Wilson score interval for a binomial proportion (no continuity correction)."""
    if total <= 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total and total > 0, got {successes}/{total}")
    rate = successes / total
    centre = rate + z * z / (2 * total)
    spread = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total))
    denominator = 1 + z * z / total
    # Clamp the rounding noise at the ends (0/n must give exactly 0 as its lower bound).
    return Interval(max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator))


def pass_rate(outcomes: Sequence[bool]) -> PassRate:
    passed = sum(outcomes)
    interval = wilson_interval(passed, len(outcomes))  # first: it refuses an empty run
    return PassRate(passed, len(outcomes), passed / len(outcomes), interval)


def compare_paired(baseline: Sequence[bool], candidate: Sequence[bool]) -> PairedComparison:
    """Candidate minus baseline, item by item (both sequences in the same item order).

    The interval is Newcombe's square-and-add interval for paired proportions (Newcombe 1998, method 10: Wilson
    intervals of both rates combined with their estimated correlation, corrected as in Altman et al.,
    "Statistics with Confidence", 2000).
    """
    if len(baseline) != len(candidate):
        raise ValueError(f"paired outcomes need the same items: {len(baseline)} vs {len(candidate)}")
    if not baseline:
        raise ValueError("no items to compare")
    both = sum(1 for b, c in zip(baseline, candidate, strict=True) if b and c)
    candidate_only = sum(1 for b, c in zip(baseline, candidate, strict=True) if c and not b)
    baseline_only = sum(1 for b, c in zip(baseline, candidate, strict=True) if b and not c)
    neither = len(baseline) - both - candidate_only - baseline_only
    candidate_rate, baseline_rate = pass_rate(candidate), pass_rate(baseline)
    return PairedComparison(
        items=len(baseline),
        baseline=baseline_rate,
        candidate=candidate_rate,
        candidate_only=candidate_only,
        baseline_only=baseline_only,
        difference=candidate_rate.rate - baseline_rate.rate,
        interval=_newcombe_paired(both, candidate_only, baseline_only, neither, candidate_rate, baseline_rate),
    )


def _newcombe_paired(
    both: int, first_only: int, second_only: int, neither: int, first: PassRate, second: PassRate
) -> Interval:
    """The interval of first.rate - second.rate from the paired 2x2 table [[both, first_only], [second_only, neither]]."""
    n = both + first_only + second_only + neither
    margins = (both + first_only) * (second_only + neither) * (both + second_only) * (first_only + neither)
    cross = both * neither - first_only * second_only
    # The correlation of the two rates, shrunk towards 0 by half an item (the correction Newcombe recommends).
    if margins == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    else:
        phi = cross / math.sqrt(margins)
    p1, (l1, u1) = first.rate, (first.interval.low, first.interval.high)
    p2, (l2, u2) = second.rate, (second.interval.low, second.interval.high)
    difference = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return Interval(max(-1.0, difference - below), min(1.0, difference + above))
