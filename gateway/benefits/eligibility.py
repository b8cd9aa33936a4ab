"""Whether a member may use a benefit now, and if not, why: tier, validity window, birthday month.

The benefits wall shows the reason next to a locked benefit; ``useBenefit`` refuses with
``BENEFIT_LOCKED`` and the same words. Where the benefit is used (its formats) is checked by
``useBenefit`` alone: the wall lists benefits of every format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from gateway.benefits.catalogue import BenefitDefinition
from gateway.benefits.periods import local_month
from gateway.tiers import Ladder


class LockReason(str, Enum):
    """Why a benefit cannot be used now."""

    TIER_TOO_LOW = "TIER_TOO_LOW"
    NOT_YET_VALID = "NOT_YET_VALID"
    NO_LONGER_VALID = "NO_LONGER_VALID"
    NOT_BIRTHDAY_MONTH = "NOT_BIRTHDAY_MONTH"
    NO_BIRTH_DATE = "NO_BIRTH_DATE"
    WRONG_FORMAT = "WRONG_FORMAT"


@dataclass(frozen=True)
class Lock:
    """A reason a benefit is locked, with the sentence a member or a till reads."""

    reason: LockReason
    message: str


def _day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def lock_of(
    benefit: BenefitDefinition,
    *,
    tier_code: str,
    birth_date: date | None,
    ladder: Ladder,
    now: datetime,
    zone: ZoneInfo,
) -> Lock | None:
    """The first reason ``benefit`` is locked for a member in ``tier_code`` born on ``birth_date``; ``None`` if usable.

    Checked in the order a member can act on: tier first (the one thing the member can change),
    then the validity window, then the birthday month.
    """
    if benefit.min_tier not in ladder:
        return Lock(LockReason.TIER_TOO_LOW, f"{benefit.name} needs tier {benefit.min_tier!r}, which the ladder no longer has.")
    if not ladder.at_least(tier_code, benefit.min_tier):
        needed = ladder.get(benefit.min_tier).name
        return Lock(LockReason.TIER_TOO_LOW, f"{benefit.name} needs {needed} tier or above.")
    if benefit.valid_from is not None and now < benefit.valid_from:
        return Lock(LockReason.NOT_YET_VALID, f"{benefit.name} can be used from {_day(benefit.valid_from, zone)}.")
    if benefit.valid_until is not None and now >= benefit.valid_until:
        return Lock(LockReason.NO_LONGER_VALID, f"{benefit.name} could be used until {_day(benefit.valid_until, zone)}.")
    if benefit.birthday_month:
        if birth_date is None:
            return Lock(LockReason.NO_BIRTH_DATE, f"{benefit.name} is for the birthday month: no birth date is on file.")
        if birth_date.month != local_month(now, zone):
            return Lock(LockReason.NOT_BIRTHDAY_MONTH, f"{benefit.name} can be used only in the member's birthday month.")
    return None


def format_lock(benefit: BenefitDefinition, format_code: str) -> Lock | None:
    """``WRONG_FORMAT`` when ``benefit`` cannot be used in ``format_code``."""
    if benefit.usable_in(format_code):
        return None
    where = ", ".join(benefit.formats)
    return Lock(LockReason.WRONG_FORMAT, f"{benefit.name} can be used only in: {where}.")
