"""`lfr users add|verify` and `lfr serve --help`."""

import json

from typer.testing import CliRunner

from lfr.cli import app


def test_users_add_issues_a_token_that_verifies(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "users",
            "add",
            "PC 101 Khan",
            "--role",
            "officer",
            "--patrol",
            "p-1",
            "--zone",
            "north-end",
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    issued = json.loads(r.stdout)
    assert issued["role"] == "officer" and issued["token"].count(".") == 2
    r = runner.invoke(app, ["users", "verify", issued["token"], "--data-dir", str(tmp_path)])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {
        "name": "PC 101 Khan",
        "role": "officer",
        "patrol": "p-1",
        "zone": "north-end",
    }
    r = runner.invoke(app, ["users", "verify", issued["token"] + "x", "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "invalid bearer token" in r.output


def test_users_add_refuses_an_unknown_role(tmp_path):
    r = CliRunner().invoke(
        app, ["users", "add", "x", "--role", "admin", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 1 and "officer, supervisor" in r.output


def test_ops_mosquitto_names_what_is_wrong(tmp_path):
    (tmp_path / "site.toml").write_text(
        'name = "town"\n[[zones]]\nname = "north-end"\n[[patrols]]\nid = "p-1"\n'
    )
    r = CliRunner().invoke(
        app,
        [
            "ops",
            "mosquitto",
            "--site",
            str(tmp_path / "site.toml"),
            "--out",
            str(tmp_path / "o"),
            "--patrol-zone",
            "p-1=nowhere",
        ],
    )
    assert r.exit_code == 1 and "PATROL=ZONE" in r.output
    r = CliRunner().invoke(app, ["ops", "mosquitto", "--site", str(tmp_path / "none.toml")])
    assert r.exit_code == 1 and "no such site config" in r.output


def test_serve_help_lists_the_broker_options():
    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--mqtt-host" in r.output and "--broker-port" in r.output
