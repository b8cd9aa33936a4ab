"""A plugin cannot name a format like the words the gateway starts its own posting-line rules with."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.errors import PluginLoadError
from gateway.plugin_api import BusinessFormat, hookimpl
from gateway.plugins import build_plugin_host
from gateway.reserved_formats import RESERVED_FORMAT_CODES

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
_OWN_RULE = re.compile(r"""["']rule["']\s*:\s*f?["']([a-z_]+)\.""")
"""A line rule the gateway writes with a fixed first word, e.g. ``"rule": f"campaign.{code}"``."""


class Format:
    """A throwaway plugin registering one format."""

    def __init__(self, code: str) -> None:
        self.code = code

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code=self.code, name=self.code.title()))


@pytest.mark.parametrize("code", sorted(RESERVED_FORMAT_CODES))
def test_a_reserved_format_code_fails_start_up_naming_the_plugin(code: str) -> None:
    with pytest.raises(PluginLoadError, match=rf"plugin 'sneaky' registered a format it may not: format code '{code}' is reserved"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("sneaky", Format(code))])


def test_a_code_that_only_starts_like_a_reserved_word_is_allowed() -> None:
    host = build_plugin_host(load_entry_points=False, extra_plugins=[("spa", Format("campaigns")), ("grp", Format("group_buy"))])
    assert set(host.registry.formats) == {"campaigns", "group_buy"}


def test_the_installed_plugins_use_no_reserved_code() -> None:
    assert not RESERVED_FORMAT_CODES & set(build_plugin_host().registry.formats)


def test_every_fixed_first_word_of_a_gateway_line_rule_is_reserved() -> None:
    words = {
        match.group(1)
        for source in GATEWAY.rglob("*.py")
        if "plugins" not in source.relative_to(GATEWAY).parts[:-1]
        for match in _OWN_RULE.finditer(source.read_text(encoding="utf-8"))
    }
    assert {"campaign", "group", "tier", "refund", "cancel", "hold"} <= words
    assert words <= RESERVED_FORMAT_CODES
