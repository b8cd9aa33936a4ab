"""Property's settings: the earn rate of each fee type, the on-time and autopay bonuses, and the points-plus-cash cap."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from gateway.plugin_api import PluginSettings

Rate = Annotated[Decimal, Field(gt=0, le=10, decimal_places=2)]
"""Points per major unit of a fee: 0.5 for 1 pt per CN¥2, 0.2 for 1 pt per CN¥5."""

Relation = Literal["owner", "tenant", "resident"]
"""How a member is linked to a unit."""

RELATIONS: tuple[str, ...] = ("owner", "tenant", "resident")


class PropertySettings(PluginSettings):
    """Property's tunables; the defaults are what the format did before anyone changed them."""

    management_rate: Rate = Field(
        default=Decimal("0.5"),
        description="Points per CN¥1 of management fee (0.5: 1 pt per CN¥2); the fee the group most wants paid on time.",
    )
    parking_rate: Rate = Field(
        default=Decimal("0.2"), description="Points per CN¥1 of parking fee (0.2: 1 pt per CN¥5); parking is near cost."
    )
    utilities_rate: Rate = Field(
        default=Decimal("0.2"), description="Points per CN¥1 of utilities (0.2: 1 pt per CN¥5); utilities are near cost."
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="The estates' IANA time zone: a fee paid by its due date is judged on the office's calendar.",
    )
    on_time_bonus_percent: int = Field(
        default=10,
        ge=0,
        le=100,
        description="Extra points, in percent of the fee's points, for a fee paid on or before its due date; "
        "no extra growth value. 0 turns the bonus off.",
    )
    autopay_bonus_percent: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Extra points, in percent of the fee's points, for a fee paid by automatic debit (代扣); "
        "no extra growth value. 0 turns the bonus off.",
    )
    bonus_relations: tuple[Relation, ...] = Field(
        default=RELATIONS,
        description="Who earns the on-time and autopay bonuses, by their link to the unit: owner, tenant, resident. "
        "Everyone by default; leave resident out to keep the bonuses for those the fees are billed to.",
    )
    points_offset_cap_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Largest share of a fee notice, in percent, points may pay (积分抵物业费: points plus cash, "
        "offered on management fees); null leaves it to the group's cap, and a higher value has no effect.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """An IANA zone this machine knows, e.g. Asia/Shanghai."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone such as Asia/Shanghai") from None
        return name

    @field_validator("bonus_relations")
    @classmethod
    def _each_once(cls, relations: tuple[str, ...]) -> tuple[str, ...]:
        """Each relation once, owner first."""
        return tuple(relation for relation in RELATIONS if relation in relations)

    def rate_for(self, fee_type: str) -> Decimal | None:
        """The rate of a fee type (``management``, ``parking``, ``utilities``), or ``None`` for another."""
        rates = {"management": self.management_rate, "parking": self.parking_rate, "utilities": self.utilities_rate}
        return rates.get(fee_type)

    def points_offset_cap(self) -> int | None:
        """Property's own cap on points paying a fee notice; the group's cap still applies."""
        return self.points_offset_cap_percent
