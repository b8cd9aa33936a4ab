"""Points are earned on money only: what a bill's points offsets and coupons paid earns nothing.

A till may pay part of a bill with the member's points (:mod:`gateway.ledger.cash`) or with
coupons (:mod:`gateway.coupons`). Earning on that part would be "points on points", which the
group's finance refuses. The till names those tenders when it records the bill (``paidWith`` on
every ``record<Format><Kind>``, resolved by :mod:`gateway.ledger.tender_values`); the gateway
sets :attr:`~gateway.plugin_api.Activity.money_paid`, and :func:`money_share_of` scales every
earn rule's line to the money's share of the amount. Plugins need not know: their rules compute
on the whole activity as before. Campaign and tier bonuses apply to the scaled base points, and a
refund takes back its share of what the posting earned, so it stays proportional too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.money import Money
from gateway.plugin_api import Activity, EarnLine


@dataclass(frozen=True)
class CouponTender:
    """A coupon used on this bill; ``value`` is what it paid, needed only for an item coupon (a dish)."""

    code: str
    value: Money | None = None


@dataclass(frozen=True)
class Tenders:
    """What paid a bill besides money: the idempotency keys of its points offsets, and its coupons."""

    offsets: tuple[str, ...] = ()
    coupons: tuple[CouponTender, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.offsets or self.coupons)

    def fingerprint(self) -> dict[str, object]:
        """The tenders as JSON for the request hash: the same key with other tenders is another request."""
        return {
            "offsets": [key.strip() for key in self.offsets],
            "coupons": [["".join(c.code.split()).upper(), c.value.minor if c.value else None] for c in self.coupons],
        }


def money_share_of(line: EarnLine, activity: Activity) -> EarnLine:
    """``line`` scaled to the part of the activity paid in money, points and growth each rounded down.

    Unchanged when the whole amount was money (``activity.money_paid`` is ``None`` or the amount).
    The reason says what share earned, so a member reading the line sees why it is smaller.
    """
    paid, amount = activity.money_paid, activity.amount
    if paid is None or paid.minor >= amount.minor:
        return line
    points = line.points * paid.minor // amount.minor
    growth = line.growth * paid.minor // amount.minor
    reason = f"{line.reason}, on the {paid.format()} of {amount.format()} paid in money"
    return EarnLine(points=points, growth=growth, reason=reason, pending_days=line.pending_days)
