"""The committed SDL is the front ends' contract: it must match what the first-party plugins compose."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import FIRST_PARTY_PLUGINS, app
from gateway.core import build_host
from gateway.graphql.schema import build_schema
from gateway.settings import Settings

COMMITTED = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def composed_sdl() -> str:
    settings = Settings(plugins=FIRST_PARTY_PLUGINS, _env_file=None)  # type: ignore[call-arg]
    return build_schema(build_host(settings).registry, settings).as_str() + "\n"


def test_committed_schema_matches_the_composed_schema() -> None:
    assert COMMITTED.read_text() == composed_sdl(), "schema/schema.graphql drifted: run `make schema` and commit it"


def test_schema_export_writes_the_composed_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = CliRunner().invoke(app, ["schema", "export", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == composed_sdl()


def test_the_schema_offers_one_record_mutation_per_first_party_activity() -> None:
    sdl = composed_sdl()
    for field in ("recordRetailPurchase(", "recordDiningBill(", "recordPropertyFeePayment("):
        assert field in sdl
