"""The settlement report as one CSV table (stdlib ``csv``), for finance to load into a spreadsheet.

One row per figure, a ``section`` column saying which:

- ``redemption``: points of ``format`` (the issuer) redeemed at ``counterparty``, at
  ``price_per_point``, worth ``value_minor``;
- ``clawback``: points of ``format`` clawed back by ``counterparty``'s refunds, likewise valued;
- ``receivable``, ``payable``, ``net``: per party (formats and ``group``), ``value_minor`` only;
- ``liability``: points of ``format`` owed to members at the end of the period, expiring in
  ``expiry_month``; ``points`` includes the ``pending_points`` and ``held_points`` shown beside it.

Money is in minor units of ``currency``; the period's days are in the group's time zone. A pair
whose transfer price changed within the period has one row per price. ``closed_at`` (the last
column, on every row) is the instant a closed period was closed, whose stored figures the rows
then are; it is empty for a period computed from the ledger.
"""

from __future__ import annotations

import csv
import io

from gateway.settlement.report import SettlementReport

COLUMNS = (
    "period_from",
    "period_to",
    "section",
    "format",
    "counterparty",
    "expiry_month",
    "points",
    "pending_points",
    "held_points",
    "price_per_point",
    "value_minor",
    "currency",
    "closed_at",
)


def settlement_csv(report: SettlementReport) -> str:
    """The report as CSV text (header first, ``\\r\\n`` line ends as RFC 4180 says)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    head = [report.period.first.isoformat(), report.period.last.isoformat()]
    closed_at = report.closing.closed_at.isoformat() if report.closing is not None else ""
    for section, cells in (("redemption", report.redemptions), ("clawback", report.clawbacks)):
        for cell in cells:
            writer.writerow(
                [*head, section, cell.issuer, cell.counterparty, "", cell.points, "", "", cell.price, cell.value, report.currency, closed_at]
            )
    for party in report.parties:
        for section, value in (("receivable", party.receivable), ("payable", party.payable), ("net", party.net)):
            writer.writerow([*head, section, party.code, "", "", "", "", "", "", value, report.currency, closed_at])
    for line in report.liability:
        writer.writerow(
            [*head, "liability", line.issuer, "", line.month or "", line.points, line.pending, line.held, "", "", "", closed_at]
        )
    return out.getvalue()
