"""Retail plugin: receipt validation, the base-rate earn rule and the store voucher."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import atrium_retail
import pytest
from atrium_retail.inputs import (
    RetailLineItemInput,
    RetailPurchaseInput,
    purchase_to_activity,
)
from atrium_retail.rewards import fulfil_voucher
from atrium_retail.rules import base_rate

from gateway.errors import AtriumError, ErrorCode
from gateway.plugin_api import (
    Activity,
    ActivityDraft,
    ActivityRejected,
    CouponSpec,
    EarnLine,
    MemberContext,
    Money,
    RedemptionRequest,
    TierInfo,
)

MEMBER = MemberContext(
    member_id=1,
    tier=TierInfo(code="member", name="Member", rank=0, threshold=0, multiplier=Decimal("1")),
    growth_value=0,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def item(
    unit_price: str = "10.00", quantity: int = 1, category: str = "grocery", discount: str = "0", sku: str = "SKU-1"
) -> RetailLineItemInput:
    return RetailLineItemInput(
        sku=sku, category=category, quantity=quantity, unit_price=Decimal(unit_price), line_discount=Decimal(discount)
    )


def purchase(
    *items: RetailLineItemInput, currency: str = "CNY", store_code: str = "SH-001", purchased_at: datetime | None = None
) -> RetailPurchaseInput:
    return RetailPurchaseInput(store_code=store_code, currency=currency, items=list(items), purchased_at=purchased_at)


def as_activity(draft: ActivityDraft) -> Activity:
    return Activity(
        format="retail",
        kind="purchase",
        reference="R-1",
        amount=draft.amount,
        occurred_at=draft.occurred_at or datetime(2026, 11, 3, tzinfo=UTC),
        store=draft.store,
        details=draft.details,
    )


def earn(*items: RetailLineItemInput) -> EarnLine | None:
    line = base_rate(as_activity(purchase_to_activity(purchase(*items))), MEMBER)
    assert line is None or isinstance(line, EarnLine)
    return line


def rejected(data: RetailPurchaseInput) -> AtriumError:
    with pytest.raises(AtriumError) as info:
        purchase_to_activity(data)
    return info.value


def test_amount_is_the_sum_of_line_nets() -> None:
    draft = purchase_to_activity(purchase(item("19.90", quantity=3, discount="5.00"), item("12.50")))
    assert draft.amount == Money(19_90 * 3 - 5_00 + 12_50, "CNY")


def test_details_hold_json_ready_lines_in_minor_units() -> None:
    draft = purchase_to_activity(purchase(item("19.90", quantity=2, discount="1.80", sku=" A-1 ", category="Grocery")))
    assert json.loads(json.dumps(draft.details)) == {
        "items": [{"sku": "A-1", "category": "grocery", "quantity": 2, "netMinor": 3800}],
        "eligibleMinor": 3800,
    }


def test_store_code_is_the_store() -> None:
    assert purchase_to_activity(purchase(item(), store_code=" SH-001 ")).store == "SH-001"


def test_reason_names_rate_and_eligible_base() -> None:
    assert earn(item("120.00")) == EarnLine(120, 120, "1 pt per CN¥1 on CN¥120.00 of eligible items")


def test_points_round_down() -> None:
    line = earn(item("120.99"))
    assert line is not None and (line.points, line.growth) == (120, 120)


def test_excluded_categories_earn_nothing() -> None:
    assert earn(item("500.00", category="gift_card"), item("45.00", category="tobacco")) is None


def test_excluded_amount_is_named_in_reason() -> None:
    line = earn(item("120.00"), item("50.00", category="gift_card"))
    assert line == EarnLine(
        120, 120, "1 pt per CN¥1 on CN¥120.00 of eligible items (CN¥50.00 of gift_card excluded)"
    )


def test_excluded_category_match_ignores_case_and_spaces() -> None:
    draft = purchase_to_activity(purchase(item("10.00"), item("50.00", category=" Gift_Card ")))
    assert draft.details["eligibleMinor"] == 1000


def test_line_discount_reduces_the_earning_base() -> None:
    line = earn(item("100.00", quantity=2, discount="30.00"))
    assert line is not None and line.points == 170


def test_zero_priced_line_is_accepted() -> None:
    draft = purchase_to_activity(purchase(item("10.00"), item("0")))
    assert draft.details["items"][1]["netMinor"] == 0


def test_negative_unit_price_is_rejected_with_field_path() -> None:
    error = rejected(purchase(item("10.00"), item("-1.00")))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "items.1.unitPrice")


def test_over_precise_unit_price_is_rejected_with_field_path() -> None:
    error = rejected(purchase(item("10.005")))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "items.0.unitPrice")


def test_negative_line_discount_is_rejected_with_field_path() -> None:
    error = rejected(purchase(item("10.00", discount="-1")))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "items.0.lineDiscount")


def test_discount_above_line_total_is_rejected() -> None:
    error = rejected(purchase(item("10.00"), item("10.00", quantity=2, discount="20.01")))
    assert isinstance(error, ActivityRejected)
    assert error.field == "items.1.lineDiscount"


def test_fully_discounted_receipt_is_rejected() -> None:
    error = rejected(purchase(item("10.00", discount="10.00")))
    assert isinstance(error, ActivityRejected) and error.field == "items"


def test_empty_receipt_is_rejected() -> None:
    error = rejected(purchase())
    assert isinstance(error, ActivityRejected) and error.field == "items"


def test_more_than_500_items_are_rejected() -> None:
    error = rejected(purchase(*[item() for _ in range(501)]))
    assert isinstance(error, ActivityRejected) and error.field == "items"


@pytest.mark.parametrize("quantity", [0, -1, 10_001])
def test_quantity_out_of_range_is_rejected(quantity: int) -> None:
    error = rejected(purchase(item(quantity=quantity)))
    assert isinstance(error, ActivityRejected) and error.field == "items.0.quantity"


def test_blank_sku_is_rejected_with_field_path() -> None:
    error = rejected(purchase(item(sku="  ")))
    assert isinstance(error, ActivityRejected) and error.field == "items.0.sku"


def test_blank_store_code_is_rejected() -> None:
    error = rejected(purchase(item(), store_code=""))
    assert isinstance(error, ActivityRejected) and error.field == "storeCode"


def test_unknown_currency_is_rejected_on_the_currency_field() -> None:
    error = rejected(purchase(item(), currency="XYZ"))
    assert (error.code, error.field) == (ErrorCode.UNSUPPORTED_CURRENCY, "currency")


def test_currency_is_normalised_to_upper_case() -> None:
    assert purchase_to_activity(purchase(item(), currency="cny")).amount.currency == "CNY"


def test_naive_purchase_time_is_rejected() -> None:
    error = rejected(purchase(item(), purchased_at=datetime(2026, 11, 3, 14, 5)))
    assert isinstance(error, ActivityRejected) and error.field == "purchasedAt"


def test_aware_purchase_time_is_kept() -> None:
    moment = datetime(2026, 11, 3, 14, 5, tzinfo=timezone(timedelta(hours=8)))
    assert purchase_to_activity(purchase(item(), purchased_at=moment)).occurred_at == moment


def test_voucher_fulfilment_states_the_total_value_and_leaves_codes_to_the_gateway() -> None:
    request = RedemptionRequest(
        member=MEMBER, format="retail", reward="voucher_10", quantity=3, points=3000, reference="X-1",
        requested_at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    fulfilment = fulfil_voucher(request)
    assert fulfilment.details == {"valueMinor": 3000, "currency": "CNY"}
    assert fulfilment.reason.startswith("3 CN¥10.00 store vouchers (CN¥30.00 in total), valid for 90 days")
    json.dumps(fulfilment.details)


def test_registrations_match_the_programme() -> None:
    got: list[object] = []
    for hook in ("formats", "activity_kinds", "earn_rules", "benefits", "redemption_types"):
        getattr(atrium_retail, f"atrium_register_{hook}")(got.append)
    fmt, kind, rule, benefit, reward = got
    assert (fmt.code, kind.name, kind.input_type.__name__, rule.code) == (
        "retail", "purchase", "RetailPurchaseInput", "base_rate"
    )
    assert kind.refund_input_type.__name__ == "RetailPurchaseRefundInput"
    assert (benefit.code, benefit.min_tier) == ("member_price", "silver")
    assert (reward.code, reward.points, reward.max_quantity) == ("voucher_10", 1000, 5)
    assert reward.coupon == CouponSpec(valid_days=90, face_value=Money(1000, "CNY"), prefix="RET-")
