"""The plugin guide, docs/plugins.md, documents every hook and every name of the public plugin API.

Modelled on Datasette's ``test_plugin_hooks_are_documented``: adding a hook to
``gateway/hookspecs.py`` or a name to ``gateway.plugin_api.__all__`` without documenting it fails
here. No database, no app: these read a module and a Markdown file.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from gateway import hookspecs, plugin_api

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"

HOOK_HEADING = re.compile(r"^### `(?P<signature>[^`]+)`[ \t]*$", re.MULTILINE)
"""A level-3 heading whose whole text is one backticked span: ``### `name(arg1, arg2)` ``."""


def hook_signatures() -> dict[str, str]:
    """``{hook name: "name(arg1, arg2)"}`` for every hookspec function in :mod:`gateway.hookspecs`."""
    return {
        name: f"{name}({', '.join(inspect.signature(function).parameters)})"
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("atrium_") and function.__module__ == hookspecs.__name__
    }


def documented_signatures() -> set[str]:
    return {match["signature"].strip() for match in HOOK_HEADING.finditer(GUIDE.read_text(encoding="utf-8"))}


def test_plugin_hooks_are_documented() -> None:
    hooks = hook_signatures()
    assert hooks, "found no atrium_* hookspecs in gateway.hookspecs"
    documented = documented_signatures()

    undocumented = sorted(signature for signature in hooks.values() if signature not in documented)
    assert not undocumented, (
        f"{GUIDE.name} needs a section headed by the exact signature of each hook: "
        + ", ".join(f"### `{signature}`" for signature in undocumented)
    )

    stale = sorted(signature for signature in documented if signature.startswith("atrium_") and signature not in set(hooks.values()))
    assert not stale, f"{GUIDE.name} documents hooks that gateway.hookspecs does not define (as written): {stale}"


def test_public_plugin_api_names_are_documented() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    missing = sorted(name for name in plugin_api.__all__ if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text))
    assert not missing, f"{GUIDE.name} never mentions these names of gateway.plugin_api.__all__: {missing}"
