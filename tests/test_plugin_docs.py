"""The plugin guide, docs/plugins.md, documents every hook exactly, and its examples run.

Modelled on Datasette's ``test_plugin_hooks_are_documented``: adding a hook to
``gateway/hookspecs.py``, a name to ``gateway.plugin_api.__all__`` or a fixture to the pytest
plugin without documenting it fails here, and so does a documented signature that is not the
hookspec's. The guide's code is the example plugin's: its ``atrium_cinema/__init__.py`` blocks put
together are ``examples/atrium-cinema/atrium_cinema/__init__.py`` statement for statement, its test
files are the example's, its ``>>>`` blocks run as doctests and its GraphQL documents validate
against the schema the example composes. (tests/test_example_plugin_install.py installs the
example into a fresh environment and runs its tests there.) No database, no app.
"""

from __future__ import annotations

import ast
import doctest
import functools
import importlib.util
import inspect
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import graphql

from gateway import hookspecs, plugin_api
from gateway.graphql.schema import build_schema
from gateway.plugins import build_plugin_host
from gateway.settings import Settings

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "plugins.md"
EXAMPLE = REPO / "examples" / "atrium-cinema"
EXAMPLE_MODULE = EXAMPLE / "atrium_cinema" / "__init__.py"
PYTEST_PLUGIN = REPO / "gateway" / "testing" / "pytest_plugin.py"

HOOK_HEADING = re.compile(r"^### `(?P<signature>[^`]+)`[ \t]*$", re.MULTILINE)
"""A level-3 heading whose whole text is one backticked span: ``### `name(arg1, arg2)` ``."""

FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
"""A fenced code block and its language."""

MODULE_BLOCK = "# atrium_cinema/__init__.py"
"""First line of every guide block that is part of the example plugin's module."""


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def blocks(lang: str, text: str | None = None) -> list[str]:
    """The bodies of the guide's (or ``text``'s) fenced blocks in ``lang``, in order."""
    return [match["body"] for match in FENCE.finditer(guide() if text is None else text) if match["lang"] == lang]


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("atrium_") and function.__module__ == hookspecs.__name__
    }


def hook_signatures() -> dict[str, str]:
    """``{hook name: "name(arg1, arg2)"}`` for every hookspec function in :mod:`gateway.hookspecs`."""
    return {name: f"{name}({', '.join(inspect.signature(function).parameters)})" for name, function in hookspec_functions().items()}


def exact_signature(function: Callable[..., Any]) -> str:
    """The hookspec as the guide shows it: ``def name(arg: Type) -> None: ...`` with the annotations as written."""
    signature = inspect.signature(function)
    parameters = ", ".join(f"{name}: {parameter.annotation}" for name, parameter in signature.parameters.items())
    return f"def {function.__name__}({parameters}) -> {signature.return_annotation}: ..."


def documented_signatures() -> set[str]:
    return {match["signature"].strip() for match in HOOK_HEADING.finditer(guide())}


def hook_sections() -> dict[str, str]:
    """``{hook name: its section's text}``, from its heading to the next heading of level 2 or 3."""
    text = guide()
    sections = {}
    for match in HOOK_HEADING.finditer(text):
        name = match["signature"].partition("(")[0]
        end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, match.end())
        sections[name] = text[match.end() : end.start() if end else len(text)]
    return sections


def statements(source: str) -> tuple[set[str], list[str]]:
    """A module's imports (as a set: the guide spreads them over its blocks) and its other statements, in order."""
    imports: set[str] = set()
    others: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom):
            imports |= {f"from {node.module} import {alias.name} as {alias.asname}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imports |= {f"import {alias.name} as {alias.asname}" for alias in node.names}
        else:
            others.append(ast.dump(node))
    return imports, others


def guide_module_source() -> str:
    return "\n\n".join(body for body in blocks("python") if body.startswith(MODULE_BLOCK))


@functools.cache
def example_plugin() -> ModuleType:
    """The example plugin's module, imported from its file under a private name (it is not installed here)."""
    name = "atrium_cinema_of_the_guide"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def schema_with_the_example() -> graphql.GraphQLSchema:
    """The schema of every installed plugin plus the example's, as a business unit's gateway composes it."""
    host = build_plugin_host(extra_plugins=[("cinema", example_plugin())])
    return build_schema(host.registry, Settings(_env_file=None))._schema  # type: ignore[call-arg]


# --- every hook, every public name, every fixture ------------------------------------------------


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


def test_each_hook_section_opens_with_the_hookspecs_exact_signature() -> None:
    sections = hook_sections()
    wrong = {}
    for name, function in hookspec_functions().items():
        shown = blocks("python", sections.get(name, ""))
        if not shown or shown[0].strip() != exact_signature(function):
            wrong[name] = (shown[0].strip() if shown else None, exact_signature(function))

    assert not wrong, f"the first python block of each hook's section must be its hookspec's signature: {wrong}"


def test_each_hook_section_explains_its_parameters_when_it_is_called_and_what_is_checked() -> None:
    sections = hook_sections()
    missing = {}
    for name, function in hookspec_functions().items():
        section = sections.get(name, "")
        expected = [f"- `{parameter}`:" for parameter in inspect.signature(function).parameters]
        expected += ["- **Called**:", "- **Checked**:", "What the gateway does"]
        absent = [line for line in expected if line not in section]
        if absent:
            missing[name] = absent
    assert not missing, f"hook sections lack these lines: {missing}"


def test_each_hook_section_has_an_example_implementing_it_in_the_example_plugin() -> None:
    sections = hook_sections()
    without = []
    for name, function in hookspec_functions().items():
        examples = [body for body in blocks("python", sections.get(name, "")) if body.startswith(MODULE_BLOCK)]
        implemented = [
            node
            for body in examples
            for node in ast.parse(body).body
            if isinstance(node, ast.FunctionDef) and node.name == name and any(ast.unparse(d) == "hookimpl" for d in node.decorator_list)
        ]
        spec_parameters = set(inspect.signature(function).parameters)
        if not implemented or not {arg.arg for arg in implemented[0].args.args} <= spec_parameters:
            without.append(name)
    assert not without, f"these hooks have no @hookimpl example (taking the spec's parameters) in their section: {without}"


def test_public_plugin_api_names_are_documented() -> None:
    text = guide()
    missing = sorted(name for name in plugin_api.__all__ if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text))
    assert not missing, f"{GUIDE.name} never mentions these names of gateway.plugin_api.__all__: {missing}"


def test_every_fixture_of_the_pytest_plugin_is_documented() -> None:
    fixtures = [
        node.name
        for node in ast.parse(PYTEST_PLUGIN.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("atrium_")
    ]
    assert len(fixtures) >= 10
    missing = [name for name in fixtures if f"| `{name}` |" not in guide()]
    assert not missing, f"the fixture table of {GUIDE.name} lacks: {missing}"


# --- the guide's code is the example plugin, and it runs -----------------------------------------


def test_the_guides_plugin_module_is_the_example_plugin() -> None:
    guide_imports, guide_code = statements(guide_module_source())
    example_imports, example_code = statements(EXAMPLE_MODULE.read_text(encoding="utf-8"))

    assert guide_imports == example_imports
    assert len(guide_code) == len(example_code), "the guide and the example define different things"
    differing = [n for n, (shown, real) in enumerate(zip(guide_code, example_code, strict=True)) if shown != real]
    assert not differing, f"statements {differing} of the guide's module differ from {EXAMPLE_MODULE.relative_to(REPO)}"


def test_the_guides_test_files_are_the_example_plugins() -> None:
    shown = {body.splitlines()[0].removeprefix("# "): body for body in blocks("python") if body.startswith("# tests/")}

    assert set(shown) == {f"tests/{path.name}" for path in (EXAMPLE / "tests").glob("test_*.py")}
    for path, body in shown.items():
        assert ast.dump(ast.parse(body)) == ast.dump(ast.parse((EXAMPLE / path).read_text(encoding="utf-8"))), path


def test_the_guides_pyproject_is_the_example_plugins() -> None:
    [shown] = [body for body in blocks("toml") if body.startswith("# pyproject.toml")]

    assert tomllib.loads(shown) == tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_example_plugin_loads_and_composes_with_every_installed_plugin() -> None:
    schema = schema_with_the_example()

    assert schema.mutation_type is not None and "recordCinemaTicket" in schema.mutation_type.fields
    assert {"CinemaTicketInput", "CinemaTicketDetails", "CinemaGroupBookingDetails"} <= set(schema.type_map)


def test_the_guides_graphql_documents_are_valid_against_the_schema() -> None:
    schema = schema_with_the_example()
    checked = 0
    for body in blocks("graphql"):
        try:
            document = graphql.parse(body)
        except graphql.GraphQLError:
            # A field as the schema declares it: `recordCinemaTicket(member: MemberRefInput!, ...): Payload!`
            name = body.partition("(")[0].strip()
            assert schema.mutation_type is not None and name in schema.mutation_type.fields, body
            field = schema.mutation_type.fields[name]
            arguments = ", ".join(f"{argument}: {value.type}" for argument, value in field.args.items())
            assert body.strip() == f"{name}({arguments}): {field.type}"
        else:
            errors = graphql.validate(schema, document)
            assert not errors, f"{body}\n{errors}"
        checked += 1
    assert checked >= 3


def test_the_guides_python_sessions_run_as_doctests() -> None:
    sessions = blocks("pycon")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    parser = doctest.DocTestParser()
    for number, body in enumerate(sessions, 1):
        runner.run(parser.get_doctest(body, {}, f"{GUIDE.name} session {number}", str(GUIDE), 0))

    results = runner.summarize(verbose=False)
    assert len(sessions) >= 3 and results.attempted >= 10
    assert results.failed == 0, "a >>> example of the guide gives other output than it shows (see the report above)"
