"""A small reference model of the points ledger, for the state-machine test (``test_ledger_state_machine``).

It keeps, in plain Python, what the gateway should store after every service call: each member's
wallet, pending and held points, growth value, tier and status; every lot (who holds it, how much
is left, whether it is still pending) in creation order; every hold, earn and redemption; and the
totals of the group and format accounts. It follows the rules the gateway documents (module
docstrings of ``gateway.ledger.*``, ``gateway.merge``, ``gateway.erasure``), written out again
independently: lots are drawn first-expiring-first, pending lots are released and lapsed holds
voided by the first write for the member, refunds claw back cumulatively-prorated points from the
activity's own lots, then expiry, then the wallet, then by policy, and points a cancellation or a
hold's settlement returns to a refunded earn's lots are reclaimed up to what its refunds left
unrecovered.

Every operation runs "in a transaction": :meth:`LedgerModel.attempt` applies it to the model and
either keeps the change or, when the operation raises :class:`Refused`, restores the state as it
was, exactly like the gateway rolls a refused write back (including what the write's catch-up
step, the release of pending points and the voiding of lapsed holds, had done). Keyed writes
remember what their key got (:meth:`LedgerModel.replay`): sent again, they get the same posting,
or the same refusal when the gateway keeps the key failed.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

from dateutil.relativedelta import relativedelta

T = TypeVar("T")

EXPIRY = "group.expiry"
ADJUSTMENT = "group.adjustment"

BUSINESS_FAILURES = frozenset(
    {"INSUFFICIENT_POINTS", "TIER_TOO_LOW", "REDEMPTION_REJECTED", "MEMBER_INACTIVE", "MEMBER_FROZEN"}
)
"""Refusals that keep an idempotency key failed (``gateway.ledger.failures``)."""
COMPENSATION_FAILURES = BUSINESS_FAILURES | {"REFUND_EXCEEDS_ACTIVITY", "ALREADY_CANCELLED"}
"""The same for refunds and cancellations (``gateway.ledger.compensate``)."""
NOTHING_REMEMBERED: frozenset[str] = frozenset()
"""Voiding a hold remembers no refusal."""


class Refused(Exception):
    """The gateway is expected to refuse the request with ``code`` and write nothing."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class TierSpec:
    code: str
    rank: int
    threshold: int
    multiplier: Decimal


@dataclass
class MMember:
    id: int
    phone: str
    tier: str
    status: str = "active"
    merged_into: int | None = None
    growth: int = 0
    wallet: int = 0
    pending: int = 0
    held: int = 0


@dataclass
class MLot:
    seq: int
    member: int
    source: str
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime
    pending: bool
    expired_by_job: int = 0
    expired_elsewhere: int = 0  # drawn from the lot, then sent to group.expiry by a cancellation or a hold's settlement


@dataclass
class MHold:
    seq: int
    key: str
    member: int
    points: int
    expires_at: datetime
    draws: list[tuple[int, int]]
    status: str = "held"


@dataclass
class MEarn:
    key: str
    member: int
    amount_minor: int
    points: int
    growth: int
    lots: list[int]
    refunded_minor: int = 0
    points_due: int = 0
    growth_due: int = 0
    from_expiry: int = 0
    outstanding: int = 0  # unrecovered by its refunds and not reclaimed since (gateway.ledger.reclaim)


@dataclass
class MRedemption:
    key: str
    member: int
    cost: int
    draws: list[tuple[int, int]]
    cancelled: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a successful write returns that the model predicts: posting points and balance after."""

    points: int
    balance_after: int
    details: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False


@dataclass
class State:
    members: dict[int, MMember] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    lots: list[MLot] = field(default_factory=list)
    holds: dict[str, MHold] = field(default_factory=dict)
    earns: dict[str, MEarn] = field(default_factory=dict)
    redemptions: dict[str, MRedemption] = field(default_factory=dict)
    # What each idempotency key ("scope/key") got: an Outcome, or the code of a remembered failure.
    keyed: dict[str, Outcome | str] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # How often the rarer paths ran (debt repaid, a merge carrying holds ...), to report coverage.
    events: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Reward:
    code: str
    points: int
    min_tier: str | None = None


class LedgerModel:
    """The expected state of the ledger; see the module docstring."""

    def __init__(
        self,
        *,
        tiers: list[TierSpec],
        format_code: str,
        rewards: dict[str, Reward],
        refund_policy: str,
        expiry_policy: str,
        expiry_n: int,
        zone: tzinfo,
        hold_ttl: timedelta,
    ) -> None:
        self.tiers = sorted(tiers, key=lambda tier: tier.rank)
        self.by_code = {tier.code: tier for tier in self.tiers}
        self.format = format_code
        self.rewards = rewards
        self.allow_negative = refund_policy == "allow_negative"
        self.expiry_policy = expiry_policy
        self.expiry_n = expiry_n
        self.zone = zone
        self.hold_ttl = hold_ttl
        self.s = State()
        self.armed: tuple[str, frozenset[str]] | None = None
        self.issuance = f"format.{format_code}.issuance"
        self.redemption = f"format.{format_code}.redemption"

    # --- transactions ----------------------------------------------------------------------------

    def attempt(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T | Refused:
        """Run ``operation``; on :class:`Refused` restore the state and return the refusal instead.

        A keyed write (see :meth:`replay`) also records what its key got: the outcome, or a refusal
        the gateway remembers, after the rollback (failure stays failure).
        """
        saved = copy.deepcopy(self.s)
        self.armed = None
        try:
            result = operation(*args, **kwargs)
        except Refused as refusal:
            self.s = saved
            if self.armed is not None and refusal.code in self.armed[1]:
                self.s.keyed[self.armed[0]] = refusal.code
            return refusal
        if self.armed is not None and isinstance(result, Outcome):
            self.s.keyed[self.armed[0]] = result
        return result

    def replay(self, scope: str, key: str, remembered: frozenset[str]) -> Outcome | None:
        """``find_replay``, right after the member is locked and caught up: the key's first outcome again.

        A key that got a posting gets it again (``replayed``); a key whose refusal was remembered
        gets the refusal again; a fresh key (or one whose refusal was not remembered) goes on, and
        its outcome will be recorded, its refusal remembered when it is one of ``remembered``.
        """
        earlier = self.s.keyed.get(f"{scope}/{key}")
        if isinstance(earlier, Outcome):
            return replace(earlier, replayed=True)
        if isinstance(earlier, str):
            raise Refused(earlier)
        self.armed = (f"{scope}/{key}", remembered)
        return None

    # --- lookups -------------------------------------------------------------------------------------

    def lot(self, seq: int) -> MLot:
        return self.s.lots[seq]

    def survivor(self, member_id: int) -> MMember:
        member = self.s.members[member_id]
        return self.s.members[member.merged_into] if member.merged_into is not None else member

    def lock(self, ref: tuple[str, Any]) -> MMember:
        """``lock_member``: a member id resolves to its survivor; a phone to its current owner."""
        kind, value = ref
        if kind == "id":
            return self.survivor(value)
        owner = self.s.phones.get(value)
        if owner is None:
            raise Refused("MEMBER_NOT_FOUND")
        return self.survivor(owner)

    def tier_for_growth(self, growth: int) -> TierSpec:
        reached = self.tiers[0]
        for tier in self.tiers:
            if growth >= tier.threshold:
                reached = tier
        return reached

    def expires_at(self, earned_at: datetime) -> datetime:
        """The group's expiry policy: N months on, or midnight (group time) ending the Nth month or year on."""
        if self.expiry_policy == "rolling_months":
            return (earned_at + relativedelta(months=self.expiry_n)).astimezone(UTC)
        local = earned_at.astimezone(self.zone)
        if self.expiry_policy == "end_of_month":
            month = local.year * 12 + local.month - 1 + self.expiry_n + 1
            end = datetime(month // 12, month % 12 + 1, 1, tzinfo=self.zone)
        else:
            end = datetime(local.year + self.expiry_n + 1, 1, 1, tzinfo=self.zone)
        return end.astimezone(UTC)

    @staticmethod
    def require_active(member: MMember) -> None:
        if member.status == "frozen":
            raise Refused("MEMBER_FROZEN")
        if member.status == "erased":
            raise Refused("MEMBER_ERASED")
        assert member.status == "active", member

    # --- lots ----------------------------------------------------------------------------------------

    def new_lot(
        self, member: MMember, source: str, points: int, available_at: datetime, expires_at: datetime, pending: bool
    ) -> MLot:
        lot = MLot(len(self.s.lots), member.id, source, points, points, available_at, expires_at, pending)
        self.s.lots.append(lot)
        return lot

    def draw(self, member: MMember, points: int) -> list[tuple[int, int]]:
        """Take ``points`` from the member's available lots, first-expiring-first (``draw_lots``)."""
        open_lots = sorted(
            (lot for lot in self.s.lots if lot.member == member.id and lot.remaining > 0 and not lot.pending),
            key=lambda lot: (lot.expires_at, lot.seq),
        )
        draws: list[tuple[int, int]] = []
        left = points
        for lot in open_lots:
            if left == 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take
            draws.append((lot.seq, take))
        assert left == 0, f"model inconsistency: member {member.id}'s lots hold less than {points}"
        return draws

    def give_back(self, seq: int, points: int) -> int:
        """Return ``points`` to lot ``seq`` (unexpired); returns how many the member gets back.

        A refunded earn's outstanding unrecovered points are reclaimed first: they stay out of the
        lot and go to the issuance account (``gateway.ledger.reclaim``).
        """
        lot = self.lot(seq)
        earn = self.s.earns.get(lot.source.removeprefix("earn:")) if lot.source.startswith("earn:") else None
        reclaimed = min(points, earn.outstanding) if earn is not None else 0
        if reclaimed:
            earn.outstanding -= reclaimed
            self.s.accounts[self.issuance] += reclaimed
            self.s.events["refunded points reclaimed on return"] += 1
        lot.remaining += points - reclaimed
        return points - reclaimed

    def repay_debt(self, member: MMember, balance_before: int, credited: int) -> None:
        if balance_before < 0 and credited > 0:
            self.draw(member, min(-balance_before, credited))
            self.s.events["debt repaid"] += 1

    # --- what time alone changes: the catch-up step of every write ---------------------------------

    def release_matured(self, member: MMember, now: datetime) -> int:
        if member.pending <= 0:
            return 0
        matured = [
            lot
            for lot in self.s.lots
            if lot.member == member.id and lot.pending and lot.available_at <= now and lot.remaining > 0
        ]
        if not matured:
            return 0
        total = sum(lot.remaining for lot in matured)
        for lot in matured:
            lot.pending = False
        before = member.wallet
        member.wallet += total
        member.pending -= total
        self.repay_debt(member, before, total)
        return total

    def void_lapsed(self, member: MMember, now: datetime) -> list[str]:
        if member.held <= 0:
            return []
        lapsed = sorted(
            (h for h in self.s.holds.values() if h.member == member.id and h.status == "held" and h.expires_at <= now),
            key=lambda h: (h.expires_at, h.seq),
        )
        for hold in lapsed:
            self.settle(member, hold, 0, now, "voided")
        return [hold.key for hold in lapsed]

    def catch_up(self, member: MMember, now: datetime) -> None:
        self.release_matured(member, now)
        self.void_lapsed(member, now)

    def settle(self, member: MMember, hold: MHold, captured: int, now: datetime, status: str) -> int:
        """Capture ``captured`` of a hold's points (first-expiring first), give the rest back or to expiry."""
        to_capture = captured
        returned = expired = 0
        for seq, points in sorted(hold.draws, key=lambda draw: (self.lot(draw[0]).expires_at, draw[0])):
            take = min(points, to_capture)
            to_capture -= take
            rest = points - take
            lot = self.lot(seq)
            if lot.expires_at > now:
                returned += self.give_back(seq, rest) if rest else 0
            else:
                expired += rest
                lot.expired_elsewhere += rest
        self.s.accounts[self.redemption] += captured
        self.s.accounts[EXPIRY] += expired
        before = member.wallet
        member.wallet += returned
        member.held -= hold.points
        self.repay_debt(member, before, returned)
        hold.status = status
        return returned

    # --- identity and member status ------------------------------------------------------------------

    def enrol_refusal(self, phone: str) -> str | None:
        return "IDENTITY_TAKEN" if phone in self.s.phones else None

    def add_member(self, member_id: int, phone: str) -> None:
        assert member_id not in self.s.members, f"member id {member_id} reused"
        self.s.members[member_id] = MMember(member_id, phone, self.tiers[0].code)
        self.s.phones[phone] = member_id

    def set_status(self, ref: tuple[str, Any], target: str) -> int:
        member = self.lock(ref)
        if member.status == target:
            return member.id
        if member.status not in ("active", "frozen"):
            raise Refused("MEMBER_INACTIVE")
        member.status = target
        return member.id

    def erase(self, ref: tuple[str, Any]) -> int:
        member = self.lock(ref)
        if member.status == "erased":
            return member.id
        if member.status not in ("active", "frozen"):
            raise Refused("MEMBER_INACTIVE")
        for phone in [phone for phone, owner in self.s.phones.items() if owner == member.id]:
            del self.s.phones[phone]
        member.status = "erased"
        return member.id

    # --- writes ------------------------------------------------------------------------------------

    def earn(
        self,
        ref: tuple[str, Any],
        key: str,
        *,
        yuan: int,
        later_percent: int,
        pending_days: int,
        sold_at: datetime | None,
        now: datetime,
    ) -> Outcome:
        """A sale of ``yuan``: 1 pt and 1 growth per yuan, ``later_percent`` of the points after ``pending_days``."""
        member = self.lock(ref)
        self.catch_up(member, now)
        if (replayed := self.replay("earn", key, BUSINESS_FAILURES)) is not None:
            return replayed
        self.require_active(member)
        occurred = sold_at or now
        tier = self.by_code[member.tier]
        later = yuan * later_percent // 100
        groups = {0: yuan - later}
        if later:
            groups[pending_days] = groups.get(pending_days, 0) + later
        expires = self.expires_at(occurred)
        lots: list[MLot] = []
        for days in sorted(groups):
            base = groups[days]
            total = int((Decimal(base) * tier.multiplier).to_integral_value(rounding=ROUND_DOWN))
            available_at = occurred + timedelta(days=days) if days else min(occurred, now)
            if total:
                lots.append(self.new_lot(member, f"earn:{key}", total, available_at, expires, available_at > now))
        points = sum(lot.points for lot in lots)
        available = sum(lot.points for lot in lots if not lot.pending)
        before = member.wallet
        member.wallet += available
        member.pending += points - available
        member.growth += yuan
        reached = self.tier_for_growth(member.growth)
        if reached.rank > tier.rank:
            member.tier = reached.code
        self.s.accounts[self.issuance] -= points
        self.repay_debt(member, before, available)
        self.s.earns[key] = MEarn(key, member.id, yuan * 100, points, yuan, [lot.seq for lot in lots])
        return Outcome(points, before + available)

    def redeem(self, ref: tuple[str, Any], key: str, reward_code: str, quantity: int, now: datetime) -> Outcome:
        member = self.lock(ref)
        self.catch_up(member, now)
        if (replayed := self.replay("redeem", key, BUSINESS_FAILURES)) is not None:
            return replayed
        self.require_active(member)
        reward = self.rewards[reward_code]
        if reward.min_tier is not None and self.by_code[member.tier].rank < self.by_code[reward.min_tier].rank:
            raise Refused("TIER_TOO_LOW")
        cost = reward.points * quantity
        if member.wallet < cost:
            raise Refused("INSUFFICIENT_POINTS")
        member.wallet -= cost
        draws = self.draw(member, cost)
        self.s.accounts[self.redemption] += cost
        self.s.redemptions[key] = MRedemption(key, member.id, cost, draws)
        return Outcome(-cost, member.wallet)

    def hold(self, ref: tuple[str, Any], key: str, points: int, now: datetime, ttl: timedelta | None = None) -> Outcome:
        member = self.lock(ref)
        self.catch_up(member, now)
        if (replayed := self.replay("hold", key, BUSINESS_FAILURES)) is not None:
            return replayed
        self.require_active(member)
        if member.wallet < points:
            raise Refused("INSUFFICIENT_POINTS")
        member.wallet -= points
        member.held += points
        draws = self.draw(member, points)
        self.s.holds[key] = MHold(len(self.s.holds), key, member.id, points, now + (ttl or self.hold_ttl), draws)
        return Outcome(-points, member.wallet)

    def _held(self, hold: MHold, now: datetime) -> MHold:
        if hold.status == "held" and hold.expires_at > now:
            return hold
        raise Refused("HOLD_NOT_ACTIVE")

    def _hold(self, hold_key: str) -> MHold:
        hold = self.s.holds.get(hold_key)
        if hold is None:
            raise Refused("HOLD_NOT_FOUND")
        return hold

    def capture(self, hold_key: str, key: str, points: int | None, now: datetime) -> Outcome:
        hold = self._hold(hold_key)
        member = self.survivor(hold.member)
        self.catch_up(member, now)
        if (replayed := self.replay("capture", key, BUSINESS_FAILURES)) is not None:
            return replayed
        self._held(hold, now)
        self.require_active(member)
        captured = hold.points if points is None else points
        if captured > hold.points:
            raise Refused("INVALID_INPUT")
        returned = self.settle(member, hold, captured, now, "captured")
        return Outcome(returned, member.wallet)

    def void(self, hold_key: str, key: str, now: datetime) -> Outcome:
        hold = self._hold(hold_key)
        member = self.survivor(hold.member)
        self.catch_up(member, now)
        if (replayed := self.replay("void", key, NOTHING_REMEMBERED)) is not None:
            return replayed
        self._held(hold, now)
        returned = self.settle(member, hold, 0, now, "voided")
        return Outcome(returned, member.wallet)

    def refund(self, earn_key: str, key: str, amount_minor: int, now: datetime) -> Outcome:
        """Refund ``amount_minor`` of an earn (``gateway.ledger.reverse``)."""
        earn = self.s.earns.get(earn_key)
        if earn is None:
            raise Refused("POSTING_NOT_FOUND")
        member = self.survivor(earn.member)
        self.catch_up(member, now)
        if (replayed := self.replay("refund", key, COMPENSATION_FAILURES)) is not None:
            return replayed
        if member.status not in ("active", "frozen"):
            raise Refused("MEMBER_INACTIVE")
        if earn.refunded_minor + amount_minor > earn.amount_minor:
            raise Refused("REFUND_EXCEEDS_ACTIVITY")
        total = earn.refunded_minor + amount_minor
        due = earn.points * total // earn.amount_minor - earn.points_due
        growth_due = earn.growth * total // earn.amount_minor - earn.growth_due
        growth = min(growth_due, member.growth)
        own = sorted((self.lot(seq) for seq in earn.lots), key=lambda lot: (not lot.pending, lot.seq))
        assert all(lot.member == member.id for lot in own), "model: an earn's lots left its member"
        left = due
        from_pending = from_lots = 0
        for lot in own:
            take = min(lot.remaining, left)
            if take > 0:
                lot.remaining -= take
                left -= take
                if lot.pending:
                    from_pending += take
                else:
                    from_lots += take
        from_expiry = 0
        if left > 0:
            expired = sum(lot.expired_by_job for lot in own)
            elsewhere = sum(lot.expired_elsewhere for lot in own)
            if elsewhere:
                self.s.events["refund meets points a cancel or a hold sent to expiry"] += 1
            expired += elsewhere
            from_expiry = min(left, max(expired - earn.from_expiry, 0))
            left -= from_expiry
        others = max(member.wallet - from_lots, 0)
        from_wallet = min(left, others)
        left -= from_wallet
        if from_wallet:
            self.draw(member, from_wallet)
        debt = left if self.allow_negative else 0
        unrecovered = 0 if self.allow_negative else left
        wallet_points = from_lots + from_wallet + debt
        member.wallet -= wallet_points
        member.pending -= from_pending
        member.growth -= growth
        self.s.accounts[EXPIRY] -= from_expiry
        self.s.accounts[self.issuance] += from_pending + wallet_points + from_expiry
        earn.refunded_minor = total
        earn.points_due += due
        earn.growth_due += growth_due
        earn.from_expiry += from_expiry
        earn.outstanding += unrecovered
        details = {
            "pointsDue": due,
            "fromPending": from_pending,
            "fromActivityLots": from_lots,
            "fromExpiry": from_expiry,
            "fromOtherPoints": from_wallet,
            "unrecovered": unrecovered,
            "debt": debt,
        }
        return Outcome(-(from_pending + wallet_points), member.wallet, details)

    def cancel(self, redemption_key: str, key: str, now: datetime) -> Outcome:
        """Cancel a redemption (``gateway.ledger.cancel``): points back to unexpired lots, the rest to expiry."""
        redemption = self.s.redemptions.get(redemption_key)
        if redemption is None:
            raise Refused("POSTING_NOT_FOUND")
        member = self.survivor(redemption.member)
        self.catch_up(member, now)
        if (replayed := self.replay("cancel", key, COMPENSATION_FAILURES)) is not None:
            return replayed
        if member.status not in ("active", "frozen"):
            raise Refused("MEMBER_INACTIVE")
        if redemption.cancelled:
            raise Refused("ALREADY_CANCELLED")
        restored = expired = 0
        for seq, points in redemption.draws:
            lot = self.lot(seq)
            if lot.expires_at > now:
                restored += self.give_back(seq, points)
            else:
                lot.expired_elsewhere += points
                expired += points
        self.s.accounts[self.redemption] -= redemption.cost
        self.s.accounts[EXPIRY] += expired
        before = member.wallet
        member.wallet += restored
        self.repay_debt(member, before, restored)
        redemption.cancelled = True
        details = {"restored": restored, "expired": expired, "reclaimedPoints": redemption.cost - restored - expired}
        return Outcome(restored, member.wallet, details)

    def adjust(self, ref: tuple[str, Any], key: str, points: int, now: datetime) -> Outcome:
        member = self.lock(ref)
        self.catch_up(member, now)
        if (replayed := self.replay("adjust", key, BUSINESS_FAILURES)) is not None:
            return replayed
        if member.status not in ("active", "frozen"):
            raise Refused("MEMBER_INACTIVE")
        if points < 0 and member.wallet + points < 0:
            raise Refused("INSUFFICIENT_POINTS")
        before = member.wallet
        member.wallet += points
        self.s.accounts[ADJUSTMENT] -= points
        if points > 0:
            self.new_lot(member, f"adjust:{key}", points, now, self.expires_at(now), False)
            self.repay_debt(member, before, points)
        else:
            self.draw(member, -points)
        return Outcome(points, member.wallet)

    def expire_job(self, now: datetime) -> tuple[list[str], dict[int, tuple[int, int]]]:
        """``atrium ledger expire``: sweep lapsed holds, then expire lots past their date, member by member.

        Returns the keys of the holds voided by the sweep and, per member, ``(available, pending)`` expired.
        """
        swept: list[str] = []
        for member_id in sorted({h.member for h in self.s.holds.values() if h.status == "held" and h.expires_at <= now}):
            member = self.survivor(member_id)
            self.release_matured(member, now)
            swept += self.void_lapsed(member, now)
        expired: dict[int, tuple[int, int]] = {}
        for member_id in sorted({lot.member for lot in self.s.lots if lot.expires_at <= now and lot.remaining > 0}):
            member = self.survivor(member_id)
            self.catch_up(member, now)
            lots = sorted(
                (lot for lot in self.s.lots if lot.member == member.id and lot.expires_at <= now and lot.remaining > 0),
                key=lambda lot: (lot.expires_at, lot.seq),
            )
            if not lots:
                continue
            available = sum(lot.remaining for lot in lots if not lot.pending)
            pending = sum(lot.remaining for lot in lots if lot.pending)
            member.wallet -= available
            member.pending -= pending
            self.s.accounts[EXPIRY] += available + pending
            for lot in lots:
                lot.expired_by_job += lot.remaining
                lot.remaining = 0
            expired[member.id] = (available, pending)
        return swept, expired

    def merge(self, keep_id: int, gone_id: int) -> Outcome | None:
        """Merge record ``gone_id`` into ``keep_id`` (``gateway.merge``); ``None`` when they already are one."""
        if keep_id == gone_id:
            raise Refused("INVALID_INPUT")
        if self.survivor(keep_id).id == self.survivor(gone_id).id:
            return None
        keep, gone = self.s.members[keep_id], self.s.members[gone_id]
        for member, role in ((keep, "survivor"), (gone, "merged")):
            if member.merged_into is not None:
                raise Refused("MEMBER_MERGED")
            if member.status == "erased":
                raise Refused("MEMBER_ERASED")
            if member.status == "frozen":
                raise Refused("MEMBER_FROZEN")
        tier = max(
            (self.by_code[keep.tier], self.by_code[gone.tier], self.tier_for_growth(keep.growth + gone.growth)),
            key=lambda tier: tier.rank,
        )
        combined = keep.wallet + gone.wallet
        debt_repaid = max(keep.wallet, 0) + max(gone.wallet, 0) - max(combined, 0)
        moved = gone.wallet + gone.pending + gone.held
        for lot in self.s.lots:
            if lot.member == gone.id:
                lot.member = keep.id
        for hold in self.s.holds.values():
            if hold.member == gone.id:
                hold.member = keep.id
        for phone, owner in list(self.s.phones.items()):
            if owner == gone.id:
                self.s.phones[phone] = keep.id
        if debt_repaid:
            self.draw(keep, debt_repaid)
            self.s.events["debt repaid by a merge"] += 1
        if gone.held or gone.pending:
            self.s.events["merge moved held or pending points"] += 1
        for member in self.s.members.values():
            if member.merged_into == gone.id:
                member.merged_into = keep.id
        keep.wallet, keep.pending, keep.held = combined, keep.pending + gone.pending, keep.held + gone.held
        keep.growth += gone.growth
        keep.tier = tier.code
        gone.status, gone.merged_into = "merged", keep.id
        gone.wallet = gone.pending = gone.held = gone.growth = 0
        return Outcome(moved, combined)
