"""GraphQL types of benefits: the catalogue entry, the member's view of it (the benefits wall) and a use.

``Member.benefits`` (in :mod:`gateway.graphql.types`) resolves through :func:`member_benefits`:
the catalogue costs no SQL on a warm cache, and the usage of quota'd benefits is one statement
per request, batched over members by the ``benefit_usage`` data loader.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from gateway.benefits.catalogue import (
    BenefitDefinition,
    benefit_catalogue,
)
from gateway.benefits.eligibility import LockReason
from gateway.benefits.periods import earliest_start
from gateway.benefits.use import BenefitUseResult
from gateway.benefits.wall import benefit_wall, needs_counters
from gateway.core import Core
from gateway.graphql.context import Context
from gateway.graphql.types import BusinessFormat, Tier
from gateway.members import MemberRow
from gateway.persistence.models import GROUP_FORMAT
from gateway.plugin_api import BusinessFormat as FormatItem
from gateway.tiers import Ladder

GROUP = FormatItem(code=GROUP_FORMAT, name="Whole group", description="Shared benefits of the group, valid across formats.")
"""The ``format`` of shared benefits: their ids read ``group.<code>``."""

BenefitLockReasonEnum = strawberry.enum(
    LockReason, name="BenefitLockReason", description="Why a benefit cannot be used now."
)


@strawberry.enum(name="QuotaPeriod", description="How often a quota resets, at midnight in the group's time zone.")
class QuotaPeriodEnum(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@strawberry.type(description="A recurring allowance of a benefit.")
class Quota:
    count: int
    period: str = strawberry.field(description="day, week (from Monday), month, quarter or year, in the group's time zone.")


@strawberry.type(description="A benefit of a format, or a shared one of the whole group, unlocked from a minimum tier.")
class Benefit:
    id: str = strawberry.field(description="`<format>.<code>`, or `group.<code>` for a shared benefit; pass it to `useBenefit`.")
    code: str
    name: str
    description: str
    format: BusinessFormat = strawberry.field(description="The format offering it; `group` for a shared benefit.")
    min_tier: Tier
    quota: Quota | None
    shared: bool = strawberry.field(description="True for a benefit the group's admins defined.")
    usable_in: list[BusinessFormat] = strawberry.field(description="Formats where it can be used.")
    any_format: bool = strawberry.field(description="True when it can be used in every format, now and future ones.")
    valid_from: datetime | None = strawberry.field(description="First instant it can be used; null: always could.")
    valid_until: datetime | None = strawberry.field(description="Instant from which it can no longer be used; null: no end.")
    birthday_month: bool = strawberry.field(description="Usable only in the member's birth month.")
    active: bool = strawberry.field(description="False once retired (admins' listing only; the wall leaves retired ones off).")

    @classmethod
    def from_definition(cls, item: BenefitDefinition, core: Core, ladder: Ladder) -> Benefit:
        """Wrap a catalogue entry."""
        formats = core.registry.formats
        usable = item.formats or tuple(sorted(formats))
        return cls(
            id=item.id,
            code=item.code,
            name=item.name,
            description=item.description,
            format=BusinessFormat.from_item(GROUP if item.shared else formats[item.format]),
            min_tier=Tier.from_info(ladder.get(item.min_tier)),
            quota=Quota(count=item.quota.count, period=item.quota.period) if item.quota else None,
            shared=item.shared,
            usable_in=[BusinessFormat.from_item(formats[code]) for code in usable if code in formats],
            any_format=not item.formats,
            valid_from=item.valid_from,
            valid_until=item.valid_until,
            birthday_month=item.birthday_month,
            active=item.active,
        )


@strawberry.type(description="How much of a quota the member used in the current period.")
class BenefitUsage:
    count: int = strawberry.field(description="Uses allowed per period.")
    period: str
    used: int
    remaining: int
    period_start: datetime
    resets_at: datetime = strawberry.field(description="When the next period starts and the quota is whole again.")


@strawberry.type(description="A benefit as one member sees it: unlocked, or locked and why (`unlockedBy` names the tier).")
class MemberBenefit:
    benefit: Benefit
    unlocked: bool = strawberry.field(description="Whether the member can use it now, quota aside.")
    unlocked_by: Tier
    locked_reason: BenefitLockReasonEnum | None = strawberry.field(description="Why it is locked; null when unlocked.")  # type: ignore[valid-type]
    locked_message: str | None = strawberry.field(description="The reason in a sentence a member can read.")
    usage: BenefitUsage | None = strawberry.field(description="This period's use of a quota'd benefit; null without quota.")


@strawberry.type(description="One use of a benefit by a member (or the original one, on a replay).")
class BenefitUse:
    number: int = strawberry.field(description="The use's number.")
    benefit: str = strawberry.field(description="The benefit's id, e.g. `group.parking_2h`.")
    format: str | None = strawberry.field(description="Where it was used; null when not said.")
    quantity: int
    used_at: datetime
    cancelled_at: datetime | None = strawberry.field(description="When the use was cancelled and its quota given back.")
    quota: int | None = strawberry.field(description="The quota per period at the time; null without quota.")
    used_in_period: int | None = strawberry.field(description="Uses in the period right after this one.")
    remaining_in_period: int | None = strawberry.field(description="What was left of the quota right after this use.")
    period_start: datetime | None
    resets_at: datetime | None = strawberry.field(description="When the use's quota period ended or ends.")
    idempotency_key: str
    replayed: bool = strawberry.field(description="True when this answers a replayed idempotency key (or a repeated cancel).")
    member_id: strawberry.Private[int]

    @classmethod
    def from_result(cls, result: BenefitUseResult) -> BenefitUse:
        """Wrap a stored use."""
        return cls(
            number=result.id,
            benefit=result.benefit,
            format=result.format,
            quantity=result.quantity,
            used_at=result.used_at,
            cancelled_at=result.cancelled_at,
            quota=result.quota,
            used_in_period=result.used_in_period,
            remaining_in_period=result.remaining_in_period,
            period_start=result.period_start,
            resets_at=result.period_end,
            idempotency_key=result.idempotency_key,
            replayed=result.replayed,
            member_id=result.member_id,
        )


async def member_benefits(info: Info[Context, None], row: MemberRow) -> list[MemberBenefit]:
    """The member's benefits wall: catalogue from memory and cache, usage through the request's data loader."""
    core = info.context.core
    now = info.context.now()
    zone = core.settings.zone
    catalogue = await benefit_catalogue(core)
    ladder = await info.context.ladder()
    counters = {}
    if needs_counters(catalogue):
        counters = await info.context.benefit_usage.load((row.id, earliest_start(now, zone)))
    entries = benefit_wall(
        catalogue, tier_code=row.tier_code, birth_date=row.birth_date, counters=counters, ladder=ladder, now=now, zone=zone
    )
    return [
        MemberBenefit(
            benefit=Benefit.from_definition(entry.benefit, core, ladder),
            unlocked=entry.unlocked,
            unlocked_by=Tier.from_info(ladder.get(entry.benefit.min_tier)),
            locked_reason=entry.lock.reason if entry.lock else None,
            locked_message=entry.lock.message if entry.lock else None,
            usage=BenefitUsage(
                count=entry.usage.count,
                period=entry.usage.period,
                used=entry.usage.used,
                remaining=entry.usage.remaining,
                period_start=entry.usage.period_start,
                resets_at=entry.usage.resets_at,
            )
            if entry.usage
            else None,
        )
        for entry in entries
    ]
