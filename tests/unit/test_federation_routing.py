"""Issue 23 part 1: who serves whom. The routing table from the shipped geography (NHS England
regions of ICBs, a council by the ICB covering most of it), overridable by a site's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.federation import messages
from register.errors import InvalidData
from register.refdata.regions import routing_table


def test_the_default_table_serves_each_body_by_its_nhs_england_region() -> None:
    table = routing_table()
    assert set(table.regions) == {"Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63"}
    assert table.region_of("QGH") == "Y60"  # Herefordshire and Worcestershire ICB
    assert table.region_of("E06000019") == "Y60"  # Herefordshire, through QGH
    assert table.region_of("E09000033") == "Y56"  # Westminster
    assert table.region_of("QOX") == "Y58"
    las, icbs = table.served("Y56")
    assert len(las) == 33 and set(icbs) == {"QKK", "QMF", "QMJ", "QRV", "QWE"}


def test_peers_are_the_other_registers_serving_any_named_body() -> None:
    table = routing_table()
    # A London trust's patient from Herefordshire: the Midlands register keeps a replica.
    assert table.peers_for("Y56", ["E06000019", "QGH", "E06000019"]) == ["Y60"]
    assert table.peers_for("Y60", ["E06000019", "QGH", None]) == []
    assert table.peers_for("Y60", ["E09000033", "QGH", "E06000019"]) == ["Y56"]
    assert table.peers_for("Y56", ["E09999999"]) == [], "an unknown code is served by no one"


def test_a_site_file_overrides_codes_and_a_wrong_row_is_named(tmp_path: Path) -> None:
    routes = tmp_path / "routes.csv"
    routes.write_text("code,region\n# Herefordshire joins London's register\n"
                      "E06000019,Y56\n")
    table = routing_table(str(routes))
    assert table.region_of("E06000019") == "Y56" and table.region_of("QGH") == "Y60"
    assert table.overridden == {"E06000019"}
    routes.write_text("code,region\nE06000019,Y99\n")
    with pytest.raises(InvalidData, match="Y99 is not an NHS England region"):
        routing_table(str(routes))
    routes.write_text("E06000019\n")
    with pytest.raises(InvalidData, match="routes.csv line 1: expected 'code,region'"):
        routing_table(str(routes))
    with pytest.raises(InvalidData, match="no file"):
        routing_table(str(tmp_path / "missing.csv"))


def test_a_malformed_replica_body_is_refused_naming_it() -> None:
    for body in (b"not json", b"{}", b'{"entry": []}'):
        with pytest.raises(InvalidData, match="not a replica notification Bundle"):
            messages.read_replica("Y56", 1, body)
    with pytest.raises(InvalidData, match="not a forwarded command"):
        messages.read_command(b'{"kind": "NoSuchCommand", "command": {}}')


def test_s117_federation_peers_shows_the_table_and_refuses_an_unknown_region(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from adapter.cli import app

    monkeypatch.setenv("S117_REGION", "Y60")
    shown = CliRunner().invoke(app, ["federation", "peers"])
    assert shown.exit_code == 0, shown.output
    [midlands] = [line for line in shown.output.splitlines() if "Y60" in line]
    assert "Midlands" in midlands and "yes" in midlands and "QGH" in midlands
    monkeypatch.setenv("S117_REGION", "Y99")
    refused = CliRunner().invoke(app, ["federation", "status"])
    assert refused.exit_code == 2
    assert "S117_REGION Y99 is not an NHS England region" in refused.output


def test_the_peers_a_register_exchanges_with_are_checked_against_the_table() -> None:
    from adapter.config import from_env
    from adapter.federation import peers

    table = routing_table()
    every = from_env({"S117_REGION": "Y60"})
    assert peers(every, table, "Y60") == set(table.regions) - {"Y60"}
    some = from_env({"S117_REGION": "Y60", "S117_FEDERATION_PEERS": " Y56, Y61 "})
    assert peers(some, table, "Y60") == {"Y56", "Y61"}
    for wrong in ("Y60", "Y56,X99"):
        with pytest.raises(InvalidData, match="S117_FEDERATION_PEERS") as refused:
            peers(from_env({"S117_REGION": "Y60", "S117_FEDERATION_PEERS": wrong}), table,
                  "Y60")
        assert wrong[-3:] in str(refused.value)


def test_a_quarantined_federation_message_keeps_its_headers_and_no_more() -> None:
    """What `s117 quarantine replay` puts back: origin, kind and event number, from a routing
    key that shows only letters, digits and hyphens of what the sender wrote."""
    from queues.federation import replay

    key = replay.routing_key("Y61", "replica", 42)
    assert key == "federation.Y61.replica.42"
    assert replay.headers_of(key) == {"origin": "Y61", "kind": "replica", "event-number": 42}
    hostile = replay.routing_key("Y6.1\n; drop", "re.pli*ca", "7")
    assert hostile == "federation.Y61drop.replica.-"
    assert replay.headers_of(hostile) == {"origin": "Y61drop", "kind": "replica"}
    assert replay.routing_key("", "", None) == "federation.unknown.-.-"
