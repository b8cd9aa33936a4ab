"""Evaluating every member's tier as of an evaluation date: downgrades, grace, and upgrades the earns missed.

The members are read in batches of ``batch_size`` in id order. Each batch is one write
transaction of a fixed number of statements whatever its size: lock and read the batch's
members, one aggregate of their standings (:func:`gateway.tier_qualification.standings` over
the id range), one batched update of the members whose tier or grace changes, one batched
insert of their history rows. Memory stays bounded by the batch; progress is reported after
each batch; plugins hear of tier changes after each batch commits.

The standing counts activity of the window ending at ``at`` (and recorded before it): a rerun for
the same date sees the same activity. A member whose row the evaluation changed is marked with
``tier_decided_at = at`` and skipped by a rerun for that date, so running the evaluation twice
(or resuming one that was interrupted) never moves a member twice: the second run changes
nothing. A member whose tier was decided after ``at`` (upgraded by an earn, assigned by an admin,
merged) is skipped too: that decision used newer activity than the evaluation sees. Merged-away
and erased records are not evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.persistence.models import member_table
from gateway.plugin_api import TierChange
from gateway.tier_history import (
    TierChangeSource,
    change_reason,
    history_row,
    write_tier_changes,
)
from gateway.tier_qualification import standings
from gateway.tiers import Ladder, Outcome, Standing, Verdict

EVALUATED_STATUSES = ("active", "frozen")
DEFAULT_BATCH = 2000


@dataclass
class EvaluationReport:
    """What one evaluation run did."""

    at: datetime
    evaluated: int = 0
    skipped: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=lambda: {outcome: 0 for outcome in Outcome})

    @property
    def upgraded(self) -> int:
        """Members moved up (a lowered threshold, activity recorded late)."""
        return self.outcomes[Outcome.UPGRADED]

    @property
    def downgraded(self) -> int:
        """Members moved down."""
        return self.outcomes[Outcome.DOWNGRADED]

    @property
    def kept_in_grace(self) -> int:
        """Members that failed to keep their tier and keep it for now: grace started at this run or still running."""
        return self.outcomes[Outcome.GRACE_STARTED] + self.outcomes[Outcome.IN_GRACE]

    @property
    def changed(self) -> int:
        """Members whose row this run wrote."""
        return sum(count for outcome, count in self.outcomes.items() if outcome in _WRITTEN)


_WRITTEN = {Outcome.UPGRADED, Outcome.REQUALIFIED, Outcome.GRACE_STARTED, Outcome.DOWNGRADED}


def _evaluable(at: datetime) -> Any:
    table = member_table
    return and_(
        table.c.status.in_(EVALUATED_STATUSES),
        or_(table.c.tier_decided_at.is_(None), table.c.tier_decided_at < at),
    )


async def members_to_evaluate(core: Core, *, at: datetime) -> tuple[int, int]:
    """``(to evaluate, already evaluated for at)`` among members that take part (one statement)."""
    table = member_table
    done = table.c.tier_decided_at.is_not(None) & (table.c.tier_decided_at >= at)
    query = select(func.count(), func.coalesce(func.sum(case((done, 1), else_=0)), 0)).where(
        table.c.status.in_(EVALUATED_STATUSES)
    )
    async with core.db.read() as conn:
        total, already = (await conn.execute(query)).one()
    return int(total) - int(already), int(already)


async def _batch(conn: AsyncConnection, after: int, limit: int, at: datetime) -> list[Any]:
    table = member_table
    query = (
        select(table.c.id, table.c.tier_code, table.c.tier_grace_until)
        .where(table.c.id > after, _evaluable(at))
        .order_by(table.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return list((await conn.execute(query)).all())


_UPDATE = (
    update(member_table)
    .where(member_table.c.id == bindparam("b_id"))
    .values(
        tier_code=bindparam("b_tier"),
        tier_grace_until=bindparam("b_grace"),
        tier_decided_at=bindparam("b_at"),
    )
)


async def evaluate_tiers(
    core: Core,
    ladder: Ladder,
    *,
    at: datetime,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Evaluate every member as of ``at`` (an evaluation instant) on ``ladder``; see the module docstring."""
    at = at.astimezone(UTC)
    zone = core.settings.zone
    since = ladder.policy.window_start(at, zone)
    report = EvaluationReport(at=at)
    report.skipped = (await members_to_evaluate(core, at=at))[1]
    after = 0
    while True:
        changes: list[TierChange] = []
        async with core.db.write() as conn:
            members = await _batch(conn, after, batch_size, at)
            if not members:
                break
            first, after = members[0].id, members[-1].id
            found = await standings(conn, id_range=(first, after), since=[since], until=at)
            updates: list[dict[str, Any]] = []
            history: list[dict[str, Any]] = []
            for member in members:
                standing = found.get(member.id, (Standing(),))[0]
                verdict = ladder.evaluate(member.tier_code, member.tier_grace_until, standing, at=at, zone=zone)
                report.outcomes[verdict.outcome] += 1
                if not verdict.changes_member:
                    continue
                updates.append({"b_id": member.id, "b_tier": verdict.tier.code, "b_grace": verdict.grace_until, "b_at": at})
                if verdict.tier.code != member.tier_code:
                    change = _change(ladder, member, verdict, standing)
                    changes.append(change)
                    history.append(
                        history_row(
                            member.id,
                            change.previous,
                            change.current,
                            source=TierChangeSource.EVALUATION,
                            reason=change.reason,
                            standing=standing,
                            at=at,
                        )
                    )
            if updates:
                await conn.execute(_UPDATE, updates)
            await write_tier_changes(conn, history)
        report.evaluated += len(members)
        for change in changes:
            core.host.notify_tier_change(change)
        if progress is not None:
            progress(len(members))
    return report


def _change(ladder: Ladder, member: Any, verdict: Verdict, standing: Standing) -> TierChange:
    previous = ladder.get(member.tier_code)
    reason = change_reason(previous, verdict.tier, standing, ladder.policy.window_months)
    if verdict.outcome is Outcome.DOWNGRADED:
        rule = ladder.rule(previous.code)
        formats = f" in {rule.min_formats} formats" if rule.min_formats else ""
        reason += f"; keeping {previous.name} needs {rule.keep_threshold:,}{formats}"
    return TierChange(member.id, previous, verdict.tier, reason)
