"""The demo's nightly jobs: what a scheduler runs every night, played on each night of the demo's history.

``atrium ledger expire`` (lapsed holds voided, lots past their date expired, unused coupons past
theirs marked expired) and ``atrium tiers evaluate`` (every member as of the latest scheduled
evaluation, once per evaluation date: grace, downgrades, missed upgrades). The services are the
commands' own; a rerun for a date changes nothing, so a resumed load replays them safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from gateway.core import Core
from gateway.coupons import expire_coupons
from gateway.ledger.expiry import expire_points
from gateway.ledger.holds import sweep_holds
from gateway.persistence.tier_tables import member_tier_history_table
from gateway.tier_evaluation import EvaluationReport, evaluate_tiers
from gateway.tier_history import TierChangeSource
from gateway.tiers import current_ladder


@dataclass
class Nightly:
    """Runs the nightly jobs and keeps what the evaluations did; ``since``: no evaluation at or before it."""

    core: Core
    since: datetime | None = None
    evaluations: list[EvaluationReport] = field(default_factory=list)
    expired_coupons: int = 0
    _evaluated: datetime | None = None

    async def run(self, at: datetime, tiers_changed: Callable[[dict[int, str]], None]) -> None:
        """The night's jobs as of ``at``; ``tiers_changed`` hears ``{member number: tier code}`` an evaluation set."""
        core = self.core
        await sweep_holds(core, now=at)
        await expire_points(core, now=at)
        self.expired_coupons += await expire_coupons(core, now=at)
        ladder = await current_ladder(core)
        due = ladder.policy.last_evaluation(at, core.settings.zone)
        if due == self._evaluated or (self.since is not None and due <= self.since):
            return
        self._evaluated = due
        self.evaluations.append(await evaluate_tiers(core, ladder, at=due))
        tiers_changed(await _moved_by_evaluation(core, due))


async def _moved_by_evaluation(core: Core, at: datetime) -> dict[int, str]:
    """The tier each member was moved to by the evaluation at ``at`` (read from the tier history, so a rerun sees the first run's moves)."""
    table = member_tier_history_table
    query = select(table.c.member_id, table.c.to_tier).where(
        (table.c.source == TierChangeSource.EVALUATION.value) & (table.c.at == at)
    )
    async with core.db.read() as conn:
        return {int(member_id): str(tier) for member_id, tier in (await conn.execute(query)).all()}
