"""The demo's script: who the members are and what each does over four months, drawn from one seed.

A plan is data only (no database, no GraphQL). :func:`plan_member` draws one member's identities,
birth date, the tier an old store card carried over, and a timeline of steps, each at the moment
it happens (Shanghai time) with a deterministic idempotency key: purchases, bills and fee
payments, visits on member day (the 18th), returns by line, part refunds of bills, redemptions
with what becomes of each coupon (used at a till some days later, kept, or the redemption
cancelled), and uses of the group's shared benefits. :mod:`gateway.demo_runner` plays every
member's steps in one chronological order, so what depends on earlier activity (tiers, budgets,
balances) is the same on every run with the same seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

SHANGHAI = timezone(timedelta(hours=8))
DEMO_PHONE = "13800138000"
DEMO_EMAIL = "li.na@example.com"  # linked last: its presence means the load finished
DEMO_DINING_ID = "D-100001"
DAYS_BACK = 122
"""The programme launched this many days before the load: about four months of history."""
MEMBER_DAY = 18
CENT = Decimal("0.01")

CATALOGUE: dict[str, list[tuple[str, str]]] = {
    "grocery": [("GRC-RICE-5KG", "59.90"), ("GRC-MILK-1L", "12.50"), ("GRC-EGGS-12", "18.80"), ("GRC-OIL-5L", "89.00"),
                ("GRC-LONGJING-250G", "128.00"), ("GRC-NOODLES", "9.90")],
    "fresh": [("FRS-FUJI-APPLE", "15.60"), ("FRS-PORK-500G", "32.00"), ("FRS-SALMON-300G", "68.00"), ("FRS-STRAWBERRY", "39.90")],
    "apparel": [("APP-TSHIRT", "99.00"), ("APP-JEANS", "299.00"), ("APP-SNEAKERS", "459.00"), ("APP-DOWN-JACKET", "899.00")],
    "electronics": [("ELE-POWERBANK", "149.00"), ("ELE-KETTLE", "239.00"), ("ELE-EARBUDS", "399.00"), ("ELE-AIR-FRYER", "599.00")],
    "gift_card": [("GFT-100", "100.00"), ("GFT-200", "200.00"), ("GFT-500", "500.00")],
    "tobacco": [("TOB-YUXI", "23.00"), ("TOB-ZHONGHUA", "45.00")],
}
CATEGORY_WEIGHTS = {"grocery": 38, "fresh": 22, "apparel": 18, "electronics": 9, "gift_card": 5, "tobacco": 8}
MEMBER_PRICE_SKUS = frozenset({"GRC-RICE-5KG", "GRC-OIL-5L", "GRC-LONGJING-250G", "APP-TSHIRT", "ELE-KETTLE"})
"""Items the stores mark with a member price: Silver and up pay 5% less (retail's member_price benefit)."""
STORES = ["SH-XUJIAHUI-01", "SH-PUDONG-02", "SH-JINGAN-03", "HZ-WESTLAKE-01"]
RESTAURANTS = [("RST-JADE-GARDEN", Decimal("0.10")), ("RST-HOTPOT-01", Decimal("0")),
               ("RST-DIMSUM-02", Decimal("0.10")), ("CAFE-ATRIUM", Decimal("0"))]
DINING_SLOTS = {"lunch": (35, 11 * 60, 13 * 60 + 30), "tea": (20, 14 * 60, 16 * 60 + 50), "dinner": (45, 17 * 60 + 30, 21 * 60 + 30)}
"""Meal: weight, first and last minute of the day a bill closes. Tea is the restaurants' off-peak afternoon."""
# profile: weight, monthly spend (CN¥), visits a month, redemption attempts, first active day (days back), member-day turnout
PROFILES = {"light": (22, (120, 420), (1.5, 2.5), (0, 1), (45, 122), 0.2),
            "regular": (44, (520, 1250), (3.0, 4.0), (1, 3), (60, 122), 0.35),
            "heavy": (27, (1650, 3200), (4.0, 6.0), (2, 4), (85, 122), 0.5),
            "vip": (7, (4800, 7000), (5.0, 7.0), (3, 5), (105, 122), 0.6)}
REWARDS = [("dining", "dessert_voucher", 2), ("retail", "voucher_10", 3), ("property", "parking_hour", 4)]  # most per redemption
COUPON_DAYS = {"dessert_voucher": 30, "voucher_10": 90, "parking_hour": 30}
"""How long each reward's coupons are valid (the plugins' CouponSpec): tills use them within that."""
RETURN_RATE, DINING_REFUND_RATE, CANCEL_RATE, COUPON_USE_RATE = 0.06, 0.025, 0.02, 0.65
RELATIONS = (("OWNER", 75), ("TENANT", 20), ("RESIDENT", 5))
MOBILE_PREFIXES = ["139", "138", "137", "136", "135", "158", "159", "186", "188", "177"]
SURNAMES = ["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun"]
GIVEN = ["wei", "fang", "na", "min", "jing", "lei", "jie", "tao", "ming", "yan", "hui", "qiang"]


class Action(str, Enum):
    """What a member's step does at the till, the restaurant, the estate office or the car park gate."""

    EARN = "earn"
    RETURN = "return"
    DINING_REFUND = "dining_refund"
    REDEEM = "redeem"
    BENEFIT = "benefit"


@dataclass(frozen=True)
class Step:
    """One thing a member does: when, what, in which format, its idempotency key and its input."""

    at: datetime
    action: Action
    format: str
    key: str
    data: dict[str, Any]


@dataclass
class MemberPlan:
    """One demo member: identities, birth date, an old card's tier, when it enrols and its steps in order."""

    index: int
    phone: str
    links: list[dict[str, Any]]
    birth_date: date | None
    legacy_tier: str | None
    enrol_at: datetime
    enrol_format: str
    steps: list[Step] = field(default_factory=list)


def launch_day(anchor: date) -> date:
    """The day the programme launched, for a load on ``anchor``."""
    return anchor - timedelta(days=DAYS_BACK)


def _money(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(CENT, ROUND_HALF_UP))


def _at(day: date, minute_of_day: int, second: int = 0) -> datetime:
    return datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60, second), tzinfo=SHANGHAI)


def _daytime(rng: random.Random, day: date, first_hour: int = 9, last_hour: int = 21) -> datetime:
    return _at(day, rng.randint(first_hour * 60, last_hour * 60 + 59), rng.randint(0, 59))


def _months(first: date, end: date) -> list[date]:
    """The first day of every month from ``first``'s to the one before ``end`` (exclusive)."""
    months, month = [], first.replace(day=1)
    while month < end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _basket(rng: random.Random, target: float) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    total = Decimal(0)
    while len(items) < 6 and (not items or total < Decimal(str(target))):
        weights = {c: w for c, w in CATEGORY_WEIGHTS.items() if c not in ("apparel", "electronics") or target > 180}
        category = rng.choices(list(weights), list(weights.values()))[0]
        sku, price = rng.choice(CATALOGUE[category])
        quantity = rng.randint(1, 3) if category in ("grocery", "fresh") else 1
        discount = (Decimal(price) * quantity * Decimal("0.1")).quantize(CENT) if rng.random() < 0.12 else Decimal(0)
        items.append({"sku": sku, "category": category, "quantity": quantity, "unitPrice": price, "lineDiscount": str(discount)})
        total += Decimal(price) * quantity - discount
    return items


def _dining(rng: random.Random, target: float, day: date) -> dict[str, Any]:
    store, rate = rng.choice(RESTAURANTS)
    slot = rng.choices(list(DINING_SLOTS), [w for w, _, _ in DINING_SLOTS.values()])[0]
    _, first, last = DINING_SLOTS[slot]
    per_head = rng.uniform(30, 70) if slot == "tea" else rng.uniform(45, 160)
    covers = max(1, min(8, round(target / per_head)))
    food = Decimal(round(covers * per_head * rng.uniform(0.85, 1.15)))
    tips = Decimal(rng.choice([10, 20, 50])) if rng.random() < 0.12 else Decimal(0)
    closed = _at(day, rng.randint(first, last), rng.randint(0, 59))
    return {"storeCode": store, "currency": "CNY", "foodAndBeverage": _money(food), "serviceCharge": _money(food * rate),
            "tips": _money(tips), "covers": covers, "closedAt": closed.isoformat()}


def _visit(rng: random.Random, day: date, target: float, retail_share: float) -> tuple[datetime, str, dict[str, Any]]:
    if rng.random() < retail_share:
        at = _daytime(rng, day)
        return at, "retail", {"storeCode": rng.choice(STORES), "currency": "CNY", "purchasedAt": at.isoformat(),
                              "items": _basket(rng, target)}
    bill = _dining(rng, target, day)
    return datetime.fromisoformat(bill["closedAt"]), "dining", bill


def _fees(rng: random.Random, first: bool, unit: str, start: date, anchor: date) -> list[tuple[datetime, str, dict[str, Any]]]:
    """Monthly management (and parking) fees of a unit, each due on the 15th; some paid by automatic debit on the 5th."""
    area = rng.randint(70, 160)
    parking = "450.00" if first else rng.choice([None, None, "300.00", "450.00"])
    relation = "OWNER" if first else rng.choices([r for r, _ in RELATIONS], [w for _, w in RELATIONS])[0]
    autopay = not first and rng.random() < 0.3
    fees = []
    for month in _months(start, anchor):
        paid = month + timedelta(days=4 if autopay else rng.randint(0, 19))
        if not start <= paid < anchor:
            continue
        at = _at(paid, 6 * 60 + rng.randint(0, 59)) if autopay else _daytime(rng, paid)
        for fee_type, amount in [("MANAGEMENT", _money(area * 3.8))] + ([("PARKING", parking)] if parking else []):
            fees.append((at, "property", {"unitCode": unit, "feeType": fee_type, "period": f"{month:%Y-%m}", "relation": relation,
                                          "dueDate": f"{month:%Y-%m}-15", "autopay": autopay,
                                          "amount": {"amount": amount, "currency": "CNY"}, "paidAt": at.isoformat()}))
    return fees


def _redemption(rng: random.Random, resident: bool) -> dict[str, Any]:
    """A reward, how many, and what becomes of each coupon: used after some days (``None``: kept), or all cancelled."""
    fmt, reward, most = rng.choice([r for r in REWARDS if resident or r[0] != "property"])
    if rng.random() < CANCEL_RATE:
        return {"format": fmt, "reward": reward, "quantity": rng.randint(1, most), "uses": [None] * most,
                "cancelAfter": rng.randint(1, 5)}
    days = COUPON_DAYS[reward]
    uses = [rng.randint(0, min(days - 2, 24)) if rng.random() < COUPON_USE_RATE else None for _ in range(most)]
    return {"format": fmt, "reward": reward, "quantity": rng.randint(1, most), "uses": uses, "cancelAfter": None}


def plan_member(rng: random.Random, index: int, anchor: date, seed: int, phones: set[str], *, first_birth_month: int) -> MemberPlan:
    """Draw one member's identities, birth date, card tier and chronological steps up to (not including) ``anchor``.

    Member 0 is the README's member #1: phone 13800138000, dining id D-100001, unit A-1203, born
    in ``first_birth_month`` (the load's month, so its birthday benefits are open in the tour).
    Every tenth member (index 5, 15, ...) brings a Gold or Silver tier from an old store card.
    """
    first = index == 0
    profile = "regular" if first else rng.choices(list(PROFILES), [p[0] for p in PROFILES.values()])[0]
    _, budget_range, visit_range, redeem_range, start_range, turnout = PROFILES[profile]
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
    birth_date = None
    if first:
        birth_date = date(1988, first_birth_month, 9)
    elif rng.random() < 0.7:
        birth_date = date(rng.randint(1960, 2004), rng.randint(1, 12), rng.randint(1, 28))
    legacy = ("gold" if index % 20 == 5 else "silver") if index % 10 == 5 else None

    start = DAYS_BACK if first else rng.randint(*start_range)
    start_day = anchor - timedelta(days=start)
    monthly = 850.0 if first else rng.uniform(*budget_range)
    visits = max(1, round(rng.uniform(*visit_range) * start / 30))
    retail_share = rng.uniform(0.4, 0.8)
    per_visit = monthly * start / 30 / visits
    timeline = [_visit(rng, anchor - timedelta(days=back), per_visit * rng.uniform(0.5, 1.5), retail_share)
                for back in sorted((rng.randint(1, start) for _ in range(visits)), reverse=True)]
    for month in _months(start_day, anchor):  # member day draws members in: a visit on the 18th
        day = month.replace(day=MEMBER_DAY)
        if start_day <= day < anchor and rng.random() < turnout:
            timeline.append(_visit(rng, day, per_visit * rng.uniform(0.8, 1.6), min(retail_share + 0.15, 0.9)))
    fees = _fees(rng, first, unit, start_day, anchor) if resident else []
    timeline.sort(key=lambda item: item[0])
    prefix = f"demo-{seed}-m{index:04d}"
    end = datetime.combine(anchor, time(), tzinfo=SHANGHAI)
    steps = [Step(at, Action.EARN, fmt, f"{prefix}-{fmt}-{n:03d}", payload)
             for n, (at, fmt, payload) in enumerate(sorted(timeline + fees, key=lambda item: item[0]))]
    steps += _after_sales(rng, steps, end)
    for n in range(0 if first else rng.randint(*redeem_range)):
        at = _daytime(rng, anchor - timedelta(days=rng.randint(1, max(1, start - 14))), 10, 21)
        redemption = _redemption(rng, resident)
        steps.append(Step(at, Action.REDEEM, redemption["format"], f"{prefix}-redeem-{n}", redemption))
    if first:  # a coupon in every status for the tour, and enough points left for its dessert and hold
        dessert = {"format": "dining", "reward": "dessert_voucher", "quantity": 1, "uses": [None]}
        steps += [
            Step(_at(anchor - timedelta(days=60), 19 * 60 + 10), Action.REDEEM, "dining", f"{prefix}-redeem-0",
                 {**dessert, "cancelAfter": None}),  # never served: it expires
            Step(_at(anchor - timedelta(days=45), 12 * 60 + 20), Action.REDEEM, "dining", f"{prefix}-redeem-1",
                 {**dessert, "cancelAfter": 2}),  # changed its mind: cancelled, points back
            Step(_at(anchor - timedelta(days=12), 18 * 60 + 40), Action.REDEEM, "property", f"{prefix}-redeem-2",
                 {"format": "property", "reward": "parking_hour", "quantity": 2, "uses": [3, None], "cancelAfter": None}),
        ]
    steps += _benefit_uses(rng, prefix, start_day, anchor, parking=any(s.data.get("feeType") == "PARKING" for s in steps),
                           birth_date=None if first else birth_date)
    steps.sort(key=lambda step: step.at)
    enrol_at = _at(start_day, 9 * 60) if first else steps[0].at - timedelta(minutes=3)
    return MemberPlan(index, phone, links, birth_date, legacy, enrol_at, steps[0].format or "retail", steps)


def _after_sales(rng: random.Random, earns: list[Step], end: datetime) -> list[Step]:
    """Returns of some receipt lines a few days later, and part refunds of some bills the same evening."""
    steps = []
    for earn in earns:
        if earn.format == "retail" and rng.random() < RETURN_RATE:
            items = earn.data["items"]
            line = rng.randrange(len(items))
            at = _daytime(rng, (earn.at + timedelta(days=rng.randint(1, 7))).date(), 10, 20)
            lines = [{"line": line + 1, "quantity": rng.randint(1, items[line]["quantity"])}]
            if at < end:
                steps.append(Step(at, Action.RETURN, "retail", f"{earn.key}-RTN", {"original": earn.key, "lines": lines}))
        elif earn.format == "dining" and rng.random() < DINING_REFUND_RATE:
            food = Decimal(earn.data["foodAndBeverage"]) * Decimal(str(rng.uniform(0.1, 0.3)))
            at = earn.at + timedelta(minutes=rng.randint(20, 90))
            if at < end:
                steps.append(Step(at, Action.DINING_REFUND, "dining", f"{earn.key}-RFD", {"original": earn.key, "food": _money(food)}))
    return steps


def _benefit_uses(rng: random.Random, prefix: str, start: date, anchor: date, *, parking: bool, birth_date: date | None) -> list[Step]:
    """Free parking hours at the car park gate (used only while the member is Gold or above) and the birthday treat."""
    steps = []
    for month in _months(start, anchor) if parking else []:
        days = [day for day in (month + timedelta(days=n) for n in range(31)) if day.month == month.month and start <= day < anchor]
        count = rng.choices([0, 1, 2], [3, 4, 3])[0]
        for _ in range(min(count, len(days))):
            quantity = 2 if count == 1 and rng.random() < 0.3 else 1
            at = _daytime(rng, rng.choice(days), 8, 21)
            steps.append(Step(at, Action.BENEFIT, "property", f"{prefix}-parking-{len(steps):02d}",
                              {"benefit": "group.parking_2h", "quantity": quantity, "minTier": "gold"}))
    if birth_date is not None:
        days = [start + timedelta(days=n) for n in range((anchor - start).days) if (start + timedelta(days=n)).month == birth_date.month]
        if days and rng.random() < 0.7:
            fmt = rng.choice(["dining", "dining", "retail"])
            steps.append(Step(_daytime(rng, rng.choice(days), 11, 20), Action.BENEFIT, fmt, f"{prefix}-birthday",
                              {"benefit": "group.birthday_treat", "quantity": 1, "minTier": None}))
    return steps
