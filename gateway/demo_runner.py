"""Plays the demo's history through the composed GraphQL schema, in one chronological order, as it happened.

Every step is the operation a client sends: a format's service account enrols a member, records a
purchase, bill or fee payment, takes a return, redeems a reward, uses a coupon or a benefit; the
admin configures the group and links identities. Each runs in-process with the request's clock
(``Context.now``) set to the moment the step happened, so postings are booked, coupons issued and
used, benefit quotas counted, campaign budgets spent and tiers decided on the dates of the story.
Between days the nightly jobs run as a scheduler runs ``atrium ledger expire`` and ``atrium tiers
evaluate`` (:mod:`gateway.demo_nightly`).

All members' steps run one at a time in time order (on SQLite, concurrency does not make writes
faster): campaign budgets run out, and tills see tiers, in the same order on every run. The
runner tracks each member's balance and tier from the answers it gets, as a till would, to decide
what a member can redeem and whether it pays member prices or parks free. Every answer it relies on
is the same when a key is replayed, so an interrupted load resumes with the same decisions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_DOWN, Decimal
from typing import Any

from gateway.auth import Principal, Role
from gateway.core import Core
from gateway.demo_group import (
    EXISTING_BENEFITS,
    EXISTING_CAMPAIGNS,
    TIER_RANKS,
    AdminStep,
)
from gateway.demo_nightly import Nightly
from gateway.demo_plan import MEMBER_PRICE_SKUS, Action, MemberPlan, Step
from gateway.graphql.context import Context
from gateway.graphql.schema import build_schema

ADMIN = Principal(role=Role.ADMIN, subject="admin")
MEMBER_PRICE_PERCENT = 5
"""Retail's member-price percentage (its settings' default, which the demo keeps)."""
ERRORS = "errors { code field message }"
POSTING = f"posting {{ points balanceAfter tierAfter details replayed }} {ERRORS}"
ACTIVITY_FIELDS = {"retail": ("recordRetailPurchase", "RetailPurchaseInput"),
                   "dining": ("recordDiningBill", "DiningBillInput"),
                   "property": ("recordPropertyFeePayment", "PropertyFeePaymentInput")}
FIND = "query($identity: IdentityInput!) { member(identity: $identity) { id number } }"
ENROL = f"mutation($input: EnrolInput!) {{ enrol(input: $input) {{ member {{ id number }} {ERRORS} }} }}"
LINK = f"mutation($input: LinkIdentityInput!) {{ linkIdentity(input: $input) {{ member {{ id }} {ERRORS} }} }}"
ASSIGN = f"mutation($input: AssignMemberTierInput!) {{ assignMemberTier(input: $input) {{ {ERRORS} }} }}"
REDEEM = f"mutation($input: RedeemInput!) {{ redeem(input: $input) {{ {POSTING} }} }}"
RETURN = ("mutation($original: String!, $key: String!, $input: RetailPurchaseRefundInput!) "
          f"{{ refundRetailPurchase(original: $original, idempotencyKey: $key, input: $input) {{ {POSTING} }} }}")
DINING_REFUND = ("mutation($original: String!, $key: String!, $input: DiningBillRefundInput!) "
                 f"{{ refundDiningBill(original: $original, idempotencyKey: $key, input: $input) {{ {POSTING} }} }}")
USE_COUPON = f"mutation($input: UseCouponInput!) {{ useCoupon(input: $input) {{ coupon {{ status }} {ERRORS} }} }}"
CANCEL_COUPON = f"mutation($input: CancelCouponInput!) {{ cancelCoupon(input: $input) {{ {POSTING} }} }}"
USE_BENEFIT = f"mutation($input: UseBenefitInput!) {{ useBenefit(input: $input) {{ use {{ remainingInPeriod }} {ERRORS} }} }}"
MUTATION_FIELDS = '{ __type(name: "Mutation") { fields { name } } }'
TILLS = {"retail": "SH-XUJIAHUI-01-T03", "dining": "RST-JADE-GARDEN-T12", "property": "CARPARK-GATE-2"}


class DemoLoadError(RuntimeError):
    """The demo could not be loaded: a mutation failed or the schema lacks a format's mutation."""


@dataclass
class _ClockedContext(Context):
    """A request context whose clock reads the moment the demo step happened."""

    clock: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:  # type: ignore[override]
        """The moment of the step being played (UTC)."""
        return self.clock


def _service(code: str) -> Principal:
    return Principal(role=Role.SERVICE, subject=f"demo-{code}-tills", format=code)


def _with_member_prices(payload: dict[str, Any]) -> dict[str, Any]:
    """The receipt as a till sends it for a member with member prices: 5% off the marked items, rounded down."""
    items = []
    for item in payload["items"]:
        if item["sku"] in MEMBER_PRICE_SKUS:
            gross = Decimal(item["unitPrice"]) * item["quantity"]
            item = {**item, "memberDiscount": str((gross * MEMBER_PRICE_PERCENT / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN))}
        items.append(item)
    return {**payload, "items": items}


class Runner:
    """Runs the admin's configuration, the members' plans and the nightly jobs through the schema, in time order."""

    def __init__(self, core: Core, *, end: datetime) -> None:
        self.core, self.end = core, end
        self.schema = build_schema(core.registry, core.settings)
        self.formats = set(core.registry.formats)
        self.calls = 0
        self.ids: dict[int, str] = {}
        self.index_of: dict[int, int] = {}
        self.balances: dict[int, int] = {}
        self.tiers: dict[int, str] = {}
        self.nightly = Nightly(core)
        self._queue: list[tuple[datetime, int, int, Callable[[], Coroutine[Any, Any, Any]]]] = []
        self._seq = 0

    async def call(self, document: str, variables: dict[str, Any], name: str, *, principal: Principal = ADMIN,
                   at: datetime | None = None, tolerate: tuple[str, ...] = ()) -> Any:
        """Execute one operation as ``principal`` at ``at`` and return its ``name`` field; ``None`` for a tolerated error."""
        self.calls += 1
        context = _ClockedContext(core=self.core, principal=principal, clock=(at or datetime.now(UTC)).astimezone(UTC))
        result = await self.schema.execute(document, variable_values=variables, context_value=context)
        if result.errors:
            raise DemoLoadError(f"{name} failed: {'; '.join(e.message for e in result.errors)}")
        payload = (result.data or {}).get(name)
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors and len(errors) == 1 and errors[0]["code"] in tolerate:
            return None
        if errors:
            raise DemoLoadError(f"{name} refused {variables}: {errors}")
        return payload

    async def check_schema(self) -> None:
        """Refuse to start when a loaded format's activity mutation is missing from the schema."""
        data = await self.call(MUTATION_FIELDS, {}, "__type")
        names = {f["name"] for f in data["fields"]}
        missing = [f for code, (f, _) in ACTIVITY_FIELDS.items() if code in self.formats and f not in names]
        if missing:
            raise DemoLoadError(f"the composed schema lacks {', '.join(missing)} although the format is loaded")

    def _push(self, at: datetime, order: int, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Queue ``job`` at ``at``; at the same instant a lower ``order`` runs first, then the first queued."""
        self._seq += 1
        heapq.heappush(self._queue, (at.astimezone(UTC), order, self._seq, job))

    async def play(self, admin: list[AdminStep], plans: list[MemberPlan], nights: list[datetime]) -> None:
        """Everything, in time order; at the same instant the admin first, then the nightly jobs, enrolments, members' steps."""
        made = {("campaign", c["code"]) for c in await self.call(EXISTING_CAMPAIGNS, {}, "campaigns")}
        made |= {("benefit", b["id"]) for b in await self.call(EXISTING_BENEFITS, {}, "sharedBenefits")}
        for admin_step in admin:
            if admin_step.creates not in made:  # a resumed load does not create twice
                self._push(admin_step.at, 0, lambda s=admin_step: self.call(s.document, s.variables, s.field, at=s.at))
        for night in nights:
            self._push(night, 1, lambda night=night: self.nightly.run(night, self._tiers_changed))
        for plan in plans:
            self._push(plan.enrol_at, 2, lambda plan=plan: self._enrol(plan))
            for step in plan.steps:
                if step.format in self.formats:
                    self._push(step.at, 3, lambda plan=plan, step=step: self._step(plan, step))
        while self._queue:
            *_, job = heapq.heappop(self._queue)
            await job()

    async def _enrol(self, plan: MemberPlan) -> None:
        phone = {"kind": "PHONE", "value": plan.phone}
        identity: dict[str, Any] = {"identity": phone, "birthDate": plan.birth_date.isoformat() if plan.birth_date else None}
        fmt = plan.enrol_format if plan.enrol_format in self.formats else None
        principal = _service(fmt) if fmt else ADMIN
        enrolled = await self.call(ENROL, {"input": identity}, "enrol", principal=principal, at=plan.enrol_at, tolerate=("IDENTITY_TAKEN",))
        member = enrolled["member"] if enrolled else await self.call(FIND, {"identity": phone}, "member", at=plan.enrol_at)
        self.ids[plan.index], self.index_of[member["number"]] = member["id"], plan.index
        self.balances[plan.index], self.tiers[plan.index] = 0, plan.legacy_tier or "member"
        ref = {"id": member["id"]}
        for link in plan.links:
            if link.get("format", "") in ("", *self.formats):
                await self.call(LINK, {"input": {"member": ref, "identity": link}}, "linkIdentity", at=plan.enrol_at)
        if enrolled and plan.legacy_tier:  # carried over once, when the member joins (a resumed load does not repeat it)
            reason = f"{plan.legacy_tier.capitalize()} on the old store card, carried over at enrolment"
            await self.call(ASSIGN, {"input": {"member": ref, "tier": plan.legacy_tier, "reason": reason}}, "assignMemberTier", at=plan.enrol_at)

    def _tiers_changed(self, changes: dict[int, str]) -> None:
        for number, tier in changes.items():
            if number in self.index_of:
                self.tiers[self.index_of[number]] = tier

    def _posted(self, plan: MemberPlan, payload: dict[str, Any]) -> dict[str, Any]:
        posting = payload["posting"]
        self.balances[plan.index] = posting["balanceAfter"]
        self.tiers[plan.index] = posting["tierAfter"]
        return posting

    async def _step(self, plan: MemberPlan, step: Step) -> None:
        member, service, data = {"id": self.ids[plan.index]}, _service(step.format), step.data
        if step.action is Action.EARN:
            name, input_type = ACTIVITY_FIELDS[step.format]
            payload = data
            if step.format == "retail" and TIER_RANKS.get(self.tiers[plan.index], 0) >= TIER_RANKS["silver"]:
                payload = _with_member_prices(data)
            document = (f"mutation($member: MemberRefInput!, $key: String!, $input: {input_type}!) "
                        f"{{ {name}(member: $member, idempotencyKey: $key, input: $input) {{ {POSTING} }} }}")
            variables = {"member": member, "key": step.key, "input": payload}
            self._posted(plan, await self.call(document, variables, name, principal=service, at=step.at + timedelta(seconds=30)))
        elif step.action is Action.RETURN:
            variables = {"original": data["original"], "key": step.key, "input": {"lines": data["lines"]}}
            self._posted(plan, await self.call(RETURN, variables, "refundRetailPurchase", principal=service, at=step.at))
        elif step.action is Action.DINING_REFUND:
            variables = {"original": data["original"], "key": step.key, "input": {"foodAndBeverage": data["food"]}}
            self._posted(plan, await self.call(DINING_REFUND, variables, "refundDiningBill", principal=service, at=step.at))
        elif step.action is Action.REDEEM:
            await self._redeem(plan, step, member, service)
        elif step.action is Action.BENEFIT:
            needed = data["minTier"]
            if needed is None or TIER_RANKS.get(self.tiers[plan.index], 0) >= TIER_RANKS[needed]:
                variables = {"input": {"benefit": data["benefit"], "member": member, "idempotencyKey": step.key, "quantity": data["quantity"]}}
                await self.call(USE_BENEFIT, variables, "useBenefit", principal=service, at=step.at)

    async def _redeem(self, plan: MemberPlan, step: Step, member: dict[str, Any], service: Principal) -> None:
        data, balance = step.data, self.balances[plan.index]
        reward = self.core.registry.reward(step.format, data["reward"])
        if reward is None or balance < reward.points:
            return
        quantity = min(data["quantity"], balance // reward.points)
        redemption = {"format": step.format, "reward": data["reward"], "quantity": quantity, "idempotencyKey": step.key, "member": member}
        variables = {"input": redemption}
        posting = self._posted(plan, await self.call(REDEEM, variables, "redeem", principal=service, at=step.at))
        codes = posting["details"].get("couponCodes", [])
        if data["cancelAfter"] is not None and codes:
            when = step.at + timedelta(days=data["cancelAfter"])
            cancel = {"input": {"code": codes[0], "idempotencyKey": f"{step.key}-cancel"}}
            if when < self.end:
                self._push(when, 3, lambda: self._coupon(plan, CANCEL_COUPON, cancel, "cancelCoupon", service, when))
            return
        for n, (code, days) in enumerate(zip(codes, data["uses"], strict=False)):
            when = step.at + timedelta(days=days, hours=1) if days is not None else self.end
            use = {"input": {"code": code, "idempotencyKey": f"{step.key}-use-{n}", "till": TILLS[step.format]}}
            if when < self.end:
                self._push(when, 3, lambda use=use, when=when: self._coupon(plan, USE_COUPON, use, "useCoupon", service, when))

    async def _coupon(self, plan: MemberPlan, document: str, variables: dict[str, Any], name: str, service: Principal, at: datetime) -> None:
        payload = await self.call(document, variables, name, principal=service, at=at, tolerate=("COUPON_NOT_USABLE",))
        if payload is not None and "posting" in payload:
            self._posted(plan, payload)

    async def finish(self, first_id: str, email: dict[str, str]) -> None:
        """Link the marker identity of a finished load (now)."""
        await self.call(LINK, {"input": {"member": {"id": first_id}, "identity": email}}, "linkIdentity")


def nights(launch: date, end: datetime, zone: tzinfo) -> list[datetime]:
    """Half past midnight (group time zone) of every day after ``launch`` before ``end``: when the nightly jobs run."""
    times, day = [], launch + timedelta(days=1)
    while (moment := datetime.combine(day, time(0, 30), tzinfo=zone)) < end:
        times.append(moment)
        day += timedelta(days=1)
    return times

