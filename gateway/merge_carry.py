"""What a merge carries to the survivor besides points: coupons, benefit uses and quotas, campaign usage.

:func:`gateway.merge.merge_members` calls :func:`carry_member_state` in its write transaction,
with both member rows locked. Each table is handled by what its rows are:

- **Coupons** (``coupon.member_id``) are moved: they are live vouchers, like lots and holds, and
  the survivor's tills and app use or cancel them (readers also follow a merge, for coupons of
  records merged before this module existed).
- **Benefit uses** (``benefit_use.member_id``) are moved: a use is the survivor's now, so its
  cancellation gives the quota back on the survivor's counter, and the counters stay equal to the
  uses they count (``atrium ledger verify`` checks it). The use keeps the period and the
  ``used_in_period`` it answered at the time.
- **Quota counters** (``benefit_counter``, one row per member, benefit and period) are summed: for
  a period both records used, the survivor's row gets the other's ``used`` added and the other's
  row goes; a period only the merged record used moves over. The sum may exceed the quota: one
  person used both records' allowance, so the survivor has nothing left that period (the guarded
  ``used + quantity <= quota`` update refuses) and the wall shows ``0`` remaining, never less.
- **Campaign per-member usage** (``campaign_member_usage``, keyed by campaign, member and limit
  period) is summed the same way, so a per-member limit counts both records' campaign points.
  Campaign budgets are per campaign, not per member: they do not move.

Not moved, because they are history read through ``member.merged_into_id``: postings (and with
them the cross-format check-in's formats used this month, :mod:`gateway.campaigns.awards`) and
the tier history (:func:`gateway.tier_history.tier_histories` lists both records' changes).
Every statement is keyed by the two member ids, so the cost is that of the rows moved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.campaign_tables import campaign_member_usage_table
from gateway.persistence.coupon_tables import coupon_table


async def carry_member_state(conn: AsyncConnection, *, survivor_id: int, merged_id: int) -> dict[str, int]:
    """Move or sum every per-member row of ``merged_id`` onto ``survivor_id``; rows touched, by table.

    Runs in the caller's transaction (the merge's), which must hold both members' locks.
    """
    carried = {
        "coupons": await _move(conn, coupon_table, survivor_id, merged_id),
        "benefit_uses": await _move(conn, benefit_use_table, survivor_id, merged_id),
        "benefit_counters": await _sum_counters(
            conn, benefit_counter_table, ("benefit", "period_start"), "used", survivor_id=survivor_id, merged_id=merged_id
        ),
        "campaign_usage": await _sum_counters(
            conn, campaign_member_usage_table, ("campaign_code", "period"), "issued", survivor_id=survivor_id, merged_id=merged_id
        ),
    }
    return carried


async def _move(conn: AsyncConnection, table: Table, survivor_id: int, merged_id: int) -> int:
    """Reassign every row of ``merged_id`` in ``table`` to the survivor; how many."""
    result = await conn.execute(update(table).where(table.c.member_id == merged_id).values(member_id=survivor_id))
    return int(result.rowcount)


async def _sum_counters(
    conn: AsyncConnection, table: Table, key: tuple[str, ...], amount: str, *, survivor_id: int, merged_id: int
) -> int:
    """Fold the merged member's counters into the survivor's: the unique key is ``member_id`` plus ``key``.

    Three statements: add the merged row's ``amount`` to the survivor's row with the same key,
    delete those merged rows, and reassign the rest. Returns how many merged rows were carried.
    """
    merged_row, survivor_row = table.alias("merged_counter"), table.alias("survivor_counter")
    merged_twin = (merged_row.c.member_id == merged_id) & _same_key(merged_row, table, key)
    survivor_twin = (survivor_row.c.member_id == survivor_id) & _same_key(survivor_row, table, key)
    summed = await conn.execute(
        update(table)
        .where((table.c.member_id == survivor_id) & exists().where(merged_twin))
        .values({amount: table.c[amount] + select(merged_row.c[amount]).where(merged_twin).scalar_subquery()})
    )
    await conn.execute(delete(table).where((table.c.member_id == merged_id) & exists().where(survivor_twin)))
    moved = await conn.execute(update(table).where(table.c.member_id == merged_id).values(member_id=survivor_id))
    return int(summed.rowcount) + int(moved.rowcount)


def _same_key(one: Any, other: Any, key: tuple[str, ...]) -> Any:
    """``one`` and ``other`` (two aliases of one counter table) have equal ``key`` columns."""
    return and_(*(one.c[column] == other.c[column] for column in key))
