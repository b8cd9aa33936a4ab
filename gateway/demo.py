"""Demo data: a few hundred members with four months of activity across the formats.

The loader drives the composed GraphQL schema in-process as an admin, just as tills and billing
systems do over HTTP. It never imports a plugin: format payloads are plain JSON variables, and a
format that is not loaded is skipped. Everything comes from ``random.Random(seed)`` and every
write carries a deterministic idempotency key, so an interrupted load resumes where it stopped
and a finished one is not repeated.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select

from gateway.auth import Principal, Role, mint_token
from gateway.core import Core, build_host, open_core
from gateway.graphql.context import Context
from gateway.graphql.schema import build_schema
from gateway.identity import (
    IdentityKey,
    IdentityKind,
    find_member_id,
    normalize_identity,
)
from gateway.persistence.database import Database
from gateway.persistence.models import member_table, posting_table
from gateway.settings import Settings
from gateway.tiers import current_ladder

SHANGHAI = timezone(timedelta(hours=8))
DEMO_PHONE = "13800138000"
DEMO_EMAIL = "li.na@example.com"  # linked last: its presence means the load finished
DEMO_DINING_ID = "D-100001"
DAYS_BACK = 122
CONCURRENCY = 8
ADMIN = Principal(role=Role.ADMIN, subject="admin")
CENT = Decimal("0.01")

CATALOGUE: dict[str, list[tuple[str, str]]] = {
    "grocery": [("GRC-RICE-5KG", "59.90"), ("GRC-MILK-1L", "12.50"), ("GRC-EGGS-12", "18.80"), ("GRC-OIL-5L", "89.00"),
                ("GRC-FUJI-APPLE", "15.60"), ("GRC-LONGJING-250G", "128.00"), ("GRC-NOODLES", "9.90"), ("GRC-PORK-500G", "32.00")],
    "apparel": [("APP-TSHIRT", "99.00"), ("APP-JEANS", "299.00"), ("APP-SNEAKERS", "459.00"), ("APP-DOWN-JACKET", "899.00")],
    "electronics": [("ELE-POWERBANK", "149.00"), ("ELE-KETTLE", "239.00"), ("ELE-EARBUDS", "399.00"), ("ELE-AIR-FRYER", "599.00")],
    "gift_card": [("GFT-100", "100.00"), ("GFT-200", "200.00"), ("GFT-500", "500.00")],
    "tobacco": [("TOB-YUXI", "23.00"), ("TOB-ZHONGHUA", "45.00")],
}
CATEGORY_WEIGHTS = {"grocery": 60, "apparel": 18, "electronics": 9, "gift_card": 5, "tobacco": 8}
STORES = ["SH-XUJIAHUI-01", "SH-PUDONG-02", "SH-JINGAN-03", "HZ-WESTLAKE-01"]
RESTAURANTS = [("RST-JADE-GARDEN", Decimal("0.10")), ("RST-HOTPOT-01", Decimal("0")),
               ("RST-DIMSUM-02", Decimal("0.10")), ("CAFE-ATRIUM", Decimal("0"))]
# profile: weight, monthly spend (CN¥), visits a month, redemption attempts, first active day (days back)
PROFILES = {"light": (22, (120, 420), (1.5, 2.5), (0, 1), (45, 122)),
            "regular": (44, (520, 1250), (3.0, 4.0), (1, 2), (60, 122)),
            "heavy": (27, (1650, 3200), (4.0, 6.0), (1, 3), (85, 122)),
            "vip": (7, (4800, 7000), (5.0, 7.0), (2, 4), (105, 122))}
REWARDS = [("dining", "dessert_voucher", 2), ("retail", "voucher_10", 3), ("property", "parking_hour", 4)]  # most per redemption
MOBILE_PREFIXES = ["139", "138", "137", "136", "135", "158", "159", "186", "188", "177"]
SURNAMES = ["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun"]
GIVEN = ["wei", "fang", "na", "min", "jing", "lei", "jie", "tao", "ming", "yan", "hui", "qiang"]

POSTING = "posting { points balanceAfter tierAfter replayed } errors { code field message }"
ACTIVITY_FIELDS = {"retail": ("recordRetailPurchase", "RetailPurchaseInput"),
                   "dining": ("recordDiningBill", "DiningBillInput"),
                   "property": ("recordPropertyFeePayment", "PropertyFeePaymentInput")}
FIND = "query($identity: IdentityInput!) { member(identity: $identity) { id } }"
ENROL = "mutation($input: EnrolInput!) { enrol(input: $input) { member { id } errors { code field message } } }"
LINK = "mutation($input: LinkIdentityInput!) { linkIdentity(input: $input) { member { id } errors { code field message } } }"
REDEEM = f"mutation($input: RedeemInput!) {{ redeem(input: $input) {{ {POSTING} }} }}"
MUTATION_FIELDS = '{ __type(name: "Mutation") { fields { name } } }'


class DemoLoadError(RuntimeError):
    """The demo could not be loaded: a mutation failed or the schema lacks a format's mutation."""


@dataclass
class MemberPlan:
    """What one demo member does, in order: identities, activities and redemption attempts."""

    index: int
    phone: str
    links: list[dict[str, Any]]
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (format, idempotency key, input)
    redemptions: list[tuple[str, str, int]] = field(default_factory=list)  # (format, reward, quantity)


def _money(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(CENT, ROUND_HALF_UP))


def _when(rng: random.Random, anchor: date, days_back: int) -> datetime:
    day = anchor - timedelta(days=days_back)
    hour, minute, second = rng.randint(9, 21), rng.randint(0, 59), rng.randint(0, 59)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


def _basket(rng: random.Random, target: float) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    total = Decimal(0)
    while len(items) < 6 and (not items or total < Decimal(str(target))):
        weights = {c: w for c, w in CATEGORY_WEIGHTS.items() if c not in ("apparel", "electronics") or target > 180}
        category = rng.choices(list(weights), list(weights.values()))[0]
        sku, price = rng.choice(CATALOGUE[category])
        quantity = rng.randint(1, 3) if category == "grocery" else 1
        discount = (Decimal(price) * quantity * Decimal("0.1")).quantize(CENT) if rng.random() < 0.12 else Decimal(0)
        items.append({"sku": sku, "category": category, "quantity": quantity, "unitPrice": price, "lineDiscount": str(discount)})
        total += Decimal(price) * quantity - discount
    return items


def _dining(rng: random.Random, target: float) -> dict[str, Any]:
    store, rate = rng.choice(RESTAURANTS)
    per_head = rng.uniform(45, 160)
    covers = max(1, min(8, round(target / per_head)))
    food = Decimal(round(covers * per_head * rng.uniform(0.85, 1.15)))
    tips = Decimal(rng.choice([10, 20, 50])) if rng.random() < 0.12 else Decimal(0)
    return {"storeCode": store, "currency": "CNY", "foodAndBeverage": _money(food), "serviceCharge": _money(food * rate),
            "tips": _money(tips), "covers": covers}


def plan_member(rng: random.Random, index: int, anchor: date, seed: int, phones: set[str]) -> MemberPlan:
    """Draw one member's identities, activities (chronological) and redemption attempts."""
    first = index == 0
    profile = "regular" if first else rng.choices(list(PROFILES), [p[0] for p in PROFILES.values()])[0]
    _, budget_range, visit_range, redeem_range, start_range = PROFILES[profile]
    phone = DEMO_PHONE
    while phone in phones:
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    phones.add(phone)
    resident = first or rng.random() < {"light": 0.2, "regular": 0.35, "heavy": 0.45, "vip": 0.5}[profile]
    unit = "A-1203" if first else f"{'ABCDEF'[index % 6]}-{index // 24 + 2}{index // 6 % 4 + 5:02d}"
    links: list[dict[str, Any]] = [{"kind": "CUSTOMER_ID", "format": "dining", "value": DEMO_DINING_ID}] if first else []
    if not first and rng.random() < 0.3:
        links.append({"kind": "EMAIL", "value": f"{rng.choice(GIVEN)}.{rng.choice(SURNAMES)}{index}@example.com"})
    if not first and rng.random() < 0.35:
        links.append({"kind": "CUSTOMER_ID", "format": "dining", "value": f"D-{100000 + index + 1}"})
    if resident and (first or rng.random() < 0.6):
        links.append({"kind": "CUSTOMER_ID", "format": "property", "value": f"P-{unit}"})
    plan = MemberPlan(index, phone, links)
    start = DAYS_BACK if first else rng.randint(*start_range)
    monthly = 850.0 if first else rng.uniform(*budget_range)
    visits = max(1, round(rng.uniform(*visit_range) * start / 30))
    retail_share = rng.uniform(0.4, 0.8)
    prefix = f"demo-{seed}-m{index:04d}"
    timeline: list[tuple[datetime, str, dict[str, Any]]] = []
    for days_back in sorted((rng.randint(1, start) for _ in range(visits)), reverse=True):
        at = _when(rng, anchor, days_back)
        target = monthly * start / 30 / visits * rng.uniform(0.5, 1.5)
        if rng.random() < retail_share:
            timeline.append((at, "retail", {"storeCode": rng.choice(STORES), "currency": "CNY",
                                            "purchasedAt": at.isoformat(), "items": _basket(rng, target)}))
        else:
            timeline.append((at, "dining", {**_dining(rng, target), "closedAt": at.isoformat()}))
    if resident:
        area = rng.randint(70, 160)
        parking = "450.00" if first else rng.choice([None, None, "300.00", "450.00"])
        month = (anchor - timedelta(days=start)).replace(day=1)
        while month < anchor:
            paid = month + timedelta(days=rng.randint(0, 19))
            if anchor - timedelta(days=start) <= paid < anchor:
                at = _when(rng, anchor, (anchor - paid).days)
                fees = [("MANAGEMENT", _money(area * 3.8))] + ([("PARKING", parking)] if parking else [])
                for fee_type, amount in fees:
                    timeline.append((at, "property", {"unitCode": unit, "feeType": fee_type, "period": f"{month:%Y-%m}",
                                                      "amount": {"amount": amount, "currency": "CNY"}, "paidAt": at.isoformat()}))
            month = (month + timedelta(days=32)).replace(day=1)
    timeline.sort(key=lambda item: item[0])
    plan.events = [(fmt, f"{prefix}-{fmt}-{n:03d}", payload) for n, (_, fmt, payload) in enumerate(timeline)]
    for _ in range(rng.randint(*redeem_range) if plan.events else 0):
        fmt, reward, most = rng.choice([r for r in REWARDS if resident or r[0] != "property"])
        plan.redemptions.append((fmt, reward, rng.randint(1, most)))
    if first:  # keeps enough points for the README tour's dessert
        plan.redemptions = [("property", "parking_hour", 2)]
    return plan


class _Runner:
    """Runs plans through the schema as an admin and counts what it wrote."""

    def __init__(self, core: Core, seed: int) -> None:
        self.core, self.seed = core, seed
        self.schema = build_schema(core.registry, core.settings)
        self.calls = 0

    async def call(self, document: str, variables: dict[str, Any], name: str, *, tolerate: str = "") -> Any:
        """Execute one operation as an admin and return its ``name`` field; ``None`` for a tolerated error code."""
        self.calls += 1
        context = Context(core=self.core, principal=ADMIN)
        result = await self.schema.execute(document, variable_values=variables, context_value=context)
        if result.errors:
            raise DemoLoadError(f"{name} failed: {'; '.join(e.message for e in result.errors)}")
        payload = (result.data or {}).get(name)
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors and [e["code"] for e in errors] == [tolerate]:
            return None
        if errors:
            raise DemoLoadError(f"{name} refused {variables}: {errors}")
        return payload

    async def check_schema(self) -> None:
        data = await self.call(MUTATION_FIELDS, {}, "__type")
        names = {f["name"] for f in data["fields"]}
        missing = [f for code, (f, _) in ACTIVITY_FIELDS.items() if code in self.core.registry.formats and f not in names]
        if missing:
            raise DemoLoadError(f"the composed schema lacks {', '.join(missing)} although the format is loaded")

    async def member(self, plan: MemberPlan) -> str:
        phone = {"kind": "PHONE", "value": plan.phone}
        enrolled = await self.call(ENROL, {"input": {"identity": phone}}, "enrol", tolerate="IDENTITY_TAKEN")
        if enrolled is None:  # enrolled by an interrupted load: carry on with that member
            enrolled = {"member": await self.call(FIND, {"identity": phone}, "member")}
        member_id = enrolled["member"]["id"]
        for identity in plan.links:
            if identity.get("format", "") in ("", *self.core.registry.formats):
                await self.call(LINK, {"input": {"member": {"id": member_id}, "identity": identity}}, "linkIdentity")
        return member_id

    async def run(self, plan: MemberPlan, member_id: str) -> None:
        formats, balance = self.core.registry.formats, 0
        for fmt, key, payload in plan.events:
            if fmt in formats:
                name, input_type = ACTIVITY_FIELDS[fmt]
                document = (f"mutation($member: MemberRefInput!, $key: String!, $input: {input_type}!) "
                            f"{{ {name}(member: $member, idempotencyKey: $key, input: $input) {{ {POSTING} }} }}")
                variables = {"member": {"id": member_id}, "key": key, "input": payload}
                balance = (await self.call(document, variables, name))["posting"]["balanceAfter"]
        for n, (fmt, reward, quantity) in enumerate(plan.redemptions):  # today: redemptions cannot be backdated
            item = self.core.registry.reward(fmt, reward)
            if item is None or balance < item.points:
                continue
            key = f"demo-{self.seed}-m{plan.index:04d}-redeem-{n}"
            variables = {"input": {"format": fmt, "reward": reward, "quantity": min(quantity, balance // item.points),
                                   "idempotencyKey": key, "member": {"id": member_id}}}
            balance = (await self.call(REDEEM, variables, "redeem"))["posting"]["balanceAfter"]


async def _anchor(core: Core) -> tuple[date, bool]:
    """The day activity runs up to (the first member's enrolment day, so a resumed load replays) and whether it finished."""
    async with core.db.read() as conn:
        member_id = await find_member_id(conn, _key(core.settings, IdentityKind.PHONE, DEMO_PHONE))
        done = await find_member_id(conn, _key(core.settings, IdentityKind.EMAIL, DEMO_EMAIL)) is not None
        enrolled = await conn.scalar(select(member_table.c.enrolled_at).where(member_table.c.id == member_id))
    return (enrolled or datetime.now(UTC)).astimezone(SHANGHAI).date(), done


def _key(settings: Settings, kind: IdentityKind, value: str) -> IdentityKey:
    return normalize_identity(kind, value, namespace=None, formats=(), phone_region=settings.default_phone_region)


async def _summary(core: Core, elapsed: float, calls: int) -> str:
    async with core.db.read() as conn:
        members = await conn.scalar(select(func.count()).select_from(member_table))
        kind_col, format_col, tier_col = posting_table.c.kind, posting_table.c.format, member_table.c.tier_code
        counts = select(kind_col, format_col, func.count(), func.sum(posting_table.c.points)).group_by(kind_col, format_col)
        rows = (await conn.execute(counts)).all()
        tiers = dict((await conn.execute(select(tier_col, func.count()).group_by(tier_col))).all())
    issued = sum(int(r[3] or 0) for r in rows if r[0] == "earn")
    redeemed = -sum(int(r[3] or 0) for r in rows if r[0] == "redeem")
    by_format = ", ".join(f"{fmt} {sum(r[2] for r in rows if r[1] == fmt)}" for fmt in sorted({r[1] for r in rows}))
    distribution = " · ".join(f"{tier.name} {tiers.get(tier.code, 0)}" for tier in (await current_ladder(core)).tiers)
    return (f"Demo data loaded in {elapsed:.1f}s ({calls} GraphQL operations).\n"
            f"  members:   {members}\n  postings:  {sum(r[2] for r in rows)} ({by_format})\n"
            f"  points:    {issued} issued, {redeemed} redeemed\n  tiers:     {distribution}")


async def load_demo(settings: Settings, *, members: int = 240, seed: int = 7) -> str:
    """Load ``members`` demo members and about four months of activity; return a printable summary.

    Members are enrolled by Chinese mobile number (the first is 13800138000, with a dining customer
    id and an email linked); purchases, bills and fee payments are recorded with past timestamps,
    each member's in order, and some members redeem rewards. Members run concurrently, eight at
    a time. A finished load is detected and skipped; any GraphQL or payload error raises
    :class:`DemoLoadError`.
    """
    if members < 1:
        raise ValueError("the demo needs at least one member")
    started = time.perf_counter()
    core = await open_core(settings, build_host(settings))
    try:
        anchor, done = await _anchor(core)
        if done:
            return "Demo data already loaded; nothing to do."
        runner = _Runner(core, seed)
        await runner.check_schema()
        rng, phones = random.Random(seed), set()
        plans = [plan_member(rng, index, anchor, seed, phones) for index in range(members)]
        first_id = await runner.member(plans[0])  # enrolled alone first, so it is member #1 on a fresh database
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(plan: MemberPlan) -> None:
            async with gate:
                await runner.run(plan, first_id if plan.index == 0 else await runner.member(plan))

        async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
            for plan in plans:
                group.create_task(one(plan))
        email = {"kind": "EMAIL", "value": DEMO_EMAIL}
        await runner.call(LINK, {"input": {"member": {"id": first_id}, "identity": email}}, "linkIdentity")
        return await _summary(core, time.perf_counter() - started, runner.calls)
    finally:
        await core.close()


async def demo_tokens(settings: Settings, *, ttl: timedelta = timedelta(days=30)) -> list[tuple[str, str]]:
    """Bearer tokens for the first demo member, each loaded format's service account and an admin.

    :raises DemoLoadError: when the first demo member is missing (run ``atrium demo load`` first).
    """
    formats = sorted(build_host(settings).registry.formats)
    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            member_id = await find_member_id(conn, _key(settings, IdentityKind.PHONE, DEMO_PHONE))
    finally:
        await db.dispose()
    if member_id is None:
        raise DemoLoadError(f"No member has phone {DEMO_PHONE}: run `atrium demo load` first.")
    tokens = [(f"Member {DEMO_PHONE} (member #{member_id})", mint_token(settings, role=Role.MEMBER, member_id=member_id, ttl=ttl))]
    for code in formats:
        tokens.append((f"{code.capitalize()} service account", mint_token(settings, role=Role.SERVICE, format_code=code, ttl=ttl)))
    tokens.append(("Admin", mint_token(settings, role=Role.ADMIN, ttl=ttl)))
    return tokens
