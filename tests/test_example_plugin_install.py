"""The example plugin, examples/atrium-cinema, installs with pip into a fresh virtualenv and works there.

This is a business unit's path: a new environment, ``pip install`` of the gateway and of its own
plugin, nothing edited in the gateway. The fresh environment gets no network and no index: it is
created without pip, and a ``.pth`` file points it at a directory of links to this environment's
installed packages (pip, setuptools, strawberry ... but none of the atrium distributions), so
both projects build offline with ``--no-build-isolation`` and only they are installed. Sources are
copied first: pip builds in the source tree, which must stay clean and may be shared with another
run. Takes about 15 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
import textwrap
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import build_schema as build_sdl_schema

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "atrium-cinema"
COMMITTED_SDL = REPO / "schema" / "schema.graphql"

COPY_IGNORES = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "build", "dist", "*.egg-info")


@dataclass(frozen=True)
class FreshEnv:
    """A virtualenv holding only the gateway and the cinema plugin (plus links to their dependencies)."""

    root: Path
    python: Path
    bin: Path
    example: Path

    def run(self, *args: str | Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command of the fresh environment in an empty directory, with no ATRIUM_, PIP_ or PYTEST_ variables."""
        workdir = cwd or self.root / "work"
        workdir.mkdir(exist_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ATRIUM_", "PIP_", "PYTEST_", "PYTHON"))}
        env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run(
            [str(arg) for arg in args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )


def _installed_dependencies(into: Path) -> Path:
    """Links to every package of this environment except the atrium distributions and .pth hooks."""
    into.mkdir()
    sites = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    for site in sites:
        for entry in site.iterdir():
            name = entry.name
            if name.startswith(("atrium_", "__editable__", "gateway")) or name.endswith((".pth", ".egg-link")):
                continue
            if not (into / name).exists():
                (into / name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> FreshEnv:
    """pip-install the gateway and the example plugin, offline, into a new virtualenv."""
    root = tmp_path_factory.mktemp("fresh-env")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    env = FreshEnv(root=root, python=bin_dir / "python", bin=bin_dir, example=root / "src" / "atrium-cinema")
    site = env.run(env.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(site) / "atrium_test_dependencies.pth").write_text(f"{_installed_dependencies(root / 'dependencies')}\n")

    gateway_source = root / "src" / "atrium-gateway"
    gateway_source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, gateway_source / name)
    shutil.copytree(REPO / "gateway", gateway_source / "gateway", ignore=COPY_IGNORES)
    shutil.copytree(EXAMPLE, env.example, ignore=COPY_IGNORES)

    installed = env.run(
        env.python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation", "--no-cache-dir",
        "--quiet", gateway_source, env.example,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env


def test_only_the_gateway_and_the_example_are_installed_in_the_fresh_environment(fresh_env: FreshEnv) -> None:
    listed = fresh_env.run(
        fresh_env.python, "-c",
        "from importlib.metadata import distributions\n"
        "print(sorted(d.metadata['Name'] for d in distributions() if d.metadata['Name'].startswith('atrium')))",
    )

    assert listed.stdout.strip() == "['atrium-cinema', 'atrium-gateway']", listed.stderr


def test_the_exported_schema_of_the_fresh_environment_has_the_cinema_mutation(fresh_env: FreshEnv) -> None:
    output = fresh_env.root / "schema.graphql"

    exported = fresh_env.run(fresh_env.bin / "atrium", "schema", "export", "--installed", "--output", output)

    assert exported.returncode == 0, exported.stderr
    schema = build_sdl_schema(output.read_text(encoding="utf-8"))
    mutations = schema.mutation_type.fields if schema.mutation_type else {}
    record = mutations["recordCinemaTicket"]
    assert {name: str(arg.type) for name, arg in record.args.items()} == {
        "member": "MemberRefInput!", "idempotencyKey": "String!", "input": "CinemaTicketInput!", "paidWith": "PaidWithInput",
    }
    assert str(record.type) == "RecordActivityPayload!"
    assert "CinemaGroupBookingDetails" in schema.type_map
    assert not [name for name in mutations if name.startswith("recordRetail")], "only the installed plugins make the schema"


def test_the_committed_first_party_schema_has_no_example_types() -> None:
    sdl = COMMITTED_SDL.read_text(encoding="utf-8")

    assert not re.search("cinema", sdl, re.IGNORECASE), "schema/schema.graphql must come from the first-party plugins only"


EARN_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    from gateway.testing import migrate_sqlite, open_gateway

    SALE = '''
    mutation Sale($member: MemberRefInput!, $input: CinemaTicketInput!) {
      recordCinemaTicket(member: $member, idempotencyKey: "IMAX-1-000001", input: $input) {
        posting { points growth format } member { pointsBalance } errors { code field message }
      }
    }'''

    async def main() -> None:
        url = migrate_sqlite(Path(sys.argv[1]))
        async with open_gateway(database_url=url) as gateway:  # every installed plugin
            member = await gateway.members()
            payload = await gateway.service("cinema").mutate(SALE, {
                "member": member.ref,
                "input": {"cinemaCode": "IMAX-1", "seats": 2, "tickets": {"amount": "90.50", "currency": "CNY"},
                          "concessions": {"amount": "35.50", "currency": "CNY"}},
            })
            plugins = await gateway.admin.data("{ plugins { name distribution version } formats { code } }")
        print(json.dumps({"payload": payload, **plugins}))

    asyncio.run(main())
    """
)


def test_a_ticket_earns_its_points_through_the_installed_plugin(fresh_env: FreshEnv) -> None:
    ran = fresh_env.run(fresh_env.python, "-c", EARN_SCRIPT, fresh_env.root / "earn.db")

    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["plugins"] == [{"name": "cinema", "distribution": "atrium-cinema", "version": "0.1.0"}]
    assert result["formats"] == [{"code": "cinema"}]
    # CN¥90.50 of tickets at 2 pts per CN¥1 = 181, CN¥35.50 of concessions at 1 pt per CN¥2 = 17.
    assert result["payload"] == {
        "posting": {"points": 181 + 17, "growth": 90, "format": "cinema"},
        "member": {"pointsBalance": 198},
        "errors": [],
    }


def test_the_example_plugins_own_tests_pass_in_the_fresh_environment(fresh_env: FreshEnv) -> None:
    ran = fresh_env.run(
        fresh_env.python, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "--rootdir", fresh_env.example, "-c", fresh_env.example / "pyproject.toml", fresh_env.example / "tests",
    )

    summary = ran.stdout.strip().splitlines()[-1] if ran.stdout.strip() else ""
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(.*\))?", summary), summary


def test_the_guides_script_outside_pytest_runs_in_the_fresh_environment(fresh_env: FreshEnv) -> None:
    guide = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = guide[guide.index("### Outside pytest") :]
    script = section[section.index("```python\n") + len("```python\n") : section.index("\n```", section.index("```python\n"))]

    ran = fresh_env.run(fresh_env.python, "-c", script)

    assert ran.returncode == 0, ran.stderr
    assert "'name': 'cinema'" in ran.stdout and "{'me': {'pointsBalance': 5000}}" in ran.stdout, ran.stdout
