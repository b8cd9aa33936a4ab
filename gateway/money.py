"""Money as integer minor units plus an ISO 4217 code, and the rounding rules of points maths."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies

from gateway.errors import AtriumError, ErrorCode

_KNOWN_CURRENCIES = frozenset(list_currencies())


@lru_cache(maxsize=512)
def _precision(currency: str) -> int:
    """Babel's minor-unit digits of ``currency``, memoised: a history page asks it for every line."""
    return get_currency_precision(currency)


@lru_cache(maxsize=4096)
def _formatted(minor: int, currency: str, locale: str) -> str:
    """``format_currency`` of an amount, memoised: reason lines repeat the same few amounts."""
    amount = Decimal(minor).scaleb(-_precision(currency))
    try:
        return format_currency(amount, currency, locale=locale)
    except UnknownLocaleError:  # pragma: no cover - settings validate the locale
        return f"{amount} {currency}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of money: ``minor`` units (fen, cents) of ``currency``; never a float."""

    minor: int
    currency: str

    @property
    def exponent(self) -> int:
        """How many decimal places the currency's minor unit has (CNY 2, JPY 0)."""
        return _precision(self.currency)

    @property
    def amount(self) -> Decimal:
        """The amount in major units, exact."""
        return Decimal(self.minor).scaleb(-self.exponent)

    def format(self, locale: str = "en_US") -> str:
        """Human-readable amount for reason lines, e.g. ``CN¥120.00``."""
        return _formatted(self.minor, self.currency, locale)

    def __add__(self, other: "Money") -> "Money":
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.minor + other.minor, self.currency)


def parse_money(
    amount: Decimal | str | int,
    currency: str,
    *,
    field: str,
    allow_zero: bool = False,
    max_minor: int | None = None,
) -> Money:
    """Turn a decimal amount into :class:`Money`, refusing what no till would send.

    Zero (unless allowed), negative, NaN/infinite, more decimals than the currency's minor unit,
    and amounts above ``max_minor`` raise :class:`AtriumError` naming ``field``.
    """
    code = (currency or "").upper()
    if code not in _KNOWN_CURRENCIES:
        raise AtriumError(ErrorCode.UNSUPPORTED_CURRENCY, f"{currency!r} is not an ISO 4217 currency code.", field)
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, f"{amount!r} is not a number.", field) from None
    if not value.is_finite():
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount must be a finite number.", field)
    if value < 0:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount cannot be negative.", field)
    if value == 0 and not allow_zero:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount must be greater than zero.", field)
    exponent = get_currency_precision(code)
    if value.adjusted() > 30:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount is implausibly large.", field)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise AtriumError(
            ErrorCode.INVALID_AMOUNT,
            f"{code} amounts have at most {exponent} decimal places; got {value}.",
            field,
        )
    result = Money(int(minor), code)
    if max_minor is not None and result.minor > max_minor:
        limit = Money(max_minor, code)
        raise AtriumError(
            ErrorCode.INVALID_AMOUNT, f"The amount exceeds the limit of {limit.amount} {code} per activity.", field
        )
    return result


def points_for(amount: Money, points_per_unit: Decimal | int | str) -> int:
    """Points earned on ``amount`` at ``points_per_unit`` points per major unit, rounded down."""
    return int((amount.amount * Decimal(str(points_per_unit))).to_integral_value(rounding=ROUND_DOWN))


def apply_multiplier(points: int, multiplier: Decimal) -> int:
    """``points`` times a tier or campaign ``multiplier``, rounded down (earn never rounds up)."""
    return int((Decimal(points) * multiplier).to_integral_value(rounding=ROUND_DOWN))
