"""What the demo group's admin configures, and when: the ladder and its policy, the formats' settings,
transfer prices, the shared benefits and the campaigns.

Each item is a GraphQL mutation an admin token sends, at a moment of the demo's history: on
launch morning the ladder (retention thresholds, breadth for Diamond), a 12-month window with a
month of grace, fresh food at double points, off-peak afternoons at the restaurants, on-time and
autopay bonuses for owners and tenants, the transfer prices, free parking for Gold and up, a
birthday treat, member day on the 18th and a birthday-month bonus; a month later the cross-format
check-in. Only loaded formats are named, so the demo also runs with ``ATRIUM_PLUGINS=retail,dining``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from gateway.demo_plan import MEMBER_DAY, SHANGHAI

ERRORS = "errors { code field message }"
SET_LADDER = f"mutation($input: SetTierLadderInput!) {{ setTierLadder(input: $input) {{ tiers {{ code }} {ERRORS} }} }}"
SET_POLICY = f"mutation($input: SetTierPolicyInput!) {{ setTierPolicy(input: $input) {{ policy {{ schedule }} {ERRORS} }} }}"
SETTINGS = f"mutation($input: UpdatePluginSettingsInput!) {{ updatePluginSettings(input: $input) {{ settings {{ changed }} {ERRORS} }} }}"
PRICE = f"mutation($input: SetTransferPriceInput!) {{ setTransferPrice(input: $input) {{ price {{ issuer redeemer }} {ERRORS} }} }}"
BENEFIT = f"mutation($input: CreateSharedBenefitInput!) {{ createSharedBenefit(input: $input) {{ benefit {{ id }} {ERRORS} }} }}"
CAMPAIGN = f"mutation($input: CampaignInput!) {{ createCampaign(input: $input) {{ campaign {{ code }} {ERRORS} }} }}"
EXISTING_CAMPAIGNS = "{ campaigns(includeEnded: true) { code } }"
EXISTING_BENEFITS = "{ sharedBenefits(includeRetired: true) { id } }"

LADDER = (  # code, name, rank, threshold, multiplier, min formats, retention threshold
    ("member", "Member", 0, 0, "1", None, None),
    ("silver", "Silver", 1, 2000, "1.2", None, 1600),
    ("gold", "Gold", 2, 6000, "1.5", None, 4800),
    ("diamond", "Diamond", 3, 15000, "2", 2, 12000),
)
TIER_RANKS = {code: rank for code, _, rank, *_ in LADDER}
MEMBER_DAY_BUDGET_PER_MEMBER = 600
CROSS_FORMAT_BUDGET_PER_MEMBER = 700


@dataclass(frozen=True)
class AdminStep:
    """One admin mutation at ``at``; ``creates`` (``campaign``/``benefit``, id) is skipped when it exists already."""

    at: datetime
    document: str
    variables: dict[str, Any]
    field: str
    creates: tuple[str, str] | None = None


def _iso(day: date, hour: int = 0) -> str:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).isoformat()


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def group_configuration(launch: date, *, members: int, formats: Collection[str]) -> list[AdminStep]:
    """The admin's mutations for a programme launched on ``launch`` with ``members`` demo members, in time order.

    Campaign budgets scale with the number of members; a format that is not loaded is left out.
    """
    morning = datetime.combine(launch, time(8), tzinfo=SHANGHAI)
    return [*_ladder(morning), *_settings_and_prices(morning, formats), *_benefits(morning, formats),
            *_campaigns(launch, members, formats)]


def _ladder(at: datetime) -> list[AdminStep]:
    tiers = [{"code": code, "name": name, "rank": rank, "threshold": threshold, "multiplier": multiplier,
              "minFormats": min_formats, "retentionThreshold": keep}
             for code, name, rank, threshold, multiplier, min_formats, keep in LADDER]
    ladder = {"tiers": tiers, "reason": "Launch ladder: keep a tier on 80% of its threshold; Diamond spans two formats"}
    policy = {"windowMonths": 12, "evaluationEveryMonths": 1, "evaluationDay": 1, "graceMonths": 1, "downgrade": "ONE_STEP",
              "reason": "12-month window, monthly evaluation, a month of grace"}
    return [AdminStep(at, SET_LADDER, {"input": ladder}, "setTierLadder"), AdminStep(at, SET_POLICY, {"input": policy}, "setTierPolicy")]


def _settings_and_prices(at: datetime, formats: Collection[str]) -> list[AdminStep]:
    settings = {
        "retail": ({"category_multipliers": {"fresh": "2"}}, "Double points on fresh food brings shoppers in every day"),
        "dining": ({"off_peak_hours": ["14:00-17:00"]}, "Fill the quiet afternoons: +50% points on weekday afternoon bills"),
        "property": ({"bonus_relations": ["owner", "tenant"]}, "On-time and autopay bonuses for those the fees are billed to"),
    }
    steps = [AdminStep(at, SETTINGS, {"input": {"format": code, "values": values, "reason": reason}}, "updatePluginSettings")
             for code, (values, reason) in settings.items() if code in formats]
    prices = [{"pricePerPoint": "0.8", "reason": "Group rate: a point settles at 0.8 fen"}]
    if {"retail", "dining"} <= set(formats):
        prices.append({"issuer": "retail", "redeemer": "dining", "pricePerPoint": "0.6",
                       "reason": "Desserts cost the kitchens little: retail pays dining 0.6 fen"})
    return steps + [AdminStep(at, PRICE, {"input": price}, "setTransferPrice") for price in prices]


def _benefits(at: datetime, formats: Collection[str]) -> list[AdminStep]:
    steps = []
    if "property" in formats:
        parking = {"code": "parking_2h", "name": "2 free parking hours a month", "minTier": "gold",
                   "quota": {"count": 2, "period": "MONTH"}, "formats": ["property"],
                   "description": "Show your membership at any of the group's car parks.", "reason": "Gold perk across the estates' car parks"}
        steps.append(AdminStep(at, BENEFIT, {"input": parking}, "createSharedBenefit", ("benefit", "group.parking_2h")))
    treat_formats = [code for code in ("dining", "retail") if code in formats]
    if treat_formats:
        treat = {"code": "birthday_treat", "name": "Birthday-month dessert", "minTier": "member", "birthdayMonth": True,
                 "quota": {"count": 1, "period": "YEAR"}, "formats": treat_formats,
                 "description": "A dessert at any restaurant, or a cake at any store's bakery, in your birthday month.",
                 "reason": "Birthday gift for every member"}
        steps.append(AdminStep(at, BENEFIT, {"input": treat}, "createSharedBenefit", ("benefit", "group.birthday_treat")))
    return steps


def _campaigns(launch: date, members: int, formats: Collection[str]) -> list[AdminStep]:
    morning, year_later = datetime.combine(launch, time(8), tzinfo=SHANGHAI), launch + timedelta(days=365)
    member_day = {"code": "member_day", "name": "Member day", "startsAt": _iso(launch), "endsAt": _iso(year_later),
                  "scope": {"daysOfMonth": [MEMBER_DAY], "minTier": "silver"}, "reward": {"multiplier": "2"},
                  "budget": MEMBER_DAY_BUDGET_PER_MEMBER * members, "memberLimit": {"points": 2000, "period": "MONTH"},
                  "reason": "Double points for Silver and up every 18th"}
    birthday = {"code": "birthday_month", "name": "Birthday month", "startsAt": _iso(launch), "endsAt": _iso(year_later),
                "scope": {"birthdayMonth": True}, "reward": {"multiplier": "1.5"},
                "memberLimit": {"points": 1000, "period": "MONTH"}, "reason": "Half as many points again all through the birthday month"}
    steps = [AdminStep(morning, CAMPAIGN, {"input": member_day}, "createCampaign", ("campaign", "member_day")),
             AdminStep(morning, CAMPAIGN, {"input": birthday}, "createCampaign", ("campaign", "birthday_month"))]
    if len(formats) > 1:  # a month after launch
        second = _next_month(launch)
        cross = {"code": "cross_format", "name": "Cross-format check-in", "startsAt": _iso(second),
                 "endsAt": _iso(second + timedelta(days=365)), "reward": {"crossFormatBonus": 200},
                 "budget": CROSS_FORMAT_BUDGET_PER_MEMBER * members, "reason": "200 points for each further format a member uses in a month"}
        steps.append(AdminStep(datetime.combine(second, time(8), tzinfo=SHANGHAI), CAMPAIGN, {"input": cross}, "createCampaign",
                               ("campaign", "cross_format")))
    return steps
