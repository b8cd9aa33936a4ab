"""Verify the counters kept beside the ledger: benefit quota counters and campaign budgets.

- **Benefit counters.** Each ``benefit_counter`` row (member, benefit, period) says how much of a
  quota'd benefit the member used in the period; it must equal the quantities of that member's
  uses of the benefit in the period that were not cancelled (a cancellation gives its quantity
  back), and every such use must have its counter. A merge moves uses and sums counters
  (:mod:`gateway.merge_carry`), so this holds on the survivor too.
- **Campaign budgets.** ``campaign_budget.issued`` is what the campaign paid out: the sum of the
  ``campaign.<code>`` lines of ``earn`` postings (:mod:`gateway.campaigns.awards`). Nothing is
  subtracted: a refund claws points back from the member but gives no budget back, so the budget
  counts what was paid, not what was kept.

The benefit check is two statements returning only the rows that differ; the campaign check reads
the earn postings carrying campaign lines a batch at a time (:data:`gateway.ledger.discrepancy.BATCH`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.discrepancy import Discrepancy, keyset_batches
from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.campaign_tables import campaign_budget_table
from gateway.persistence.models import posting_table

CAMPAIGN_RULE = "campaign."
"""Lines of an earn whose ``rule`` starts with this are campaign awards: ``campaign.<code>``."""


async def benefit_counter_discrepancies(conn: AsyncConnection) -> list[Discrepancy]:
    """Counters that differ from the member's uses (not cancelled) of the benefit in the period, and uses without a counter."""
    use, counter = benefit_use_table, benefit_counter_table
    uses = (
        select(use.c.member_id, use.c.benefit, use.c.period_start, func.sum(use.c.quantity).label("total"))
        .where(use.c.cancelled_at.is_(None) & use.c.period_start.is_not(None))
        .group_by(use.c.member_id, use.c.benefit, use.c.period_start)
        .subquery("uses")
    )
    same = (uses.c.member_id == counter.c.member_id) & (uses.c.benefit == counter.c.benefit) & (uses.c.period_start == counter.c.period_start)
    counted = func.coalesce(uses.c.total, 0)
    differing = (
        select(counter.c.member_id, counter.c.benefit, counter.c.period_start, counter.c.used, counted)
        .select_from(counter.outerjoin(uses, same))
        .where(counter.c.used != counted)
        .order_by(counter.c.member_id, counter.c.benefit, counter.c.period_start)
    )
    uncounted = (
        select(uses.c.member_id, uses.c.benefit, uses.c.period_start, uses.c.total)
        .select_from(uses.outerjoin(counter, same))
        .where(counter.c.id.is_(None) & (uses.c.total != 0))
        .order_by(uses.c.member_id, uses.c.benefit, uses.c.period_start)
    )
    found = [
        Discrepancy(
            f"benefit {benefit} counter for the period from {start.isoformat()} says {used} used, "
            f"its uses that were not cancelled say {total}",
            member_id=int(member_id),
        )
        for member_id, benefit, start, used, total in (await conn.execute(differing)).all()
    ]
    found += [
        Discrepancy(
            f"benefit {benefit} has uses of {total} in the period from {start.isoformat()} but no counter",
            member_id=int(member_id),
        )
        for member_id, benefit, start, total in (await conn.execute(uncounted)).all()
    ]
    return found


async def campaign_budget_discrepancies(conn: AsyncConnection) -> list[Discrepancy]:
    """Campaigns whose budget's ``issued`` is not the sum of their award lines in earn postings."""

    def earns(after: int) -> Select[Any]:
        return (
            select(posting_table.c.id, posting_table.c.lines)
            .where(
                (posting_table.c.id > after)
                & (posting_table.c.kind == "earn")
                & cast(posting_table.c.lines, Text).like(f"%{CAMPAIGN_RULE}%")
            )
            .order_by(posting_table.c.id)
        )

    awarded: dict[str, int] = defaultdict(int)
    async for batch in keyset_batches(conn, earns, key=lambda row: int(row.id)):
        for row in batch:
            for line in row.lines or ():
                rule = line.get("rule", "") if isinstance(line, dict) else ""
                if rule.startswith(CAMPAIGN_RULE):
                    awarded[rule.removeprefix(CAMPAIGN_RULE)] += int(line.get("points", 0))
    budgets = dict(
        (await conn.execute(select(campaign_budget_table.c.campaign_code, campaign_budget_table.c.issued))).all()
    )
    found = []
    for code in sorted(budgets.keys() | awarded.keys()):
        if code not in budgets:
            found.append(Discrepancy(f"earn postings award {awarded[code]} pts but the campaign has no budget", campaign=code))
        elif int(budgets[code]) != awarded.get(code, 0):
            found.append(
                Discrepancy(
                    f"budget says {int(budgets[code])} pts issued, its award lines in earn postings sum to {awarded.get(code, 0)}",
                    campaign=code,
                )
            )
    return found
