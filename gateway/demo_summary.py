"""What ``atrium demo load`` prints when it is done: the group's four months in a dozen lines."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from gateway.core import Core
from gateway.demo_runner import Runner
from gateway.money import Money
from gateway.persistence.benefit_tables import benefit_use_table
from gateway.persistence.campaign_tables import campaign_budget_table
from gateway.persistence.coupon_tables import coupon_table
from gateway.persistence.models import member_table, posting_table
from gateway.persistence.tier_tables import member_tier_history_table
from gateway.settlement.report import settlement_report
from gateway.tier_history import TierChangeSource
from gateway.tiers import current_ladder


def _counts(rows: list[tuple[str, int]]) -> str:
    return " · ".join(f"{count} {name}" for name, count in rows) or "none"


async def summary(core: Core, runner: Runner, *, launch: date, anchor: date, elapsed: float) -> str:
    """The printable summary of a finished load: members, postings, tiers, campaigns, benefits, coupons, settlement."""
    posting, member, history = posting_table, member_table, member_tier_history_table
    async with core.db.read() as conn:
        members = await conn.scalar(select(func.count()).select_from(member))
        born = await conn.scalar(select(func.count()).select_from(member).where(member.c.birth_date.is_not(None)))
        carried = await conn.scalar(select(func.count()).where(history.c.source == TierChangeSource.ADMIN.value))
        by_kind = select(posting.c.kind, posting.c.format, func.count(), func.sum(posting.c.points)).group_by(posting.c.kind, posting.c.format)
        rows = (await conn.execute(by_kind)).all()
        tiers = dict((await conn.execute(select(member.c.tier_code, func.count()).group_by(member.c.tier_code))).all())
        budgets = (await conn.execute(select(campaign_budget_table).order_by(campaign_budget_table.c.campaign_code))).mappings().all()
        uses = benefit_use_table
        used = (await conn.execute(
            select(uses.c.benefit, func.count()).where(uses.c.cancelled_at.is_(None)).group_by(uses.c.benefit).order_by(uses.c.benefit)
        )).all()
        status = coupon_table.c.status
        coupons = (await conn.execute(select(status, func.count()).group_by(status).order_by(status))).all()
    ladder = await current_ladder(core)
    report = await settlement_report(core, launch, anchor - timedelta(days=1), field=None)
    issued = sum(int(r[3] or 0) for r in rows if r[0] == "earn")
    redeemed = -sum(int(r[3] or 0) for r in rows if r[0] == "redeem")
    refunds = [r for r in rows if r[0] == "reverse"]
    by_format = ", ".join(f"{fmt} {sum(r[2] for r in rows if r[1] == fmt)}" for fmt in sorted({r[1] for r in rows}))
    distribution = " · ".join(f"{tier.name} {tiers.get(tier.code, 0)}" for tier in ladder.tiers)
    evaluations = runner.nightly.evaluations
    graced = sum(e.kept_in_grace for e in evaluations)
    down = sum(e.downgraded for e in evaluations)
    spent = " · ".join(
        f"{b['campaign_code']} {int(b['issued']):,}" + (f" of {int(b['cap']):,}" if b["cap"] is not None else "") for b in budgets
    )
    nets = ", ".join(f"{party.code} {Money(party.net, report.currency).format()}" for party in report.parties if party.net)
    return (
        f"Demo data loaded in {elapsed:.1f}s ({runner.calls} GraphQL operations), "
        f"{launch:%Y-%m-%d} to {anchor - timedelta(days=1):%Y-%m-%d}.\n"
        f"  members:    {members} ({born} gave a birth date, {carried} brought a tier from an old card)\n"
        f"  postings:   {sum(r[2] for r in rows)} ({by_format})\n"
        f"  points:     {issued} issued, {redeemed} redeemed, {-sum(int(r[3] or 0) for r in refunds)} taken back by "
        f"{sum(r[2] for r in refunds)} returns and refunds\n"
        f"  tiers:      {distribution} ({len(evaluations)} evaluations: {graced} kept in grace, {down} moved down)\n"
        f"  campaigns:  {spent or 'none'} points paid\n"
        f"  benefits:   {_counts([(b, n) for b, n in used])} uses\n"
        f"  coupons:    {_counts([(s, n) for s, n in coupons])}\n"
        f"  settlement: {Money(report.settled_value, report.currency).format()} between formats (net {nets or 'nothing'})"
    )
