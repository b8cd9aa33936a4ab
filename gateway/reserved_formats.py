"""Format codes a plugin may not take: the words the gateway itself puts where a format code goes.

A posting line's ``rule`` is ``<format>.<rule code>`` for a plugin's earn rule or reward, and
``<word>.<...>`` for what the gateway adds on its own (``campaign.member_day``, ``tier.gold``,
``refund.retail``, ``group.adjustment`` ...). Readers tell them apart by the first segment:
:mod:`gateway.ledger.verify` counts a campaign's budget from the lines whose rule starts with
``campaign.``, and shared benefits and group-wide postings use the pseudo-format ``group``
(:data:`gateway.persistence.models.GROUP_FORMAT`). A plugin registering a format named like one of
these words would have its own lines miscounted as the gateway's (or the reverse), so the plugin
host refuses it at start-up (:func:`gateway.plugins.build_plugin_host`).
"""

from __future__ import annotations

from gateway.persistence.models import GROUP_FORMAT

RESERVED_FORMAT_CODES: frozenset[str] = frozenset(
    {
        "campaign",  # campaign.<campaign code>: a campaign's points (gateway.campaigns.awards)
        GROUP_FORMAT,  # group.adjustment, group.<benefit>: the whole group's postings and shared benefits
        "tier",  # tier.<tier code>: the tier bonus on an earn (gateway.ledger.earn_points)
        "refund",  # refund.<format>: a refund's points taken back (gateway.ledger.reverse)
        "cancel",  # cancel.<format>.<reward>: a cancelled redemption's points returned (gateway.ledger.cancel)
        "hold",  # hold.returned / hold.expired / hold.reclaimed: a capture's remainder (gateway.ledger.holds)
        "pending",  # pending.<format>: pending points released (gateway.ledger.pending)
        "expiry",  # expiry.<format>: points expired (gateway.ledger.expiry)
        "merge",  # merge.wallet / merge.pending / merge.held: a merged record's points (gateway.merge)
    }
)
"""Codes no plugin format may use: each is the first segment of line rules the gateway writes itself."""


def reserved_format_problem(code: str) -> str | None:
    """Why ``code`` cannot name a plugin's format (``None`` when it can): it is a word the gateway's own
    line rules or ids start with, so the plugin's lines would be read as the gateway's."""
    if code in RESERVED_FORMAT_CODES:
        return (
            f"format code {code!r} is reserved: the gateway writes its own posting lines as '{code}.<...>' "
            f"(reserved: {', '.join(sorted(RESERVED_FORMAT_CODES))})"
        )
    return None
