"""`[[nodes]]` places every camera, zone and patrol on exactly one node; `lfr run --node`
refuses a node the config lacks; the example multi-node config validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from lfr.cli import app
from lfr.errors import ConfigError
from lfr.site import SiteConfig, load_site_config

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = {
    "zones": [{"name": "z"}],
    "cameras": [{"id": "c-1", "zone": "z", "source": "scripted:a"}],
    "patrols": [{"id": "p-1"}],
}


def test_every_actor_is_placed_once() -> None:
    ok = SiteConfig.model_validate(
        BASE
        | {
            "nodes": [
                {"name": "e", "cameras": ["c-1"]},
                {"name": "k", "zones": ["z"], "patrols": ["p-1"]},
            ]
        }
    )
    assert ok.node("e").actors() == {"camera:c-1"}
    with pytest.raises(ConfigError, match="no node 'x'"):
        ok.node("x")
    for nodes, why in [
        ([{"name": "e", "cameras": ["c-1"]}], "not placed"),
        (
            [
                {"name": "e", "cameras": ["c-1"], "zones": ["z"], "patrols": ["p-1"]},
                {"name": "k", "zones": ["z"]},
            ],
            "on nodes",
        ),
        ([{"name": "e", "cameras": ["c-9"], "zones": ["z"], "patrols": ["p-1"]}], "lacks"),
    ]:
        with pytest.raises(ValidationError, match=why):
            SiteConfig.model_validate(BASE | {"nodes": nodes})
    assert SiteConfig.model_validate(BASE).nodes == ()  # one process, as before


@pytest.mark.blocking_ok("the CLI reads the config file")
def test_lfr_run_checks_the_node_name() -> None:
    config = ROOT / "ops" / "nodes" / "site.nodes.toml"
    assert {n.name for n in load_site_config(config).nodes} == {"edge-north", "edge-london", "core"}
    runner = CliRunner()
    ok = runner.invoke(app, ["run", "--config", str(config), "--node", "core", "--check"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["run", "--config", str(config), "--node", "nope", "--check"])
    assert bad.exit_code != 0 and "no node 'nope'" in bad.output
