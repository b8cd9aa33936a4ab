"""Holds: points reserved at a till, then captured (spent) or voided (given back).

A till reserves points while the customer pays (:func:`place_hold`). The reservation is a
``hold`` posting that moves the points from ``member.wallet`` to ``member.held`` and draws them
from the member's lots first-expiring-first, as a redemption would: the wallet is debited by an
update guarded on the balance under the member's lock, so holds never overdraw, and held points
cannot be spent twice. Then exactly one of:

- :func:`capture_hold` spends some or all of them: a ``capture`` posting moves the captured
  points from ``member.held`` to the format's redemption account, the rest goes back;
- :func:`void_hold` gives them all back: a ``void`` posting;
- nobody does anything and the hold voids itself once ``expires_at`` has passed (a ``void``
  posting too). No scheduler is needed: every write for the member starts with
  :func:`catch_up`, which voids the member's lapsed holds (and releases matured pending points),
  and ``atrium ledger expire`` sweeps members nobody writes to (:func:`sweep_holds`). Reads show
  the truth meanwhile without writing (``gateway.members.get_members``).

Giving points back, and traceability. The hold posting's ``lot_consumption`` rows say which lots
the held points came from. Points given back (a void, the rest of a partial capture) return to
those same lots: ``lot.remaining`` grows again and the settling posting records a *negative*
``lot_consumption`` row for each lot, so for every lot "issued − Σ consumption = remaining" still
holds (``atrium ledger verify`` checks it), and for a settled hold the hold posting's rows plus
its settling posting's rows give, lot by lot, the points that left for good. A capture takes the
first-expiring of the held points (the hold drew first-expiring first, so capturing N is the
redemption of N at hold time) and gives back the ones that expire last. A point to give back
whose lot has expired meanwhile does not return to the wallet: it goes to ``group.expiry`` and
stays consumed. A point to give back to a lot of a purchase refunded while the point was held,
whose refund could not take it (it was held), is reclaimed for that refund instead
(:mod:`gateway.ledger.reclaim`): given back to the lot and drawn again by the settling posting,
credited to the purchase's format issuance account, listed in ``details.reclaimed``. The
settling posting's ``details.lots`` says, lot by lot, how many points were captured, returned
(to the wallet), reclaimed and expired.

Idempotency. Placing, capturing and voiding each carry the till's key (scopes ``hold:<format>``,
``capture:<format>``, ``void:<format>``); a replay returns the original posting with the hold as
it is now. A hold is settled once: its status leaves ``held`` by an update guarded on ``held``,
under the member's lock; a second capture or void, or a capture after the hold lapsed, is
``HOLD_NOT_ACTIVE``. A lapse void's key is the hold's id (scope ``hold-lapse``), which only one
void can ever hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.debt import repay_debt
from gateway.ledger.failures import failure_stays_failure
from gateway.ledger.lots import consume_lots, spend_points
from gateway.ledger.pending import release_matured
from gateway.ledger.postings import (
    MemberRef,
    PostingResult,
    check_idempotency_key,
    find_replay,
    insert_entries,
    insert_posting,
    lock_member,
    request_hash,
    require_active,
    result_from_values,
)
from gateway.ledger.reclaim import ReturnedDraw, apply_reclaim, plan_reclaim
from gateway.members import MemberRow
from gateway.notices import notifying_write
from gateway.persistence.models import (
    EXPIRY,
    HELD,
    WALLET,
    hold_table,
    lot_consumption_table,
    lot_table,
    member_table,
    redemption_account,
)

LAPSE_SCOPE = "hold-lapse"
MIN_HOLD_TTL = timedelta(minutes=1)
MAX_HOLD_TTL = timedelta(days=1)
MAX_HOLD_POINTS = 2**31 - 1


@dataclass(frozen=True)
class HoldRequest:
    """A till's request to reserve ``points`` of a member in ``format``; ``ttl`` defaults to the setting."""

    member: MemberRef
    format: str
    points: int
    idempotency_key: str
    ttl: timedelta | None = None


@dataclass(frozen=True)
class CaptureRequest:
    """Spend ``points`` (default: all) of the hold the till placed with key ``hold_key``."""

    format: str
    hold_key: str
    idempotency_key: str
    points: int | None = None


@dataclass(frozen=True)
class VoidRequest:
    """Give back every point of the hold the till placed with key ``hold_key``."""

    format: str
    hold_key: str
    idempotency_key: str


@dataclass(frozen=True)
class HoldRow:
    """A hold as stored: who, where, how many points, and whether it is still ``held``."""

    id: int
    member_id: int
    format: str
    points: int
    status: str
    idempotency_key: str
    hold_posting_id: int
    settle_posting_id: int | None
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None

    @property
    def lapsed(self) -> bool:
        """True for a hold that voided itself: no explicit void can come after its time (writes void it first)."""
        return self.status == "voided" and self.settled_at is not None and self.settled_at >= self.expires_at


@dataclass(frozen=True)
class HoldResult:
    """A hold and the posting that placed, captured or voided it (``posting.replayed`` on a replay)."""

    hold: HoldRow
    posting: PostingResult


@dataclass(frozen=True)
class HoldSweep:
    """What one run of :func:`sweep_holds` voided."""

    now: datetime
    voided: list[HoldResult] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Every point the voided holds had reserved."""
        return sum(result.hold.points for result in self.voided)


# --- the pre-step of every write ---------------------------------------------------------------


async def catch_up(core: Core, conn: AsyncConnection, member: MemberRow, *, now: datetime) -> MemberRow:
    """Bring a locked member up to ``now`` before a write: what time alone has changed becomes stored.

    Releases matured pending points (:func:`gateway.ledger.pending.release_matured`), then voids
    holds past their time (:func:`void_due_holds`). Every write for a member calls it right after
    :func:`~gateway.ledger.postings.lock_member`; it costs no statement for a member with neither
    pending nor held points. Returns the member as it is after.
    """
    member = await release_matured(core, conn, member, now=now)
    return await void_due_holds(core, conn, member, now=now)


async def void_due_holds(core: Core, conn: AsyncConnection, member: MemberRow, *, now: datetime) -> MemberRow:
    """Void ``member``'s holds whose time has passed; returns the member as it is after.

    Call it with the member locked. Costs nothing when the member holds no points, one query when
    no hold has lapsed, and one posting per lapsed hold.
    """
    member, _ = await _void_lapsed(core, conn, member, now=now)
    return member


async def _void_lapsed(
    core: Core, conn: AsyncConnection, member: MemberRow, *, now: datetime
) -> tuple[MemberRow, list[HoldResult]]:
    if member.held_balance <= 0:
        return member, []
    rows = (
        await conn.execute(
            select(hold_table)
            .where((hold_table.c.member_id == member.id) & (hold_table.c.status == "held") & (hold_table.c.expires_at <= now))
            .order_by(hold_table.c.expires_at, hold_table.c.id)
        )
    ).all()
    voided: list[HoldResult] = []
    for row in rows:
        hold = _hold_from_row(row)
        result, member = await _settle(
            core,
            conn,
            member,
            hold,
            captured=0,
            kind="void",
            scope=LAPSE_SCOPE,
            key=str(hold.id),
            fingerprint=request_hash({"hold": hold.id}),
            occurred_at=hold.expires_at,
            now=now,
        )
        voided.append(result)
    return member, voided


async def sweep_holds(core: Core, *, now: datetime) -> HoldSweep:
    """Void every hold past its time, one member per write transaction (``atrium ledger expire``).

    Safe to run again, or twice at once: the member lock serialises runs, and a run re-reads the
    member's holds under it, so the second finds them voided.
    """
    now = now.astimezone(UTC)
    async with core.db.read() as conn:
        due = (
            await conn.execute(
                select(hold_table.c.member_id)
                .where((hold_table.c.status == "held") & (hold_table.c.expires_at <= now))
                .distinct()
                .order_by(hold_table.c.member_id)
            )
        ).scalars().all()
    sweep = HoldSweep(now=now)
    for member_id in due:
        async with notifying_write(core) as conn:
            member = await lock_member(conn, MemberRef(member_id=int(member_id)))
            member = await release_matured(core, conn, member, now=now)
            _, voided = await _void_lapsed(core, conn, member, now=now)
        sweep.voided.extend(voided)
    return sweep


# --- placing, capturing and voiding --------------------------------------------------------------


async def place_hold(core: Core, request: HoldRequest, *, now: datetime) -> HoldResult:
    """Reserve points at a till, exactly once per idempotency key, without ever overdrawing.

    Refusals for the member's state (too few points, frozen) keep the key failed, like a
    redemption's. The hold voids itself after its ``ttl`` unless captured or voided first.
    """
    format_name = _format_name(core, request.format)
    key = check_idempotency_key(request.idempotency_key)
    points = _check_points(request.points)
    ttl = _check_ttl(core, request.ttl)
    scope = f"hold:{request.format}"
    fingerprint = request_hash({"points": points, "ttl": int(request.ttl.total_seconds()) if request.ttl else None})
    now = now.astimezone(UTC)
    async with failure_stays_failure(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, request.member)
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id)
                if replay is not None:
                    return HoldResult(await _find_hold(conn, request.format, key), replay)
                attempt.member_id = member.id
                require_active(member)
                spent = await spend_points(conn, member.id, points, into_held=True)
                if spent is None:
                    raise AtriumError(
                        ErrorCode.INSUFFICIENT_POINTS,
                        f"Cannot hold {points} pts; the member has {member.points_balance} available.",
                    )
                balance_after, draws = spent
                expires_at = now + ttl
                values = {
                    "member_id": member.id,
                    "kind": "hold",
                    "format": request.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": -points,
                    "growth": 0,
                    "balance_after": int(balance_after),
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": f"{format_name} hold: -{points} pts reserved at the till until {expires_at:%Y-%m-%d %H:%M} UTC",
                    "lines": [
                        {
                            "rule": f"{request.format}.hold",
                            "points": -points,
                            "growth": 0,
                            "reason": f"{points} pts reserved; they come back unless captured by {expires_at:%H:%M} UTC",
                        }
                    ],
                    "details": {"expiresAt": expires_at.isoformat()},
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, values)
                await insert_entries(conn, posting_id, [(WALLET, member.id, -points), (HELD, member.id, points)])
                await consume_lots(conn, posting_id, draws)
                hold_values = {
                    "member_id": member.id,
                    "format": request.format,
                    "points": points,
                    "status": "held",
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "hold_posting_id": posting_id,
                    "settle_posting_id": None,
                    "created_at": now,
                    "expires_at": expires_at,
                    "settled_at": None,
                }
                hold_id = int(await conn.scalar(insert(hold_table).values(**hold_values).returning(hold_table.c.id)))
        except IntegrityError:
            async with core.db.read() as conn:
                replay = await find_replay(conn, scope, key, fingerprint, request.member)
                if replay is None:
                    raise
                return HoldResult(await _find_hold(conn, request.format, key), replay)
    hold = HoldRow(id=hold_id, **{name: hold_values[name] for name in _HOLD_FIELDS if name != "id"})
    return HoldResult(hold, result_from_values(posting_id, values))


async def capture_hold(core: Core, request: CaptureRequest, *, now: datetime) -> HoldResult:
    """Spend ``points`` of a hold (all when omitted) at its format; the rest goes back to the member.

    Once per idempotency key, and once per hold: a hold already captured, voided, or past its
    time is ``HOLD_NOT_ACTIVE``. A frozen member's capture is ``MEMBER_FROZEN`` and keeps the key
    failed (voiding stays possible, and the hold lapses anyway).
    """
    _format_name(core, request.format)
    hold_key = check_idempotency_key(request.hold_key)
    key = check_idempotency_key(request.idempotency_key)
    if request.points is not None:
        _check_points(request.points)
    scope = f"capture:{request.format}"
    fingerprint = request_hash({"hold": hold_key, "points": request.points})
    now = now.astimezone(UTC)
    owner = await _hold_owner(core, request.format, hold_key)
    async with failure_stays_failure(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, MemberRef(member_id=owner))
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id)
                if replay is not None:
                    return HoldResult(await _find_hold(conn, request.format, hold_key), replay)
                attempt.member_id = member.id
                hold = _still_held(await _find_hold(conn, request.format, hold_key), now)
                require_active(member)
                captured = hold.points if request.points is None else request.points
                if captured > hold.points:
                    raise AtriumError(
                        ErrorCode.INVALID_INPUT, f"The hold has {hold.points} pts; capture at most that many.", "points"
                    )
                result, _ = await _settle(
                    core, conn, member, hold, captured=captured, kind="capture", scope=scope, key=key,
                    fingerprint=fingerprint, occurred_at=now, now=now,
                )
        except IntegrityError:
            async with core.db.read() as conn:
                replay = await find_replay(conn, scope, key, fingerprint, MemberRef(member_id=owner))
                if replay is None:
                    raise
                return HoldResult(await _find_hold(conn, request.format, hold_key), replay)
    return result


async def void_hold(core: Core, request: VoidRequest, *, now: datetime) -> HoldResult:
    """Give back every point of a hold, once per idempotency key and once per hold.

    Allowed whatever the member's status (giving points back harms nobody). Points whose lot
    expired while they were held go to ``group.expiry`` instead of the wallet. A hold already
    captured, voided or lapsed is ``HOLD_NOT_ACTIVE``.
    """
    _format_name(core, request.format)
    hold_key = check_idempotency_key(request.hold_key)
    key = check_idempotency_key(request.idempotency_key)
    scope = f"void:{request.format}"
    fingerprint = request_hash({"hold": hold_key})
    now = now.astimezone(UTC)
    owner = await _hold_owner(core, request.format, hold_key)
    try:
        async with notifying_write(core) as conn:
            member = await lock_member(conn, MemberRef(member_id=owner))
            member = await catch_up(core, conn, member, now=now)
            replay = await find_replay(conn, scope, key, fingerprint, member.id)
            if replay is not None:
                return HoldResult(await _find_hold(conn, request.format, hold_key), replay)
            hold = _still_held(await _find_hold(conn, request.format, hold_key), now)
            result, _ = await _settle(
                core, conn, member, hold, captured=0, kind="void", scope=scope, key=key,
                fingerprint=fingerprint, occurred_at=now, now=now,
            )
    except IntegrityError:
        async with core.db.read() as conn:
            replay = await find_replay(conn, scope, key, fingerprint, MemberRef(member_id=owner))
            if replay is None:
                raise
            return HoldResult(await _find_hold(conn, request.format, hold_key), replay)
    return result


# --- settling: the one place points leave member.held --------------------------------------------


async def _settle(
    core: Core,
    conn: AsyncConnection,
    member: MemberRow,
    hold: HoldRow,
    *,
    captured: int,
    kind: str,
    scope: str,
    key: str,
    fingerprint: str,
    occurred_at: datetime,
    now: datetime,
) -> tuple[HoldResult, MemberRow]:
    """Capture ``captured`` points of a held ``hold`` and give back the rest (see the module docstring)."""
    draws = (
        await conn.execute(
            select(
                lot_consumption_table.c.lot_id,
                lot_consumption_table.c.points,
                lot_table.c.format,
                lot_table.c.expires_at,
                lot_table.c.posting_id.label("activity_id"),
            )
            .select_from(lot_consumption_table.join(lot_table, lot_table.c.id == lot_consumption_table.c.lot_id))
            .where(lot_consumption_table.c.posting_id == hold.hold_posting_id)
            .order_by(lot_table.c.expires_at, lot_table.c.id)
        )
    ).all()
    if sum(int(draw.points) for draw in draws) != hold.points:
        raise RuntimeError(f"ledger inconsistency: hold {hold.id} drew other than its {hold.points} pts from lots")
    lots: list[dict[str, Any]] = []
    giving_back: list[ReturnedDraw] = []
    to_capture = captured
    for draw in draws:
        take = min(int(draw.points), to_capture)
        to_capture -= take
        rest = int(draw.points) - take
        alive = draw.expires_at > now
        lots.append(
            {"lotId": int(draw.lot_id), "format": draw.format, "captured": take,
             "returned": rest if alive else 0, "reclaimed": 0, "expired": 0 if alive else rest}
        )
        if alive and rest:
            giving_back.append(ReturnedDraw(int(draw.lot_id), int(draw.activity_id), draw.format, rest))
    reclaim = await plan_reclaim(conn, giving_back)
    back = [{"lot_id": lot["lotId"], "back": lot["returned"]} for lot in lots if lot["returned"]]
    for lot in lots:
        lot["reclaimed"] = reclaim.on_lot(lot["lotId"])
        lot["returned"] -= lot["reclaimed"]
    returned = sum(lot["returned"] for lot in lots)
    expired = sum(lot["expired"] for lot in lots)
    format_name = _format_name(core, hold.format)
    lines: list[dict[str, Any]] = []
    if captured:
        lines.append({"rule": f"{hold.format}.capture", "points": 0, "growth": 0, "reason": f"{captured} held pts paid at {format_name}"})
    if returned:
        lines.append({"rule": "hold.returned", "points": returned, "growth": 0, "reason": f"{returned} held pts back to the balance"})
    if expired:
        lines.append({"rule": "hold.expired", "points": 0, "growth": 0, "reason": f"{expired} held pts expired while held"})
    if reclaim.points:
        lines.append(
            {"rule": "hold.reclaimed", "points": 0, "growth": 0,
             "reason": f"{reclaim.points} held pts of refunded purchases taken back by the refunds"}
        )
    if kind == "capture":
        head = f"{format_name} payment: {captured} of {hold.points} held pts captured"
    elif scope == LAPSE_SCOPE:
        head = f"{format_name} hold lapsed uncaptured"
    else:
        head = f"{format_name} hold voided"
    tail = [f"+{returned} pts back"] if returned else []
    tail += [f"{expired} pts expired while held"] if expired else []
    tail += [f"{reclaim.points} pts of refunded purchases taken back"] if reclaim.points else []
    balance_after = member.points_balance + returned
    values = {
        "member_id": member.id,
        "kind": kind,
        "format": hold.format,
        "idempotency_scope": scope,
        "idempotency_key": key,
        "request_hash": fingerprint,
        "points": returned,
        "growth": 0,
        "balance_after": balance_after,
        "tier_before": member.tier_code,
        "tier_after": member.tier_code,
        "reason": (head + (": " + ", ".join(tail) if tail else ""))[:500],
        "lines": lines,
        "details": {
            "holdKey": hold.idempotency_key,
            "heldPoints": hold.points,
            "capturedPoints": captured,
            "returnedPoints": returned,
            "expiredPoints": expired,
            "reclaimedPoints": reclaim.points,
            "reclaimed": reclaim.details(),
            "lots": lots,
        },
        "occurred_at": occurred_at,
        "created_at": now,
    }
    posting_id = await insert_posting(conn, values)
    await insert_entries(
        conn,
        posting_id,
        [
            (HELD, member.id, -hold.points),
            (redemption_account(hold.format), None, captured),
            (WALLET, member.id, returned),
            (EXPIRY, None, expired),
            *reclaim.legs(),
        ],
    )
    if back:
        await conn.execute(
            update(lot_table)
            .where(lot_table.c.id == bindparam("lot_id"))
            .values(remaining=lot_table.c.remaining + bindparam("back")),
            back,
        )
        await conn.execute(
            insert(lot_consumption_table),
            [{"posting_id": posting_id, "lot_id": row["lot_id"], "points": -row["back"]} for row in back],
        )
        await apply_reclaim(conn, posting_id, reclaim)
    moved = await conn.scalar(
        update(member_table)
        .where((member_table.c.id == member.id) & (member_table.c.held_balance >= hold.points))
        .values(
            points_balance=member_table.c.points_balance + returned,
            held_balance=member_table.c.held_balance - hold.points,
        )
        .returning(member_table.c.id)
    )
    if moved is None:
        raise RuntimeError(f"ledger inconsistency: member {member.id} holds less than hold {hold.id}'s {hold.points} pts")
    await repay_debt(conn, member.id, posting_id, balance_before=member.points_balance, credited=returned)
    status = "captured" if kind == "capture" else "voided"
    flipped = await conn.execute(
        update(hold_table)
        .where((hold_table.c.id == hold.id) & (hold_table.c.status == "held"))
        .values(status=status, settle_posting_id=posting_id, settled_at=now)
    )
    if flipped.rowcount != 1:
        raise RuntimeError(f"hold {hold.id} was settled concurrently")
    settled = replace(hold, status=status, settle_posting_id=posting_id, settled_at=now)
    after = replace(member, points_balance=balance_after, held_balance=member.held_balance - hold.points)
    return HoldResult(settled, result_from_values(posting_id, values)), after


# --- helpers -----------------------------------------------------------------------------------

_HOLD_FIELDS = tuple(HoldRow.__dataclass_fields__)


def _hold_from_row(row: Any) -> HoldRow:
    mapping = row._mapping
    return HoldRow(**{name: mapping[name] for name in _HOLD_FIELDS})


async def find_hold(conn: AsyncConnection, format_code: str, hold_key: str) -> HoldRow | None:
    """The hold a till of ``format_code`` placed with ``hold_key``, or ``None``."""
    row = (
        await conn.execute(
            select(hold_table).where(
                (hold_table.c.idempotency_scope == f"hold:{format_code}") & (hold_table.c.idempotency_key == hold_key)
            )
        )
    ).first()
    return _hold_from_row(row) if row is not None else None


async def _find_hold(conn: AsyncConnection, format_code: str, hold_key: str) -> HoldRow:
    hold = await find_hold(conn, format_code, hold_key)
    if hold is None:
        raise AtriumError(ErrorCode.HOLD_NOT_FOUND, f"There is no {format_code} hold with key {hold_key!r}.", "hold")
    return hold


async def _hold_owner(core: Core, format_code: str, hold_key: str) -> int:
    """The member a hold belongs to, read before locking it; ``HOLD_NOT_FOUND`` for an unknown hold."""
    async with core.db.read() as conn:
        return (await _find_hold(conn, format_code, hold_key)).member_id


def _still_held(hold: HoldRow, now: datetime) -> HoldRow:
    """``hold`` if it can still be captured or voided; ``HOLD_NOT_ACTIVE`` otherwise."""
    if hold.status == "held" and hold.expires_at > now:
        return hold
    if hold.status == "held" or hold.lapsed:
        done = f"voided itself when it lapsed at {hold.expires_at:%Y-%m-%d %H:%M} UTC"
    else:
        done = f"already {hold.status}"
    raise AtriumError(ErrorCode.HOLD_NOT_ACTIVE, f"Hold {hold.idempotency_key!r} {done}; place a new hold.", "hold")


def _format_name(core: Core, format_code: str) -> str:
    found = core.registry.formats.get(format_code)
    if found is None:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {format_code!r}.", "format")
    return found.name


def _check_points(points: int) -> int:
    if type(points) is not int or not 1 <= points <= MAX_HOLD_POINTS:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"Points must be a whole number from 1 to {MAX_HOLD_POINTS}.", "points")
    return points


def _check_ttl(core: Core, ttl: timedelta | None) -> timedelta:
    if ttl is None:
        return timedelta(minutes=core.settings.hold_ttl_minutes)
    if not isinstance(ttl, timedelta) or not MIN_HOLD_TTL <= ttl <= MAX_HOLD_TTL:
        raise AtriumError(ErrorCode.INVALID_INPUT, "A hold lasts from 1 minute to 24 hours.", "ttlMinutes")
    return ttl
