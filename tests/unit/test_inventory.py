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


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["local", "staging", "production"])
def test_shipped_environments_load_exactly_the_inventory_they_declare(name: str) -> None:
    raw = yaml.safe_load((REPO / "environments" / f"{name}.yaml").read_text(encoding="utf-8"))
    declared = raw.get("inventory") or []
    nodes = load_environment(name).inventory
    # none ships one today (nodes are site-specific): the day one does, every entry must load, in order
    assert [n.host for n in nodes] == [e.get("host") for e in declared]
    assert len(nodes) == len(declared)


def test_the_readme_inventory_example_loads_as_documented(tmp_path: Path) -> None:
    """The inventory a user copies from the README: every key as documented, defaults where it says so."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\ninventory:", 1)[1].split("```", 1)[0]
    entries = yaml.safe_load("inventory:" + block)["inventory"]
    ssh, pods = load_environment("demo", _env_dir(tmp_path, entries)).inventory
    assert (ssh.host, ssh.port, ssh.user, ssh.roles, ssh.backend) == (
        "node1.example.internal", 22, "ops", ("control-plane",), "paramiko")
    assert ssh.key_file == Path("~/.ssh/prjdevops_ed25519").expanduser()
    assert ssh.services == ("kubelet", "containerd") and ssh.ports == (6443, 10250) and ssh.timeout == 10
    assert ssh.name == "node1.example.internal"
    assert pods.host is None and pods.pods is not None
    assert (pods.pods.namespace, pods.pods.selector, pods.pods.container) == ("kube-system", "app=node-agent", "agent")
    assert pods.name == "pods kube-system/app=node-agent"
