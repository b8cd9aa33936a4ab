"""Pure rules of plugin settings: which models are acceptable, and how stored changes are validated.

No database here. A format's settings are stored as *overrides*: a JSON object holding only the
fields whose value differs from the model's default. Every change is validated by the model as a
whole (so cross-field validators hold), then reduced to overrides again; a value set back to its
default simply stops being an override.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from gateway.errors import AtriumError, ErrorCode
from gateway.plugin_settings_types import PluginSettings


class InvalidSettings(AtriumError):
    """A settings change the model refuses; ``errors`` holds one typed error per problem (the first is this one's)."""

    def __init__(self, errors: list[AtriumError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = errors

    def with_field_prefix(self, prefix: str) -> InvalidSettings:
        """A copy whose every error's field is nested under ``prefix``."""
        return InvalidSettings([error.with_field_prefix(prefix) for error in self.errors])


def model_problem(model: object) -> str | None:
    """Why ``model`` cannot be a format's settings model, or ``None`` when it can.

    It must subclass :class:`PluginSettings`, key its fields by name (no aliases), build from
    its defaults alone, survive a JSON round trip (what is stored is JSON) and have a JSON schema.
    """
    if model is PluginSettings:
        return "register a subclass of PluginSettings, not PluginSettings itself"
    if not (isinstance(model, type) and issubclass(model, PluginSettings)):
        return f"{getattr(model, '__name__', repr(model))} is not a subclass of PluginSettings"
    for name, info in model.model_fields.items():
        if any(alias not in (None, name) for alias in (info.alias, info.validation_alias, info.serialization_alias)):
            return f"field {name!r} of {model.__name__} has an alias: settings are keyed by field name"
    try:
        defaults = model()
    except ValidationError as exc:
        return f"{model.__name__} cannot be built from its defaults (every field needs a valid default): {_first(exc)}"
    try:
        again = model.model_validate_json(defaults.model_dump_json())
        model.model_json_schema()
    except Exception as exc:  # noqa: BLE001 - any failure here is the plugin's to fix
        return f"{model.__name__} does not round-trip through JSON: {exc}"
    if again != defaults:
        return f"{model.__name__}'s defaults change when written to JSON and read back"
    return None


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc']) or 'model'}: {error['msg']}"


def overrides_of(instance: PluginSettings) -> dict[str, Any]:
    """The fields of ``instance`` whose value differs from the model's default, as JSON values."""
    defaults = type(instance)()
    dumped = instance.model_dump(mode="json")
    return {
        name: dumped[name] for name in type(instance).model_fields if getattr(instance, name) != getattr(defaults, name)
    }


def build(model: type[PluginSettings], overrides: Mapping[str, Any]) -> PluginSettings:
    """An instance of ``model`` with ``overrides`` over its defaults, validated as JSON input.

    :raises InvalidSettings: with the field path (``values.<field>...``) and pydantic's message of
        each problem; a problem of the whole model (a cross-field validator) names ``values``.
    """
    try:
        return model.model_validate_json(json.dumps(dict(overrides)))
    except ValidationError as exc:
        raise InvalidSettings(
            [
                AtriumError(
                    ErrorCode.INVALID_CONFIG,
                    error["msg"],
                    ".".join(["values", *(str(part) for part in error["loc"])]),
                )
                for error in exc.errors()
            ]
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidSettings([AtriumError(ErrorCode.INVALID_CONFIG, f"Values must be JSON: {exc}.", "values")]) from None


def changed(model: type[PluginSettings], overrides: Mapping[str, Any], values: Any) -> dict[str, Any]:
    """The overrides after an admin sets ``values`` (field name to new value) over ``overrides``.

    :raises InvalidSettings: ``values`` is not an object, names an unknown field, or makes the
        model invalid; nothing is to be written then.
    """
    if not isinstance(values, Mapping):
        raise InvalidSettings(
            [AtriumError(ErrorCode.INVALID_CONFIG, "Values must be a JSON object of field names to new values.", "values")]
        )
    return overrides_of(build(model, {**overrides, **values}))


def reset(model: type[PluginSettings], overrides: Mapping[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
    """The overrides after ``fields`` go back to their defaults (every field when ``None``).

    :raises InvalidSettings: a field the model does not have (``fields.<n>``), or the remaining
        overrides no longer validate together (on ``fields``: the request sent no ``values``).
    """
    if fields is None:
        return {}
    names = list(fields)
    unknown = [
        AtriumError(ErrorCode.INVALID_CONFIG, f"{model.__name__} has no field {name!r}.", f"fields.{index}")
        for index, name in enumerate(names)
        if name not in model.model_fields
    ]
    if unknown:
        raise InvalidSettings(unknown)
    try:
        return overrides_of(build(model, {key: value for key, value in overrides.items() if key not in names}))
    except InvalidSettings as invalid:
        raise InvalidSettings([AtriumError(error.code, error.message, "fields") for error in invalid.errors]) from None


def clean(model: type[PluginSettings], stored: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stored overrides that ``model`` still accepts, and a note per override dropped.

    A plugin upgrade may remove a field or tighten a constraint; the format then runs on the
    default for that field rather than failing every request. The notes are logged.
    """
    kept = {name: value for name, value in stored.items() if name in model.model_fields}
    notes = [f"{name}: the model has no such field" for name in stored if name not in model.model_fields]
    while kept:
        try:
            return overrides_of(build(model, kept)), notes
        except InvalidSettings as invalid:
            named = {_field_name(error) for error in invalid.errors}
            culprits = named & kept.keys() or set(kept)  # a whole-model problem: no field to blame alone
            for name in sorted(culprits):
                notes.append(f"{name}: {invalid.message}")
                kept.pop(name)
    return {}, notes


def _field_name(error: AtriumError) -> str | None:
    """The settings field an error of :func:`build` is about (``values.<field>...``), if any."""
    parts = (error.field or "").split(".")
    return parts[1] if len(parts) > 1 else None
