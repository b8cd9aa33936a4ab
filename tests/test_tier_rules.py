"""The ladder's rules without a database: reaching and keeping tiers, grace, downgrade modes, the schedule, progress."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from gateway.plugin_api import TierInfo
from gateway.tiers import (
    DowngradeMode,
    Ladder,
    Outcome,
    Standing,
    TierPolicy,
    TierRule,
    plain_decimal,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2027, 3, 1, tzinfo=SHANGHAI).astimezone(UTC)


def _rule(code: str, rank: int, threshold: int, *, min_formats: int | None = None, retention: int | None = None) -> TierRule:
    info = TierInfo(code=code, name=code.title(), rank=rank, threshold=threshold, multiplier=Decimal("1"))
    return TierRule(info=info, min_formats=min_formats, retention_threshold=retention)


def _ladder(**policy: object) -> Ladder:
    return Ladder(
        (
            _rule("member", 0, 0),
            _rule("silver", 1, 2000),
            _rule("gold", 2, 6000, retention=5000),
            _rule("diamond", 3, 15000, min_formats=2),
        ),
        TierPolicy(**policy),  # type: ignore[arg-type]
    )


def test_the_reached_tier_needs_both_the_threshold_and_the_breadth_rule() -> None:
    ladder = _ladder()
    assert ladder.reached(Standing(16000, 1)).code == "gold"
    assert ladder.reached(Standing(16000, 2)).code == "diamond"
    assert ladder.reached(Standing(1999, 3)).code == "member"


def test_an_earn_upgrades_but_never_downgrades() -> None:
    ladder = _ladder()
    assert ladder.after_earning(ladder.get("member"), Standing(2000, 1)).code == "silver"
    assert ladder.after_earning(ladder.get("gold"), Standing(100, 1)).code == "gold"


def test_a_member_meeting_the_retention_threshold_keeps_its_tier() -> None:
    verdict = _ladder().evaluate("gold", None, Standing(5000, 1), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code, verdict.grace_until) == (Outcome.UNCHANGED, "gold", None)


def test_without_grace_a_failing_member_moves_down_one_step_at_once() -> None:
    verdict = _ladder().evaluate("diamond", None, Standing(0, 0), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code) == (Outcome.DOWNGRADED, "gold")


def test_to_qualified_mode_moves_straight_to_the_highest_tier_kept() -> None:
    ladder = _ladder(downgrade=DowngradeMode.TO_QUALIFIED)
    assert ladder.evaluate("diamond", None, Standing(2500, 1), at=AT, zone=SHANGHAI).tier.code == "silver"
    assert ladder.evaluate("diamond", None, Standing(0, 0), at=AT, zone=SHANGHAI).tier.code == "member"


def test_the_breadth_rule_applies_at_evaluation_too() -> None:
    verdict = _ladder().evaluate("diamond", None, Standing(20000, 1), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code) == (Outcome.DOWNGRADED, "gold")


def test_the_first_failure_starts_grace_that_ends_grace_months_later() -> None:
    verdict = _ladder(grace_months=3).evaluate("gold", None, Standing(100, 1), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code) == (Outcome.GRACE_STARTED, "gold")
    assert verdict.grace_until == datetime(2027, 6, 1, tzinfo=SHANGHAI)


def test_a_member_still_failing_keeps_its_tier_until_grace_ends_then_moves_down() -> None:
    ladder = _ladder(grace_months=3)
    grace_until = datetime(2027, 6, 1, tzinfo=SHANGHAI)
    during = ladder.evaluate("gold", grace_until, Standing(100, 1), at=datetime(2027, 5, 1, tzinfo=SHANGHAI), zone=SHANGHAI)
    after = ladder.evaluate("gold", grace_until, Standing(100, 1), at=grace_until, zone=SHANGHAI)
    assert (during.outcome, during.tier.code, during.grace_until) == (Outcome.IN_GRACE, "gold", grace_until)
    assert (after.outcome, after.tier.code, after.grace_until) == (Outcome.DOWNGRADED, "silver", None)


def test_requalifying_during_grace_clears_it() -> None:
    grace_until = datetime(2027, 6, 1, tzinfo=SHANGHAI)
    verdict = _ladder(grace_months=3).evaluate("gold", grace_until, Standing(5200, 1), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code, verdict.grace_until) == (Outcome.REQUALIFIED, "gold", None)


def test_an_evaluation_upgrades_a_member_who_reached_a_higher_tier() -> None:
    verdict = _ladder().evaluate("member", None, Standing(6100, 1), at=AT, zone=SHANGHAI)
    assert (verdict.outcome, verdict.tier.code) == (Outcome.UPGRADED, "gold")


def test_the_entry_tier_is_never_left_by_evaluation() -> None:
    verdict = _ladder().evaluate("member", None, Standing(0, 0), at=AT, zone=SHANGHAI)
    assert verdict.outcome is Outcome.UNCHANGED


@pytest.mark.parametrize(
    ("every", "day", "now", "last", "upcoming"),
    [
        (1, 1, datetime(2027, 3, 15, 9), datetime(2027, 3, 1), datetime(2027, 4, 1)),
        (1, 1, datetime(2027, 3, 1, 0), datetime(2027, 3, 1), datetime(2027, 4, 1)),
        (3, 5, datetime(2027, 3, 15), datetime(2027, 1, 5), datetime(2027, 4, 5)),
        (12, 1, datetime(2027, 3, 15), datetime(2027, 1, 1), datetime(2028, 1, 1)),
        (1, 28, datetime(2027, 1, 2), datetime(2026, 12, 28), datetime(2027, 1, 28)),
    ],
)
def test_evaluations_fall_on_the_schedule_at_midnight_in_the_groups_time_zone(
    every: int, day: int, now: datetime, last: datetime, upcoming: datetime
) -> None:
    policy = TierPolicy(evaluation_every_months=every, evaluation_day=day)
    moment = now.replace(tzinfo=SHANGHAI)
    assert policy.last_evaluation(moment, SHANGHAI) == last.replace(tzinfo=SHANGHAI)
    assert policy.next_evaluation(moment, SHANGHAI) == upcoming.replace(tzinfo=SHANGHAI)


def test_the_window_ends_where_it_is_measured_and_spans_window_months() -> None:
    assert TierPolicy(window_months=12).window_start(AT, SHANGHAI) == datetime(2026, 3, 1, tzinfo=SHANGHAI)


def test_progress_counts_only_growth_still_in_the_window_at_the_next_evaluation() -> None:
    progress = _ladder().progress(
        "gold",
        now_standing=Standing(6500, 1),
        standing_at_evaluation=Standing(4200, 1),
        window_start=AT,
        next_evaluation=AT,
        grace_until=None,
    )
    assert (progress.growth_value, progress.growth_to_next, progress.formats_to_next) == (6500, 8500, 1)
    assert (progress.growth_to_keep, progress.formats_to_keep) == (800, 0)


def test_multipliers_read_plainly() -> None:
    assert [str(plain_decimal(Decimal(text))) for text in ("1.000", "1.250", "10", "100.0")] == ["1", "1.25", "10", "100"]
