"""What an activity would earn now, writing nothing: the service behind ``previewEarn``.

The preview validates the activity exactly as :func:`gateway.ledger.earn.record_activity` does and
plans it with the same planner (:func:`gateway.campaigns.awards.plan_activity`) on the same facts:
the member's tier, birth date and month's activity, the campaigns' budgets and the member's usage.
It runs in a read transaction and takes no lock, so it answers "what would this earn if recorded
now"; a concurrent earn may still use up a budget before the real one is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.campaigns.awards import ActivityPlan, plan_activity
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import find_member_id
from gateway.ledger.earn import _draft, activity_kind, member_context
from gateway.ledger.postings import MemberRef, require_active
from gateway.ledger.tender_values import non_money_paid
from gateway.ledger.tenders import Tenders
from gateway.members import get_members
from gateway.plugin_api import Activity, TierInfo
from gateway.plugin_settings import current_settings
from gateway.tier_upgrade import tier_after_earn
from gateway.tiers import current_ladder

PREVIEW_REFERENCE = "preview"
"""The activity's ``reference`` in a preview (a real earn passes its idempotency key)."""


@dataclass(frozen=True)
class EarnPreview:
    """What the activity would earn: the plan (lines, lots, campaigns), the tier it would leave the member in."""

    member_id: int
    format: str
    kind: str
    plan: ActivityPlan
    balance_before: int
    tier_before: TierInfo
    tier_after: TierInfo

    @property
    def balance_after(self) -> int:
        """The member's available points after the earn."""
        return self.balance_before + self.plan.earn.available

    def points_of(self, prefix: str) -> int:
        """Points of the lines whose rule starts with ``prefix`` (``tier.``, ``campaign.``)."""
        return sum(line["points"] for line in self.plan.earn.lines if line["rule"].startswith(prefix))


async def preview_earn(
    core: Core, member: MemberRef, format_code: str, kind_name: str, raw_input: Any, *, now: datetime, tenders: Tenders = Tenders()
) -> EarnPreview:
    """What recording ``raw_input`` as a ``format_code`` ``kind_name`` activity would earn now; writes nothing.

    Bad input raises the same typed errors the earn would; so does a frozen, erased or unknown member,
    and a tender (``tenders``: points offsets, coupons) the earn would refuse.
    """
    kind = activity_kind(core, format_code, kind_name)
    draft = _draft(core, kind, raw_input, now)
    settings = await current_settings(core, kind.format)
    ladder = await current_ladder(core)
    async with core.db.read() as conn:
        member_id = member.member_id if member.identity is None else await find_member_id(conn, member.identity)
        (row,) = await get_members(conn, [member_id], now=now.astimezone(UTC)) if member_id is not None else [None]
        if row is None:
            raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, "No such member.", "member")
        require_active(row)
        context = member_context(core, row, ladder)
        money_paid = None
        if tenders:
            money_paid, _ = await non_money_paid(
                conn, tenders, member_id=row.id, format_code=kind.format, bill=draft.amount, now=now.astimezone(UTC)
            )
        activity = Activity(
            format=kind.format,
            kind=kind.name,
            reference=PREVIEW_REFERENCE,
            amount=draft.amount,
            occurred_at=(draft.occurred_at or now).astimezone(UTC),
            store=draft.store,
            details=dict(draft.details),
            settings=settings,
            money_paid=money_paid,
        )
        plan = await plan_activity(core, conn, row, activity, context, now=now, lock=False)
        upgrade = await tier_after_earn(
            conn, ladder, core.settings.zone, row.id, context.tier, activity=activity, growth=plan.earn.growth,
            growth_value=row.growth_value, now=now,
        )
    return EarnPreview(
        member_id=row.id,
        format=kind.format,
        kind=kind.name,
        plan=plan,
        balance_before=row.available_points,
        tier_before=context.tier,
        tier_after=upgrade.after,
    )
