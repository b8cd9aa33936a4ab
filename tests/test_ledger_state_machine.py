"""Acceptance (issue 3): a seeded hypothesis state machine against a reference model of the ledger.

Random enrol, earn (with pending points and back-dated sales), redeem (and retries of the same key),
hold, capture, void, refund, cancel, the expiry job, admin adjustments, merge, freeze, erasure and
a clock that moves by minutes, days and months run against the gateway's services and, in parallel,
against :class:`tests.ledger_model.LedgerModel`. Every call's outcome (the error code, or the
posting's points and balance after) must be the model's, and after every step:

- every posting's entries sum to zero, and so do all entries together;
- per member, the stored ``points_balance`` = its ``member.wallet`` entries = what its available
  lots hold (``max(balance, 0)``: a debt under ``allow_negative`` is in no lot), the stored
  ``pending_balance`` = ``member.pending`` entries = its pending lots, the stored ``held_balance`` =
  ``member.held`` entries = its holds still ``held``; and all of it is what the model expects;
- every lot holds ``points − Σ consumption`` and never less than zero nor more than it was issued;
  each lot's owner, remainder and pending flag, each hold's owner and status, and the group and
  format accounts are what the model expects;
- no balance is negative unless ``refund_policy = "allow_negative"``;
- each posting's ``balance_after`` is the running sum of its member's wallet entries;
- ``verify_ledger`` finds nothing.

One test per database and refund policy. Each runs its own event loop (``asyncio.Runner``) and one
gateway core on a database of its own (a copy of the migrated SQLite template, or the session's
PostgreSQL database), emptied before each example. Runs are derandomized (same steps every time)
and bounded: see ``MACHINE_SETTINGS``.

The earn rule is a throwaway plugin, ``stall``, whose points are trivially predictable: 1 point and
1 growth per yuan, times the tier multiplier, with an optional share of the points pending for some days.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import strawberry
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from gateway.core import Core, build_host, open_core
from gateway.erasure import erase_member
from gateway.errors import AtriumError
from gateway.identity import enrol
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.earn import ActivityRequest, record_activity
from gateway.ledger.expiry import expire_points
from gateway.ledger.holds import (
    CaptureRequest,
    HoldRequest,
    VoidRequest,
    capture_hold,
    place_hold,
    sweep_holds,
    void_hold,
)
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member, unfreeze_member
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.models import (
    HELD,
    PENDING,
    WALLET,
    entry_table,
    hold_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.plugin_api import (
    Activity,
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    EarnLine,
    EarnRule,
    Fulfilment,
    MemberContext,
    RedemptionType,
    hookimpl,
)
from gateway.settings import Settings
from gateway.tiers import current_ladder
from tests.conftest import MUTABLE_TABLES, POSTGRES_URL_ENV
from tests.helpers import phone_key
from tests.ledger_model import LedgerModel, Outcome, Refused, Reward, TierSpec

FORMAT = "stall"
T0 = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
HOLD_TTL = timedelta(minutes=30)
REWARDS = {"token": Reward("token", 50), "lounge": Reward("lounge", 100, min_tier="silver")}

MACHINE_SETTINGS = settings(
    max_examples=int(os.environ.get("ATRIUM_LEDGER_MACHINE_EXAMPLES", "15")),
    stateful_step_count=35,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    phases=tuple(Phase) if os.environ.get("ATRIUM_LEDGER_MACHINE_SHRINK", "1") == "1" else (Phase.explicit, Phase.generate),
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
"""Seeded (derandomized: the same examples on every run) and bounded: 15 examples of ≤35 steps per test.

``ATRIUM_LEDGER_MACHINE_EXAMPLES`` runs more (a soak); ``ATRIUM_LEDGER_MACHINE_SHRINK=0`` skips
shrinking while developing the model."""

POLICIES = {
    # The default refund policy with calendar expiry in the group's time zone (points earned in January,
    # Shanghai time, expire at midnight starting Mar 1 there; sales back-dated to December on Feb 1), the
    # other one with rolling expiry (a month after the sale).
    "claw_back_available": {
        "refund_policy": "claw_back_available",
        "points_expiry_policy": "end_of_month",
        "points_expiry_n": 1,
        "timezone": "Asia/Shanghai",
    },
    "allow_negative": {"refund_policy": "allow_negative", "points_expiry_policy": "rolling_months", "points_expiry_n": 1},
}

OPERATIONS = [
    # (operation, weight): the first ones are what shrinking falls back to.
    ("earn", 11),
    ("clock", 13),
    ("redeem", 11),
    ("refund", 11),
    ("hold", 8),
    ("expire", 8),
    ("capture", 6),
    ("adjust", 6),
    ("merge", 5),
    ("void", 4),
    ("enrol", 4),
    ("cancel", 4),
    ("retry", 3),
    ("status", 3),
]
"""What :meth:`LedgerMachine.step` draws from, by weight."""

CLOCK_STEPS = [
    timedelta(minutes=1),
    timedelta(minutes=29),
    HOLD_TTL,  # exactly a hold's life: it lapses at expires_at, not after
    timedelta(hours=5),
    timedelta(days=1),
    timedelta(days=7),  # twice is exactly the 14-day return window
    timedelta(days=7),
    timedelta(days=14),
    timedelta(days=31),  # from Jan 20 09:00, 31 days is exactly one month: lots earned at T0 expire on the dot
    timedelta(days=31),
]


# --- the throwaway format -----------------------------------------------------------------------


@strawberry.input(description="A market-stall sale (state-machine test format).")
class StallSaleInput:
    yuan: int
    later_percent: int = 0
    pending_days: int = 0
    sold_at: datetime | None = None


def _sale_to_activity(value: StallSaleInput) -> ActivityDraft:
    return ActivityDraft(
        amount=Money(value.yuan * 100, "CNY"),
        occurred_at=value.sold_at,
        details={"yuan": value.yuan, "laterPercent": value.later_percent, "pendingDays": value.pending_days},
    )


def _earn(activity: Activity, member: MemberContext) -> list[EarnLine]:
    yuan, later_percent = activity.details["yuan"], activity.details["laterPercent"]
    later = yuan * later_percent // 100
    lines = [EarnLine(yuan - later, yuan, f"1 pt per CN¥1 on CN¥{yuan}")]
    if later:
        lines.append(EarnLine(later, 0, "after the return window", pending_days=activity.details["pendingDays"]))
    return lines


class StallPlugin:
    """1 pt and 1 growth per yuan (some points optionally pending); a 50-pt token, a 100-pt Silver lounge."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code=FORMAT, name="Stall"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(ActivityKind(format=FORMAT, name="sale", input_type=StallSaleInput, to_activity=_sale_to_activity))

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(EarnRule(format=FORMAT, code="per_yuan", description="1 pt per CN¥1", compute=_earn))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        for reward in REWARDS.values():
            register(
                RedemptionType(
                    format=FORMAT, code=reward.code, name=reward.code.title(), description="", points=reward.points,
                    max_quantity=40, min_tier=reward.min_tier, fulfil=lambda request: Fulfilment("stall reward"),
                )
            )


# --- the run's context ---------------------------------------------------------------------------


@dataclass
class Context:
    """What one test's machines share: the loop, the core, the policy and what the run covered."""

    runner: asyncio.Runner
    core: Core
    policy: str
    stats: Counter[tuple[str, str]] = field(default_factory=Counter)

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)


async def _empty_database(core: Core) -> None:
    async with core.db.write() as conn:
        if core.db.is_sqlite:
            for table in MUTABLE_TABLES:  # children first
                await conn.execute(text(f"DELETE FROM {table}"))
        else:
            await conn.execute(text(f"TRUNCATE {', '.join(MUTABLE_TABLES)} RESTART IDENTITY CASCADE"))


# --- reading the database back ------------------------------------------------------------------


@dataclass
class Snapshot:
    members: dict[int, tuple[Any, ...]]
    lots: list[Any]
    holds: list[Any]
    unbalanced: list[tuple[int, int]]
    grand_total: int
    member_accounts: dict[tuple[str, int], int]
    group_accounts: dict[str, int]
    consumed: dict[int, int]
    postings: list[Any]
    wallet_moves: dict[int, int]
    posting_kinds: Counter[str]
    discrepancies: list[Any]


async def _snapshot(core: Core) -> Snapshot:
    async with core.db.read() as conn:
        members = {
            int(row.id): tuple(row)[1:]
            for row in await conn.execute(
                select(
                    member_table.c.id,
                    member_table.c.status,
                    member_table.c.merged_into_id,
                    member_table.c.tier_code,
                    member_table.c.growth_value,
                    member_table.c.points_balance,
                    member_table.c.pending_balance,
                    member_table.c.held_balance,
                ).order_by(member_table.c.id)
            )
        }
        lots = list(await conn.execute(select(lot_table).order_by(lot_table.c.id)))
        holds = list(await conn.execute(select(hold_table).order_by(hold_table.c.id)))
        # One pass over the entries, summed by posting, account and member, answers every sum below.
        unbalanced_by: dict[int, int] = defaultdict(int)
        member_accounts: dict[tuple[str, int], int] = defaultdict(int)
        group_accounts: dict[str, int] = defaultdict(int)
        wallet_by_posting: dict[tuple[int, int], int] = {}
        for posting_id, account, member_id, amount in await conn.execute(
            select(entry_table.c.posting_id, entry_table.c.account, entry_table.c.member_id, func.sum(entry_table.c.amount))
            .group_by(entry_table.c.posting_id, entry_table.c.account, entry_table.c.member_id)
        ):
            amount = int(amount)
            unbalanced_by[int(posting_id)] += amount
            if member_id is None:
                group_accounts[account] += amount
            else:
                member_accounts[(account, int(member_id))] += amount
                if account == WALLET:
                    wallet_by_posting[(int(posting_id), int(member_id))] = amount
        unbalanced = [(p, t) for p, t in unbalanced_by.items() if t != 0]
        grand_total = sum(unbalanced_by.values())
        consumed = {
            int(lot_id): int(points)
            for lot_id, points in await conn.execute(
                select(lot_consumption_table.c.lot_id, func.sum(lot_consumption_table.c.points)).group_by(
                    lot_consumption_table.c.lot_id
                )
            )
        }
        postings = list(
            await conn.execute(
                select(
                    posting_table.c.id,
                    posting_table.c.member_id,
                    posting_table.c.kind,
                    posting_table.c.balance_after,
                    posting_table.c.idempotency_scope,
                ).order_by(posting_table.c.id)
            )
        )
        wallet_moves = {
            int(row.id): wallet_by_posting.get((int(row.id), int(row.member_id)), 0) for row in postings
        }
        kinds = Counter(row.kind if row.idempotency_scope != "hold-lapse" else "lapse" for row in postings)
        discrepancies = list(await verify_ledger(conn))
    return Snapshot(
        members, lots, holds, unbalanced, grand_total, member_accounts, group_accounts, consumed, postings, wallet_moves, kinds,
        discrepancies,
    )


def _ledger_problems(snap: Snapshot, *, allow_negative: bool) -> list[str]:
    """The model-free invariants of the brief, on the database alone."""
    problems: list[str] = [f"posting {p} entries sum to {t}" for p, t in snap.unbalanced]
    if snap.grand_total != 0:
        problems.append(f"all entries sum to {snap.grand_total}, not 0")
    available: dict[int, int] = defaultdict(int)
    pending: dict[int, int] = defaultdict(int)
    for lot in snap.lots:
        (pending if lot.pending else available)[lot.member_id] += lot.remaining
        if not 0 <= lot.remaining <= lot.points:
            problems.append(f"lot {lot.id} holds {lot.remaining} of {lot.points}")
        if lot.points - snap.consumed.get(lot.id, 0) != lot.remaining:
            problems.append(f"lot {lot.id}: {lot.points} issued − {snap.consumed.get(lot.id, 0)} drawn ≠ {lot.remaining} left")
    held: dict[int, int] = defaultdict(int)
    for hold in snap.holds:
        if hold.status == "held":
            held[hold.member_id] += hold.points
    for member_id, (status, _into, _tier, _growth, balance, pending_balance, held_balance) in snap.members.items():
        wallet_entries = snap.member_accounts.get((WALLET, member_id), 0)
        if not (balance == wallet_entries and available[member_id] == max(balance, 0)):
            problems.append(
                f"member {member_id}: stored balance {balance}, wallet entries {wallet_entries}, "
                f"available lots {available[member_id]}"
            )
        if not pending_balance == snap.member_accounts.get((PENDING, member_id), 0) == pending[member_id]:
            problems.append(
                f"member {member_id}: stored pending {pending_balance}, pending entries "
                f"{snap.member_accounts.get((PENDING, member_id), 0)}, pending lots {pending[member_id]}"
            )
        if not held_balance == snap.member_accounts.get((HELD, member_id), 0) == held[member_id]:
            problems.append(
                f"member {member_id}: stored held {held_balance}, held entries {snap.member_accounts.get((HELD, member_id), 0)}, "
                f"holds held {held[member_id]}"
            )
        if balance < 0 and not allow_negative:
            problems.append(f"member {member_id}: negative balance {balance} under claw_back_available")
        if pending_balance < 0 or held_balance < 0:
            problems.append(f"member {member_id}: negative pending {pending_balance} or held {held_balance}")
    running: dict[int, int] = defaultdict(int)
    for posting in snap.postings:
        running[posting.member_id] += snap.wallet_moves.get(posting.id, 0)
        if posting.balance_after != running[posting.member_id]:
            problems.append(
                f"posting {posting.id} ({posting.kind}) of member {posting.member_id}: balance_after "
                f"{posting.balance_after}, running wallet {running[posting.member_id]}"
            )
    problems += [f"verify_ledger: {d}" for d in snap.discrepancies]
    return problems


def _model_problems(snap: Snapshot, model: LedgerModel) -> list[str]:
    """Where the database is not what the model expects."""
    problems: list[str] = []
    expected_members = {
        m.id: (m.status, m.merged_into, m.tier, m.growth, m.wallet, m.pending, m.held) for m in model.s.members.values()
    }
    if snap.members != expected_members:
        for member_id in sorted(set(snap.members) | set(expected_members)):
            if snap.members.get(member_id) != expected_members.get(member_id):
                problems.append(
                    f"member {member_id} (status, merged into, tier, growth, points, pending, held): "
                    f"db {snap.members.get(member_id)}, model {expected_members.get(member_id)}"
                )
    if len(snap.lots) != len(model.s.lots):
        problems.append(f"{len(snap.lots)} lots in the db, {len(model.s.lots)} in the model")
    for row, lot in zip(snap.lots, model.s.lots):
        db = (row.member_id, row.points, row.remaining, bool(row.pending), row.available_at, row.expires_at)
        expected = (lot.member, lot.points, lot.remaining, lot.pending, lot.available_at, lot.expires_at)
        if db != expected:
            problems.append(
                f"lot {row.id} ({lot.source}) (member, points, remaining, pending, available, expires): db {db}, model {expected}"
            )
    expected_holds = [(h.key, h.member, h.status, h.points) for h in model.s.holds.values()]
    db_holds = [(h.idempotency_key, h.member_id, h.status, h.points) for h in snap.holds]
    if db_holds != expected_holds:
        problems.append(f"holds (key, member, status, points): db {db_holds}, model {expected_holds}")
    expected_accounts = {account: amount for account, amount in model.s.accounts.items() if amount}
    db_accounts = {account: amount for account, amount in snap.group_accounts.items() if amount}
    if db_accounts != expected_accounts:
        problems.append(f"group and format accounts: db {db_accounts}, model {expected_accounts}")
    return problems


# --- the machine ---------------------------------------------------------------------------------


def _posting(result: Any) -> Any:
    """The posting of a service's result (holds return the hold and its posting)."""
    return getattr(result, "posting", result)


def _points(result: Any) -> int:
    return _posting(result).points


def _balance(result: Any) -> int:
    return _posting(result).balance_after


Ref = tuple[str, Any]


class LedgerMachine(RuleBasedStateMachine):
    """Drives the services and the model side by side (see the module docstring).

    One rule, :meth:`step`, draws an operation by weight (:data:`OPERATIONS`) and then its
    arguments, so every example mixes every operation (rule-level swarm testing would switch
    whole operations off in most short examples). ``history`` lists what was done, for messages.
    """

    ctx: ClassVar[Context]

    def __init__(self) -> None:
        super().__init__()
        self.ctx.run(_empty_database(self.ctx.core))
        self.ladder = self.ctx.run(current_ladder(self.ctx.core))
        config = self.ctx.core.settings
        self.model = LedgerModel(
            tiers=[TierSpec(t.code, t.rank, t.threshold, t.multiplier) for t in self.ladder.tiers],
            format_code=FORMAT,
            rewards=REWARDS,
            refund_policy=config.refund_policy,
            expiry_policy=config.points_expiry_policy,
            expiry_n=config.points_expiry_n,
            zone=config.zone,
            hold_ttl=timedelta(minutes=config.hold_ttl_minutes),
        )
        self.now = T0
        self.numbers = itertools.count(1)
        self.phones: list[str] = []
        self.earn_keys: list[str] = []
        self.hold_keys: list[str] = []
        self.requests: dict[str, tuple[str, dict[str, Any]]] = {}
        self.sent: set[str] = set()
        self.postings: dict[str, int] = {}
        self.sold_at: dict[str, datetime | None] = {}
        self.history: list[str] = []
        self.again = False

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def core(self) -> Core:
        return self.ctx.core

    def key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.numbers)}"

    def call(self, coroutine: Any) -> tuple[Any, str | None]:
        try:
            return self.ctx.run(coroutine), None
        except AtriumError as error:
            return None, error.code.value

    def say(self, line: str) -> None:
        self.history.append(f"[{self.now:%m-%d %H:%M}] {'again: ' if self.again else ''}{line}")

    def fail(self, message: str) -> str:
        return message + "\nsteps so far:\n  " + "\n  ".join(self.history)

    def check(
        self,
        operation: str,
        expected: Outcome | Refused | Any,
        result: Any,
        code: str | None,
        *,
        points: Callable[[Any], int] = lambda r: r.points,
        balance: Callable[[Any], int] = lambda r: r.balance_after,
    ) -> bool:
        """The call did what the model expected: the same refusal, or a posting with its points and balance."""
        if isinstance(expected, Refused):
            self.history[-1] += f" -> {code}"
            assert code == expected.code, self.fail(
                f"{operation}: the model expects {expected.code}, the gateway gave {code or result}"
            )
            self.ctx.stats[(operation, expected.code)] += 1
            return False
        self.history[-1] += f" -> {code or 'ok'}"
        assert code is None, self.fail(f"{operation}: the model expects success {expected}, the gateway refused with {code}")
        if isinstance(expected, Outcome):
            got = (points(result), balance(result))
            self.history[-1] += f" {got[0]:+} pts, balance {got[1]}"
            assert got == (expected.points, expected.balance_after), self.fail(
                f"{operation}: (points, balance after) gateway {got}, model {(expected.points, expected.balance_after)}"
            )
        self.ctx.stats[(operation, "ok")] += 1
        return True

    @staticmethod
    def member_ref(ref: Ref) -> MemberRef:
        kind, value = ref
        return MemberRef(member_id=value) if kind == "id" else MemberRef(identity=phone_key(value))

    def ref(self, member_id: int, by_phone: bool) -> Ref:
        return ("phone", self.model.s.members[member_id].phone) if by_phone else ("id", member_id)

    def draw_member(self, data: st.DataObject, label: str = "member") -> int:
        """Any member record ever enrolled: merged-away ids resolve to their survivor, erased ones are refused.

        Listed so that the draws Hypothesis favours (the first ones) land where the ledger is most
        interesting: members in debt, then active ones, frozen, merged away, erased.
        """

        def rank(member_id: int) -> tuple[int, int]:
            member = self.model.s.members[member_id]
            if member.merged_into is not None:
                return 3, member_id
            order = {"active": 1, "frozen": 2, "erased": 4}[member.status]
            return (0 if member.wallet < 0 and order == 1 else order), member_id

        members = sorted(self.model.s.members, key=rank)
        in_debt = [member_id for member_id in members if rank(member_id)[0] == 0]
        if in_debt and data.draw(st.booleans(), label="a member in debt"):
            members = in_debt
        return data.draw(st.sampled_from(members), label=label)

    # --- the one rule ----------------------------------------------------------------------------

    @initialize(yuan=st.integers(1, 1500), held=st.integers(1, 1500))
    def first_member(self, yuan: int, held: int) -> None:
        """Every example starts with two members: this one has points and a day-long hold on some of them ..."""
        member = self._enrol(self._new_phone())
        assert member is not None
        self._earn(member, by_phone=False, yuan=yuan, later_percent=0, pending_days=0, backdate_days=0)
        self._hold(member, min(held, yuan), timedelta(hours=24))

    @initialize(yuan=st.integers(2, 1500))
    def second_member(self, yuan: int) -> None:
        """... and this one has half its points pending for a week."""
        member = self._enrol(self._new_phone())
        assert member is not None
        self._earn(member, by_phone=False, yuan=yuan, later_percent=50, pending_days=7, backdate_days=0)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        possible = [
            name
            for name, weight in OPERATIONS
            for _ in range(weight)
            if name not in ("capture", "void") or self.hold_keys
            if name != "refund" or self.earn_keys
            if name != "cancel" or self.model.s.redemptions
            if name != "retry" or self.requests
        ]
        operation = data.draw(st.sampled_from(possible), label="operation")
        getattr(self, f"do_{operation}")(data)

    # --- the clock and time's jobs ------------------------------------------------------------------

    def do_clock(self, data: st.DataObject) -> None:
        step = data.draw(st.sampled_from(CLOCK_STEPS), label="clock step")
        self.now += step
        self.say(f"clock +{step}")

    def do_expire(self, data: st.DataObject) -> None:
        """``atrium ledger expire``: sweep lapsed holds, then expire lots past their date."""
        self.say("expire job")
        swept, expired = self.model.attempt(self.model.expire_job, self.now)

        async def job() -> tuple[Any, Any]:
            sweep = await sweep_holds(self.core, now=self.now)
            return sweep, await expire_points(self.core, now=self.now)

        sweep, report = self.ctx.run(job())
        got_swept = [voided.hold.idempotency_key for voided in sweep.voided]
        got = {member.member_id: (member.points, member.pending_points) for member in report.members}
        self.history[-1] += f" -> voided {got_swept}, expired (available, pending) by member {got}"
        assert got_swept == swept, self.fail(f"expire: holds voided by the sweep: gateway {got_swept}, model {swept}")
        assert got == expired, self.fail(f"expire: gateway {got}, model {expired}")
        self.ctx.stats[("expire", "ok")] += 1
        if swept:
            self.ctx.stats[("expire", "swept holds")] += 1
        if expired:
            self.ctx.stats[("expire", "expired points")] += 1

    # --- members ---------------------------------------------------------------------------------

    def _new_phone(self) -> str:
        phone = f"139{len(self.phones) + 1:08d}"
        self.phones.append(phone)
        return phone

    def _enrol(self, phone: str) -> int | None:
        self.say(f"enrol {phone}")
        expected = self.model.enrol_refusal(phone)
        member_id, code = self.call(
            enrol(self.core.db, identity=phone_key(phone), ladder=self.ladder, enrolled_format=FORMAT, now=self.now)
        )
        self.history[-1] += f" -> {code or f'member {member_id}'}"
        assert code == expected, self.fail(f"enrol {phone}: the model expects {expected}, the gateway gave {code or member_id}")
        self.ctx.stats[("enrol", code or "ok")] += 1
        if code:
            return None
        self.model.add_member(member_id, phone)
        return member_id

    def do_enrol(self, data: st.DataObject) -> None:
        """A new person, or (1 in 4) a phone enrolled before: taken, unless erased since."""
        if data.draw(st.integers(0, 3), label="reuse a phone if 0") == 0:
            self._enrol(data.draw(st.sampled_from(self.phones), label="phone"))
        else:
            self._enrol(self._new_phone())

    def do_status(self, data: st.DataObject) -> None:
        member = self.draw_member(data)
        ref = self.ref(member, data.draw(st.booleans(), label="by phone"))
        action = data.draw(st.sampled_from(["freeze", "unfreeze", "unfreeze", "erase"]), label="action")
        self.say(f"{action} {ref}")
        if action == "erase":
            expected = self.model.attempt(self.model.erase, ref)
            call = erase_member(self.core, self.member_ref(ref), actor="machine", reason="asked to be forgotten", now=self.now)
        else:
            target = "frozen" if action == "freeze" else "active"
            expected = self.model.attempt(self.model.set_status, ref, target)
            change = freeze_member if action == "freeze" else unfreeze_member
            call = change(self.core.db, self.member_ref(ref), actor="machine", reason="under review", now=self.now)
        result, code = self.call(call)
        if self.check(action, expected, result, code):
            got = result.member_id if action == "erase" else result
            assert got == expected, self.fail(f"{action}: gateway acted on member {got}, model on {expected}")

    def do_merge(self, data: st.DataObject) -> None:
        """Merge another record (any: merged away, erased, frozen ...) into a survivor; itself only if alone."""
        survivor = self.draw_member(data, "survivor")
        others = sorted(set(self.model.s.members) - {survivor})
        with_points = [m for m in others if self.model.s.members[m].merged_into is None and self.model.s.members[m].wallet > 0]
        if self.model.survivor(survivor).wallet < 0 and with_points and data.draw(st.booleans(), label="one with points"):
            others = with_points  # the merge repays the survivor's debt from the merged record's lots
        merged = data.draw(st.sampled_from(others), label="merged") if others else survivor
        self.say(f"merge {merged} into {survivor}")
        expected = self.model.attempt(self.model.merge, survivor, merged)
        result, code = self.call(
            merge_members(
                self.core, MemberRef(member_id=survivor), MemberRef(member_id=merged), actor="machine",
                reason="one person, two cards", now=self.now,
            )
        )
        if self.check("merge", expected if isinstance(expected, Refused) else "done", result, code):
            assert result.merged_now == (expected is not None), self.fail(
                f"merge: gateway merged_now={result.merged_now}, model {expected}"
            )
            if expected is None:
                self.ctx.stats[("merge", "noop")] += 1

    # --- keyed writes: sent once, and maybe again ---------------------------------------------------

    def send(self, key: str) -> None:
        """Send the keyed write ``key`` (first time or again): the model's outcome, and the same posting on a replay."""
        operation, arguments = self.requests[key]
        name = operation if key not in self.sent else f"retry {operation}"
        self.again = key in self.sent
        try:
            expected, result, code = getattr(self, f"_send_{operation}")(key, **arguments)
        finally:
            self.again = False
        self.sent.add(key)
        if not self.check(name, expected, result, code, points=_points, balance=_balance):
            return
        posting = _posting(result)
        if expected.replayed:
            assert posting.replayed and posting.id == self.postings[key], self.fail(
                f"{name} {key}: gateway posting {posting.id} (replayed={posting.replayed}), "
                f"first posting {self.postings.get(key)}"
            )
        else:
            assert not posting.replayed and key not in self.postings, self.fail(f"{name} {key}: a fresh posting expected")
            self.postings[key] = posting.id

    def request(self, prefix: str, operation: str, **arguments: Any) -> str:
        key = self.key(prefix)
        self.requests[key] = (operation, arguments)
        self.send(key)
        return key

    def do_retry(self, data: st.DataObject) -> None:
        """A keyed write sent again as it was: the original posting, or the original refusal if remembered."""
        newest_first = sorted(self.requests, key=lambda key: -int(key.split("-")[1]))
        self.send(data.draw(st.sampled_from(newest_first), label="key (newest first)"))

    # --- earning ---------------------------------------------------------------------------------

    def _earn(self, member: int, *, by_phone: bool, yuan: int, later_percent: int, pending_days: int, backdate_days: int) -> None:
        self.request(
            "E", "earn", ref=self.ref(member, by_phone), yuan=yuan, later_percent=later_percent,
            pending_days=pending_days, backdate_days=backdate_days,
        )

    def _send_earn(self, key: str, *, ref: Ref, yuan: int, later_percent: int, pending_days: int, backdate_days: int) -> Any:
        if key not in self.earn_keys:
            self.earn_keys.append(key)
        sold_at = self.sold_at.setdefault(key, self.now - timedelta(days=backdate_days) if backdate_days else None)
        self.say(f"earn {key} {ref} ¥{yuan}, {later_percent}% pending {pending_days}d, sold {backdate_days}d ago")
        expected = self.model.attempt(
            self.model.earn, ref, key,
            yuan=yuan, later_percent=later_percent, pending_days=pending_days, sold_at=sold_at, now=self.now,
        )
        sale = StallSaleInput(yuan=yuan, later_percent=later_percent, pending_days=pending_days, sold_at=sold_at)
        request = ActivityRequest(member=self.member_ref(ref), format=FORMAT, kind="sale", idempotency_key=key, input=sale)
        return (expected, *self.call(record_activity(self.core, request, now=self.now)))

    def do_earn(self, data: st.DataObject) -> None:
        self._earn(
            self.draw_member(data),
            by_phone=data.draw(st.booleans(), label="by phone"),
            yuan=data.draw(st.integers(1, 1500), label="yuan"),
            later_percent=data.draw(st.sampled_from([0, 0, 50, 100]), label="later percent"),
            pending_days=data.draw(st.sampled_from([0, 7, 14]), label="pending days"),
            backdate_days=data.draw(st.sampled_from([0, 0, 0, 3, 20, 45]), label="sold days ago"),
        )

    def do_adjust(self, data: st.DataObject) -> None:
        member = self.draw_member(data)
        wallet = self.model.survivor(member).wallet
        drain = [st.just(-wallet)] if wallet > 0 else []  # debit everything, so refunds find the points gone
        points = data.draw(st.one_of(st.integers(1, 1500), st.integers(-1500, -1), *drain), label="points")
        self.request("A", "adjust", member=member, points=points)

    def _send_adjust(self, key: str, *, member: int, points: int) -> Any:
        self.say(f"adjust {key} member {member} {points:+}")
        expected = self.model.attempt(self.model.adjust, ("id", member), key, points, self.now)
        request = AdjustRequest(
            member=MemberRef(member_id=member), points=points, reason="goodwill", idempotency_key=key, actor="machine"
        )
        return (expected, *self.call(adjust_points(self.core, request, now=self.now)))

    # --- spending --------------------------------------------------------------------------------

    def do_redeem(self, data: st.DataObject) -> None:
        member = self.draw_member(data)
        reward = data.draw(st.sampled_from(["token", "token", "token", "lounge"]), label="reward")
        # Now and then as much as the member can afford, so refunds find the points spent.
        affordable = max(self.model.survivor(member).wallet // REWARDS[reward].points, 1)
        quantity = data.draw(st.just(min(affordable, 40)) | st.integers(1, 20), label="quantity")
        self.request("R", "redeem", member=member, reward=reward, quantity=quantity)

    def _send_redeem(self, key: str, *, member: int, reward: str, quantity: int) -> Any:
        self.say(f"redeem {key} member {member} {reward} ×{quantity}")
        expected = self.model.attempt(self.model.redeem, ("id", member), key, reward, quantity, self.now)
        request = RedeemRequest(
            member=MemberRef(member_id=member), format=FORMAT, reward=reward, quantity=quantity, idempotency_key=key
        )
        return (expected, *self.call(redeem(self.core, request, now=self.now)))

    def do_hold(self, data: st.DataObject) -> None:
        member = self.draw_member(data)
        points = data.draw(st.integers(1, 2000), label="points")
        ttl = data.draw(st.sampled_from([None, timedelta(hours=24)]), label="ttl (None: the setting's 30 min)")
        self._hold(member, points, ttl)

    def _hold(self, member: int, points: int, ttl: timedelta | None) -> None:
        self.request("H", "hold", member=member, points=points, ttl=ttl)

    def _send_hold(self, key: str, *, member: int, points: int, ttl: timedelta | None) -> Any:
        self.say(f"hold {key} member {member} {points} pts for {ttl or 'the default'}")
        expected = self.model.attempt(self.model.hold, ("id", member), key, points, self.now, ttl)
        request = HoldRequest(member=MemberRef(member_id=member), format=FORMAT, points=points, idempotency_key=key, ttl=ttl)
        result, code = self.call(place_hold(self.core, request, now=self.now))
        if code is None and key not in self.hold_keys:
            self.hold_keys.append(key)
        return expected, result, code

    def _draw_hold(self, data: st.DataObject) -> str:
        holds = self.model.s.holds
        live = [key for key in self.hold_keys[::-1] if holds[key].status == "held" and holds[key].expires_at > self.now]
        others = [key for key in self.hold_keys[::-1] if key not in live]
        owed = [key for key in live if self._returns_refunded_points(holds[key].draws)]
        if owed and data.draw(st.booleans(), label="one holding points a refund left unrecovered"):
            live = owed
        return data.draw(st.sampled_from(live + others), label="hold (live first)")

    def _returns_refunded_points(self, draws: list[tuple[int, int]]) -> bool:
        """Whether some of ``draws`` come from an earn whose refunds left points unrecovered (reclaimed on return)."""
        for seq, _ in draws:
            source = self.model.lot(seq).source
            earn = self.model.s.earns.get(source.removeprefix("earn:")) if source.startswith("earn:") else None
            if earn is not None and earn.outstanding > 0:
                return True
        return False

    def do_capture(self, data: st.DataObject) -> None:
        hold_key = self._draw_hold(data)
        held = self.model.s.holds[hold_key]
        points = data.draw(st.none() | st.integers(1, held.points + 1), label="capture points (None: all)")
        self.request("C", "capture", hold_key=hold_key, points=points)

    def _send_capture(self, key: str, *, hold_key: str, points: int | None) -> Any:
        self.say(f"capture {key}: {points if points is not None else 'all'} of {hold_key}")
        expected = self.model.attempt(self.model.capture, hold_key, key, points, self.now)
        request = CaptureRequest(format=FORMAT, hold_key=hold_key, idempotency_key=key, points=points)
        return (expected, *self.call(capture_hold(self.core, request, now=self.now)))

    def do_void(self, data: st.DataObject) -> None:
        self.request("V", "void", hold_key=self._draw_hold(data))

    def _send_void(self, key: str, *, hold_key: str) -> Any:
        self.say(f"void {key}: {hold_key}")
        expected = self.model.attempt(self.model.void, hold_key, key, self.now)
        request = VoidRequest(format=FORMAT, hold_key=hold_key, idempotency_key=key)
        return (expected, *self.call(void_hold(self.core, request, now=self.now)))

    # --- compensating ----------------------------------------------------------------------------

    def do_refund(self, data: st.DataObject) -> None:
        def rank(key: str) -> int:
            earned = self.model.s.earns.get(key)
            if earned is None or earned.refunded_minor == earned.amount_minor:
                return 2
            left_in_lots = sum(self.model.lot(seq).remaining for seq in earned.lots)
            return 0 if left_in_lots < earned.points - earned.points_due else 1  # spent (or expired) first

        earns = sorted(self.earn_keys, key=lambda key: (rank(key), -int(key.split("-")[1])))  # newest first within a rank
        spent = [key for key in earns if rank(key) == 0]
        if spent and data.draw(st.booleans(), label="one whose points are spent or expired"):
            earns = spent
            out = [key for key in spent if self._points_may_come_back(key)]
            if out and data.draw(st.booleans(), label="one whose points a live hold or a reward may give back"):
                earns = out
        earn_key = data.draw(st.sampled_from(earns), label="earn (spent first)")
        earned = self.model.s.earns.get(earn_key)
        left = earned.amount_minor - earned.refunded_minor if earned else 100
        # All that is left, a part of it, or (1 in 4) a cent too much.
        choices = ([st.just(left), st.integers(1, left), st.integers(1, left)] if left > 0 else []) + [st.just(left + 1)]
        amount = data.draw(st.one_of(*choices), label="refund minor units")
        self.request("F", "refund", earn_key=earn_key, amount=amount)

    def _points_may_come_back(self, earn_key: str) -> bool:
        """Whether a hold still held or a redemption not cancelled drew from ``earn_key``'s lots: refunding it
        now may leave points unrecovered that come back later (and are reclaimed then)."""
        lots = set(self.model.s.earns[earn_key].lots)
        draws = [h.draws for h in self.model.s.holds.values() if h.status == "held"]
        draws += [r.draws for r in self.model.s.redemptions.values() if not r.cancelled]
        return any(seq in lots for drawn in draws for seq, _ in drawn)

    def _send_refund(self, key: str, *, earn_key: str, amount: int) -> Any:
        self.say(f"refund {key}: {amount / 100:.2f} yuan of {earn_key}")
        expected = self.model.attempt(self.model.refund, earn_key, key, amount, self.now)
        request = RefundRequest(format=FORMAT, amount=Money(amount, "CNY"), idempotency_key=key, original_key=earn_key)
        result, code = self.call(refund_activity(self.core, request, now=self.now))
        if isinstance(expected, Outcome) and code is None:
            details = {name: result.details.get(name) for name in expected.details}
            assert details == expected.details, self.fail(f"refund details: gateway {details}, model {expected.details}")
            for name in ("debt", "unrecovered", "fromExpiry", "fromOtherPoints", "fromPending"):
                if details[name] and not expected.replayed:
                    self.ctx.stats[("refund", name)] += 1
        return expected, result, code

    def do_cancel(self, data: st.DataObject) -> None:
        redemptions = sorted(self.model.s.redemptions.values(), key=lambda r: (r.cancelled, -int(r.key.split("-")[1])))
        owed = [r for r in redemptions if not r.cancelled and self._returns_refunded_points(r.draws)]
        if owed and data.draw(st.booleans(), label="one that spent points a refund left unrecovered"):
            redemptions = owed
        redemption_key = data.draw(st.sampled_from([r.key for r in redemptions]), label="redemption (not cancelled first)")
        self.request("X", "cancel", redemption_key=redemption_key)

    def _send_cancel(self, key: str, *, redemption_key: str) -> Any:
        self.say(f"cancel {key}: {redemption_key}")
        expected = self.model.attempt(self.model.cancel, redemption_key, key, self.now)
        request = CancelRequest(format=FORMAT, idempotency_key=key, redemption_key=redemption_key)
        result, code = self.call(cancel_redemption(self.core, request, now=self.now))
        if isinstance(expected, Outcome) and code is None:
            details = {name: result.details.get(name) for name in expected.details}
            assert details == expected.details, self.fail(f"cancel details: gateway {details}, model {expected.details}")
            for name in ("expired", "reclaimedPoints"):
                if details[name] and not expected.replayed:
                    self.ctx.stats[("cancel", name)] += 1
        return expected, result, code

    # --- after every step ------------------------------------------------------------------------

    @invariant()
    def ledger_adds_up(self) -> None:
        snap = self.ctx.run(_snapshot(self.core))
        problems = _ledger_problems(snap, allow_negative=self.model.allow_negative)
        problems += _model_problems(snap, self.model)
        assert not problems, self.fail(f"at {self.now.isoformat()}:\n  " + "\n  ".join(problems))
        self.last_kinds = snap.posting_kinds

    def teardown(self) -> None:
        for kind, count in getattr(self, "last_kinds", {}).items():
            self.ctx.stats[("posting", kind)] += count
        for event, count in self.model.s.events.items():
            self.ctx.stats[("model", event)] += count


# --- the tests -----------------------------------------------------------------------------------

REQUIRED = [
    *((operation, "ok") for operation in ("enrol", "earn", "redeem", "hold", "capture", "void", "refund", "merge", "adjust")),
    ("expire", "expired points"),
    ("posting", "release"),
    ("posting", "lapse"),
    ("redeem", "INSUFFICIENT_POINTS"),
]
"""Outcomes each run must have produced at least once, so a change in generation cannot quietly stop testing them."""



@contextmanager
def _running_core(request: pytest.FixtureRequest, tmp_path: Path, backend: str, policy: str) -> Iterator[Context]:
    """A gateway core with the ``stall`` plugin on a database of its own, and the event loop it runs on."""
    if backend == "postgres" and not os.environ.get(POSTGRES_URL_ENV):
        request.getfixturevalue("postgres_database")  # skips locally, fails under CI
    if backend == "sqlite":
        path = tmp_path / "atrium.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
    config = Settings(database_url=url, plugins=None, _env_file=None, **POLICIES[policy])  # type: ignore[arg-type]
    with asyncio.Runner() as runner:
        core = runner.run(open_core(config, build_host(config, [("stall", StallPlugin())])))
        try:
            yield Context(runner=runner, core=core, policy=policy)
        finally:
            runner.run(core.close())


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ledger_state_machine(request: pytest.FixtureRequest, tmp_path: Path, backend: str, policy: str) -> None:
    started = time.monotonic()
    with _running_core(request, tmp_path, backend, policy) as ctx:
        machine = type(f"LedgerMachine_{backend}_{policy}", (LedgerMachine,), {"ctx": ctx})
        run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
    elapsed = time.monotonic() - started
    print(f"\n{backend}/{policy}: {elapsed:.1f} s; outcomes:")
    for (operation, outcome), count in sorted(ctx.stats.items()):
        print(f"  {operation:14} {outcome:24} {count}")
    missing = [item for item in REQUIRED if not ctx.stats[item]]
    needed = (
        [("refund", "debt"), ("model", "debt repaid")]
        if policy == "allow_negative"
        else [("refund", "unrecovered"), ("model", "refunded points reclaimed on return")]
    )
    missing += [item for item in needed if not ctx.stats[item]]
    assert not missing, f"the run never produced {missing}; widen the strategies"


@pytest.mark.parametrize("via", ["cancel", "lapse"])
def test_a_refund_after_the_activity_points_expired_through_a_cancel_or_a_hold(
    request: pytest.FixtureRequest, tmp_path: Path, via: str
) -> None:
    """A minimal case the state machine found: the points of sale E-1
    went to ``group.expiry`` (its redemption cancelled, or its hold voided, after they expired), so
    refunding E-1 cancels them against the expiry account and leaves the member's next purchase alone."""
    with _running_core(request, tmp_path, "sqlite", "claw_back_available") as ctx:
        machine = type("LedgerMachine_refund_after_expiry", (LedgerMachine,), {"ctx": ctx})()
        member = machine._enrol(machine._new_phone())
        assert member is not None
        sale = {"by_phone": False, "yuan": 100, "later_percent": 0, "pending_days": 0, "backdate_days": 0}
        machine._earn(member, **sale)  # E-1: 100 pts, expiring on Mar 1 (Shanghai)
        if via == "cancel":
            spent = machine.request("R", "redeem", member=member, reward="token", quantity=2)  # all 100 spent
        else:
            machine._hold(member, 100, None)  # all 100 held for 30 minutes; nobody captures
        machine.now += timedelta(days=41)  # Mar 2: E-1's lot has expired
        machine._earn(member, **sale)  # E-3: 100 new pts (and, via "lapse", the lapsed hold is voided to expiry)
        if via == "cancel":
            machine.request("X", "cancel", redemption_key=spent)  # the 100 pts go to expiry: their lot expired
        machine.ledger_adds_up()
        machine.request("F", "refund", earn_key="E-1", amount=100_00)  # documented: fromExpiry 100, the member keeps 100
        machine.ledger_adds_up()


@pytest.mark.parametrize("via", ["cancel", "void", "lapse", "capture"])
def test_points_a_refund_left_unrecovered_are_reclaimed_when_a_cancel_or_a_hold_gives_them_back(
    request: pytest.FixtureRequest, tmp_path: Path, via: str
) -> None:
    """Model and gateway agree step by step: E-1's points are spent or held when it is refunded in two
    halves, then come back; what the refunds left unrecovered goes to the refund, the rest to the member."""
    with _running_core(request, tmp_path, "sqlite", "claw_back_available") as ctx:
        machine = type("LedgerMachine_reclaim", (LedgerMachine,), {"ctx": ctx})()
        member = machine._enrol(machine._new_phone())
        assert member is not None
        machine._earn(member, by_phone=False, yuan=150, later_percent=0, pending_days=0, backdate_days=0)  # E-1: 150 pts
        if via == "cancel":
            out = machine.request("R", "redeem", member=member, reward="token", quantity=2)  # 100 of them spent
        else:
            out = machine.request("H", "hold", member=member, points=100, ttl=None)  # 100 of them held
            machine.hold_keys.append(out)
        machine.request("F", "refund", earn_key="E-1", amount=100_00)  # due 100: 50 from the lot, 50 unrecovered
        machine.ledger_adds_up()
        if via == "cancel":
            machine.request("X", "cancel", redemption_key=out)
        elif via == "void":
            machine.request("V", "void", hold_key=out)
        elif via == "capture":
            machine.request("C", "capture", hold_key=out, points=30)
        else:
            machine.now += HOLD_TTL
            machine._earn(member, by_phone=False, yuan=10, later_percent=0, pending_days=0, backdate_days=0)
        machine.ledger_adds_up()
        assert machine.model.s.events["refunded points reclaimed on return"] == 1
        machine.request("F", "refund", earn_key="E-1", amount=50_00)  # the rest of E-1: 50 pts, from its lot
        machine.ledger_adds_up()
        spent_for_good = 30 if via == "capture" else 0  # captured points were paid at the till: they never come back
        assert machine.model.s.earns["E-1"].outstanding == spent_for_good
