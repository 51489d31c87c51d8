"""The peers' build cache (helm, helmfile, helm-diff for the interop tests and bench/peers.py); no Go build."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane import build, peers


def test_peers_cache_sits_beside_the_control_planes_and_does_not_move_its_key(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    monkeypatch.delenv("PRJDEVOPS_PEERS_DIR", raising=False)
    monkeypatch.delenv("PRJDEVOPS_KUBE_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = peers.peers_dir()
    assert folder.parent == tmp_path / "prjdevops" / "peers"
    assert peers.HELM_VERSION in folder.name and peers.HELMFILE_VERSION in folder.name
    assert peers.bin_dir() == folder / "bin" and peers.plugins_dir() == folder / "plugins"
    # the peers' go.mod files live outside controlplane/go: the control plane's key is only its own
    assert not peers.PEERS_GO_DIR.is_relative_to(build.GO_DIR)
    assert build.go_mod_digest(build.GO_DIR) in build.binary_dir().name


def test_helm_is_pinned_to_the_version_the_sdk_bundles() -> None:
    import helm_python

    assert helm_python.helm_sdk_version() == peers.HELM_VERSION
    gomod = (peers.PEERS_GO_DIR / "helm" / "go.mod").read_text()
    assert f"helm.sh/helm/v4 {peers.HELM_VERSION}" in gomod


def test_env_points_helm_at_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRJDEVOPS_PEERS_DIR", str(tmp_path))
    env = peers.peer_env({"PATH": "/usr/bin"})
    assert env["PATH"] == f"{tmp_path / 'bin'}:/usr/bin"
    assert env["HELM_PLUGINS"] == str(tmp_path / "plugins")
    assert peers.binary("helm") is None and not peers.helm_diff_installed()


def test_a_given_peers_folder_is_never_built_into(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PRJDEVOPS_PEERS_DIR", str(tmp_path))
    assert peers.main(["helmfile"]) == 1
    assert "nothing is built there" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unknown_peer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert peers.main(["kubectl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown peer kubectl" in err
