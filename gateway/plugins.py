"""The plugin host: builds one pluggy manager per app and collects what plugins register.

Plugins are discovered only through the ``atrium`` entry-point group, sorted by name, optionally
filtered by the ``ATRIUM_PLUGINS`` allowlist. Tests and embedders pass extra plugin objects to
:func:`build_plugin_host`. Every registered item is validated and tagged with the plugin that gave
it; clashes and misspelt hooks fail start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import (
    EntryPoint,
    PackageNotFoundError,
    entry_points,
    packages_distributions,
    version,
)
from types import ModuleType
from typing import Any

import pluggy

from gateway import hookspecs
from gateway.errors import PluginLoadError
from gateway.plugin_api import (
    ENTRY_POINT_GROUP,
    PROJECT,
    ActivityDetails,
    ActivityKind,
    Benefit,
    BenefitUseEvent,
    BusinessFormat,
    CouponEvent,
    EarnRule,
    FormatSettings,
    PostingEvent,
    RedemptionType,
    TierChange,
)
from gateway.plugin_settings_schema import model_problem
from gateway.reserved_formats import reserved_format_problem

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin the host loaded: its name, distribution version and the hooks it implements.

    ``distribution`` is the installed distribution (``atrium-retail``) that provides it, or
    ``None`` for a plugin object that no installed distribution holds (a test's plugin).
    """

    name: str
    version: str | None
    hooks: tuple[str, ...]
    distribution: str | None = None


@dataclass
class PluginRegistry:
    """Everything the loaded plugins registered, keyed by code, with the plugin that gave it."""

    formats: dict[str, BusinessFormat] = field(default_factory=dict)
    activity_kinds: dict[tuple[str, str], ActivityKind] = field(default_factory=dict)
    earn_rules: dict[str, list[EarnRule]] = field(default_factory=dict)
    benefits: dict[tuple[str, str], Benefit] = field(default_factory=dict)
    redemption_types: dict[tuple[str, str], RedemptionType] = field(default_factory=dict)
    graphql_types: list[tuple[str, type]] = field(default_factory=list)
    settings: dict[str, FormatSettings] = field(default_factory=dict)
    owner: dict[tuple[str, ...], str] = field(default_factory=dict)

    def reward(self, format_code: str, code: str) -> RedemptionType | None:
        """The redemption type ``code`` of ``format_code``, or ``None``."""
        return self.redemption_types.get((format_code, code))


class PluginHost:
    """One app's plugin manager and registry; notification hooks are called in isolation."""

    def __init__(
        self, pm: pluggy.PluginManager, registry: PluginRegistry, loaded: list[LoadedPlugin], *, trace: bool = False
    ) -> None:
        self.pm = pm
        self.registry = registry
        self.loaded = loaded
        self.trace = trace

    def notify_posting(self, event: PostingEvent) -> None:
        """Tell every plugin about a committed posting; a raising plugin is logged, never fatal."""
        self._notify("atrium_posting_committed", "the posting", event=event)

    def notify_tier_change(self, change: TierChange) -> None:
        """Tell every plugin about a tier change; a raising plugin is logged, never fatal."""
        self._notify("atrium_tier_changed", "the tier change", change=change)

    def notify_coupon(self, event: CouponEvent) -> None:
        """Tell every plugin about a coupon issued, used, cancelled or expired; a raising plugin is logged."""
        self._notify("atrium_coupon_changed", "the coupon change", event=event)

    def notify_benefit_use(self, event: BenefitUseEvent) -> None:
        """Tell every plugin about a benefit used or a use cancelled; a raising plugin is logged."""
        self._notify("atrium_benefit_use_changed", "the benefit use", event=event)

    def _notify(self, hook_name: str, what: str, **kwargs: Any) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if self.trace:
                log.debug("calling %s of plugin %r with %r", hook_name, impl.plugin_name, kwargs)
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:  # noqa: BLE001 - isolation is the point
                log.exception("plugin %r raised in %s; %s stands", impl.plugin_name, hook_name, what)


def _entry_points(allowlist: Sequence[str] | None) -> list[EntryPoint]:
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if allowlist is None:
        return found
    names = {ep.name for ep in found}
    missing = sorted(set(allowlist) - names)
    if missing:
        raise PluginLoadError(f"ATRIUM_PLUGINS names plugins that are not installed: {', '.join(missing)}")
    return [ep for ep in found if ep.name in set(allowlist)]


def build_plugin_host(
    *,
    allowlist: Sequence[str] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    load_entry_points: bool = True,
    trace: bool = False,
) -> PluginHost:
    """Build a fresh plugin manager for one app, load plugins and collect their registrations.

    :param allowlist: entry-point names to load; ``None`` loads every installed plugin.
    :param extra_plugins: ``(name, plugin)`` pairs registered after the entry points (tests).
    :param load_entry_points: ``False`` loads only ``extra_plugins``.
    :param trace: log every hook call at debug level.
    :raises PluginLoadError: a plugin fails to import, misspells a hook, clashes with another or names a
        format with a reserved code (:data:`gateway.reserved_formats.RESERVED_FORMAT_CODES`).
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    versions: dict[str, str | None] = {}
    distributions: dict[str, str | None] = {}
    if load_entry_points:
        for ep in _entry_points(allowlist):
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(f"plugin {ep.name!r} failed to import: {exc}") from exc
            _register(pm, plugin, ep.name)
            versions[ep.name] = ep.dist.version if ep.dist else None
            distributions[ep.name] = ep.dist.name if ep.dist else None
    extras = list(extra_plugins)
    packages = packages_distributions() if extras else {}
    for name, plugin in extras:
        _register(pm, plugin, name)
        distributions[name], versions[name] = _distribution_of(plugin, packages)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {pm.get_name(exc.plugin)!r} implements an unknown hook: {exc}") from exc
    registry = _collect(pm, trace=trace)
    loaded = [
        LoadedPlugin(
            name=name,
            version=versions.get(name),
            distribution=distributions.get(name),
            hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])),
        )
        for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0])
        if plugin is not None
    ]
    return PluginHost(pm, registry, loaded, trace=trace)


def _distribution_of(plugin: object, packages: Mapping[str, list[str]]) -> tuple[str | None, str | None]:
    """The installed distribution holding a plugin object's module, and its version.

    ``packages`` maps top-level packages to distributions (``packages_distributions()``). Without
    one (a plugin defined in a test), the version is the object's ``__version__``, if any.
    """
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    found = sorted(set(packages.get(module.partition(".")[0], [])))
    if len(found) == 1:
        try:
            return found[0], version(found[0])
        except PackageNotFoundError:
            pass
    return None, getattr(plugin, "__version__", None)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register one plugin; a duplicate name or a hook with unknown arguments fails start-up."""
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginLoadError(f"plugin {name!r} cannot be registered: {exc}") from exc


def _call_each(
    pm: pluggy.PluginManager, hook_name: str, make_register: Callable[[str], Callable[[Any], None]], *, trace: bool
) -> None:
    """Call every implementation of a registration hook with a register callback bound to it."""
    impls = sorted(getattr(pm.hook, hook_name).get_hookimpls(), key=lambda impl: impl.plugin_name)
    for impl in impls:
        if trace:
            log.debug("calling %s of plugin %r", hook_name, impl.plugin_name)
        register = make_register(impl.plugin_name)
        try:
            impl.function(**({"register": register} if "register" in impl.argnames else {}))
        except PluginLoadError:
            raise
        except Exception as exc:
            raise PluginLoadError(f"plugin {impl.plugin_name!r} raised in {hook_name}: {exc!r}") from exc


def _collect(pm: pluggy.PluginManager, *, trace: bool = False) -> PluginRegistry:
    registry = PluginRegistry()

    def claim(key: tuple[str, ...], plugin: str, what: str) -> None:
        if key in registry.owner:
            raise PluginLoadError(
                f"{what} {'.'.join(key[1:])!r} is registered by both {registry.owner[key]!r} and {plugin!r}"
            )
        registry.owner[key] = plugin

    def check_code(code: str, plugin: str, what: str) -> None:
        if not isinstance(code, str) or not _CODE.match(code):
            raise PluginLoadError(
                f"plugin {plugin!r} registered {what} with code {code!r}: use lowercase letters, digits and _"
            )

    def formats(plugin: str) -> Callable[[BusinessFormat], None]:
        def register(item: BusinessFormat) -> None:
            _expect(item, BusinessFormat, plugin)
            check_code(item.code, plugin, "a format")
            reserved = reserved_format_problem(item.code)
            if reserved is not None:
                raise PluginLoadError(f"plugin {plugin!r} registered a format it may not: {reserved}")
            claim(("format", item.code), plugin, "format")
            registry.formats[item.code] = item

        return register

    _call_each(pm, "atrium_register_formats", formats, trace=trace)

    def known_format(code: str, plugin: str, what: str) -> None:
        if code not in registry.formats:
            raise PluginLoadError(f"plugin {plugin!r} registered {what} for unknown format {code!r}")

    def kinds(plugin: str) -> Callable[[ActivityKind], None]:
        def register(item: ActivityKind) -> None:
            _expect(item, ActivityKind, plugin)
            known_format(item.format, plugin, f"activity kind {item.name!r}")
            check_code(item.name, plugin, "an activity kind")
            if item.details_type is not None:
                _check_details_type(item.details_type, plugin)
            claim(("activity kind", item.format, item.name), plugin, "activity kind")
            registry.activity_kinds[(item.format, item.name)] = item

        return register

    def rules(plugin: str) -> Callable[[EarnRule], None]:
        def register(item: EarnRule) -> None:
            _expect(item, EarnRule, plugin)
            known_format(item.format, plugin, f"earn rule {item.code!r}")
            check_code(item.code, plugin, "an earn rule")
            claim(("earn rule", item.format, item.code), plugin, "earn rule")
            registry.earn_rules.setdefault(item.format, []).append(item)
            registry.earn_rules[item.format].sort(key=lambda rule: rule.code)

        return register

    def benefits(plugin: str) -> Callable[[Benefit], None]:
        def register(item: Benefit) -> None:
            _expect(item, Benefit, plugin)
            known_format(item.format, plugin, f"benefit {item.code!r}")
            check_code(item.code, plugin, "a benefit")
            claim(("benefit", item.format, item.code), plugin, "benefit")
            registry.benefits[(item.format, item.code)] = item

        return register

    def rewards(plugin: str) -> Callable[[RedemptionType], None]:
        def register(item: RedemptionType) -> None:
            _expect(item, RedemptionType, plugin)
            known_format(item.format, plugin, f"redemption type {item.code!r}")
            check_code(item.code, plugin, "a redemption type")
            if item.points <= 0 or item.max_quantity <= 0:
                raise PluginLoadError(f"redemption type {item.format}.{item.code} needs positive points and quantity")
            claim(("redemption type", item.format, item.code), plugin, "redemption type")
            registry.redemption_types[(item.format, item.code)] = item

        return register

    def graphql_types(plugin: str) -> Callable[[type], None]:
        def register(item: type) -> None:
            if not isinstance(item, type):
                raise PluginLoadError(f"plugin {plugin!r} registered {item!r} as a GraphQL type, expected a class")
            registry.graphql_types.append((plugin, item))

        return register

    _call_each(pm, "atrium_register_activity_kinds", kinds, trace=trace)
    _call_each(pm, "atrium_register_earn_rules", rules, trace=trace)
    _call_each(pm, "atrium_register_benefits", benefits, trace=trace)
    _call_each(pm, "atrium_register_redemption_types", rewards, trace=trace)
    _call_each(pm, "atrium_register_graphql_types", graphql_types, trace=trace)

    def settings(plugin: str) -> Callable[[FormatSettings], None]:
        def register(item: FormatSettings) -> None:
            _expect(item, FormatSettings, plugin)
            known_format(item.format, plugin, "settings")
            problem = model_problem(item.model)
            if problem is not None:
                raise PluginLoadError(f"plugin {plugin!r} registered settings for {item.format!r}: {problem}")
            claim(("settings", item.format), plugin, "settings of format")
            registry.settings[item.format] = item

        return register

    _call_each(pm, "atrium_register_settings", settings, trace=trace)
    return registry


def _check_details_type(details_type: type, plugin: str) -> None:
    """A details type must implement the ActivityDetails interface and build from an activity."""
    implements = isinstance(details_type, type) and issubclass(details_type, ActivityDetails)
    if not implements or not callable(getattr(details_type, "from_activity", None)):
        raise PluginLoadError(
            f"plugin {plugin!r}: details_type {details_type!r} must subclass ActivityDetails "
            "and have a from_activity(activity) classmethod"
        )


def _expect(item: object, kind: type, plugin: str) -> None:
    if not isinstance(item, kind):
        raise PluginLoadError(f"plugin {plugin!r} registered {item!r}, expected a {kind.__name__}")
