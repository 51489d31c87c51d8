"""Inventory entries (nodes for the verify suite and `invoke nodes.*`): typed values, every problem reported."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.environments import load_environment
from prjdevops.errors import ConfigError

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "inventory.yaml").read_text(encoding="utf-8"))


def _env_dir(tmp_path: Path, entries: list[Any]) -> Path:
    chart = tmp_path / "charts" / "app"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n", encoding="utf-8")
    doc = {"name": "demo", "cluster": {"context": "demo"},
           "releases": [{"name": "app", "chart": "charts/app", "namespace": "app"}], "inventory": entries}
    env_dir = tmp_path / "environments"
    env_dir.mkdir()
    (env_dir / "demo.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return env_dir


@pytest.mark.parametrize("case", CASES["good"], ids=[c["id"] for c in CASES["good"]])
def test_inventory_entry_loads(tmp_path: Path, case: dict[str, Any]) -> None:
    [node] = load_environment("demo", _env_dir(tmp_path, [case["entry"]])).inventory
    for key, want in case["expect"].items():
        got = getattr(node, key)
        if key in ("key_file", "known_hosts"):
            assert got == tmp_path / want, key
        elif key == "pods":
            assert asdict(got) == want
        elif isinstance(got, tuple):
            assert list(got) == want, key
        else:
            assert got == want, key


@pytest.mark.parametrize("case", CASES["bad"], ids=[c["id"] for c in CASES["bad"]])
def test_bad_inventory_entry_is_reported(tmp_path: Path, case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        load_environment("demo", _env_dir(tmp_path, [case["entry"]]))
    text = str(info.value)
    for key, reason in case["problems"]:
        assert any(f"demo.yaml: {key}: " in line and reason in line for line in text.splitlines()), (key, text)


def test_every_bad_entry_is_reported_in_one_run(tmp_path: Path) -> None:
    entries = [c["entry"] for c in CASES["bad"]]
    with pytest.raises(ConfigError) as info:
        load_environment("demo", _env_dir(tmp_path, entries))
    for i in range(len(entries)):
        assert f"inventory[{i}]" in str(info.value)


def test_a_node_listed_twice_is_reported(tmp_path: Path) -> None:
    entries = [{"host": "n1"}, {"host": "n1", "port": 22, "user": "other"}, {"host": "n1", "port": 2222}]
    with pytest.raises(ConfigError, match="inventory: node n1 is listed twice"):
        load_environment("demo", _env_dir(tmp_path, entries))


def test_shipped_environments_have_no_inventory_problems() -> None:
    for name in ("local", "staging", "production"):
        assert isinstance(load_environment(name).inventory, tuple)
