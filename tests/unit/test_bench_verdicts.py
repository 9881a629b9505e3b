"""`make bench` says whether the POST-to-SUCCEEDED path is within its budgets (issue:
one subnet seen within 8 round trips; 8 and 24 subnets within 1.25x and 1.5x of one)."""

from __future__ import annotations

import pytest

from bench.aws_calls import _verdicts
from bench.pool_posts import verdict as pool_verdict


@pytest.mark.parametrize(
    ("subnets", "seen", "ratio", "verdict"),
    [
        (1, 7.1, 1.0, "within budget"),
        (1, 8.0, 1.0, "within budget"),
        (1, 8.1, 1.0, "OVER BUDGET"),
        (8, 99.0, 1.25, "within budget"),
        (8, 0.0, 1.26, "OVER BUDGET"),
        (24, 99.0, 1.5, "within budget"),
        (24, 0.0, 1.51, "OVER BUDGET"),
    ],
)
def test_each_size_is_judged_against_its_own_budget_on_every_measure(
    subnets: int, seen: float, ratio: float, verdict: str
) -> None:
    """Every measure gets its verdict (none is picked where it passes): one subnet's
    seen in the runs and on average, the sizes' ratios recorded and seen on average."""
    lines = _verdicts(
        subnets, {"in these runs": seen, "on average": 7.0}, {"recorded": ratio, "seen": 1.0}
    )
    assert len(lines) == 2
    first, second = lines
    assert first.endswith(verdict), first
    assert second.endswith("within budget"), second
    assert first.lstrip().startswith(f"{subnets} subnet")


@pytest.mark.parametrize(
    ("calls", "said"),
    [(2.0, "within budget"), (2.5, "within budget"), (2.6, "OVER BUDGET"), (-12.7, "NOT MEASURED")],
)
def test_a_posts_calls_in_a_row_below_one_are_noise_not_within_budget(
    calls: float, said: str
) -> None:
    assert pool_verdict(calls).startswith(said)
