"""The loopback chart repository: real Helm packages, indexes and pulls (HTTP and OCI), cached by version."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from prjdevops.adapters.helm import pull_chart
from prjdevops.chartrepo import ChartRepository, answers, serve_standins
from prjdevops.errors import ChartSourceError, ConfigError

pytestmark = pytest.mark.integration



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_index_lists_every_standin_with_its_pinned_version(repo: ChartRepository) -> None:
    index = yaml.safe_load((repo.directory / "index.yaml").read_text())
    versions = {name: [e["version"] for e in entries] for name, entries in index["entries"].items()}
    assert versions == {"argo-cd": ["7.7.11"], "cert-manager": ["v1.16.2"], "harbor": ["24.1.2"],
                        "jenkins": ["5.7.21"], "metallb": ["0.14.9"]}


def test_http_pull_is_cached_by_version(repo: ChartRepository, tmp_path: Path) -> None:
    first, pulled = pull_chart("metallb", repo=repo.url, version="0.14.9", cache_dir=tmp_path)
    assert pulled and first.name == "metallb-0.14.9.tgz" and first.stat().st_size > 0
    asked = len(repo.requests)
    again, pulled_again = pull_chart("metallb", repo=repo.url, version="0.14.9", cache_dir=tmp_path)
    assert (again, pulled_again) == (first, False)
    assert len(repo.requests) == asked  # the cache answered: no index, no archive download


def test_oci_pull_from_the_same_server(repo: ChartRepository, tmp_path: Path) -> None:
    registry = repo.url.replace("http://", "oci://") + "/bitnamicharts"
    archive, pulled = pull_chart("harbor", repo=registry, version="24.1.2", cache_dir=tmp_path)
    assert pulled and archive.name == "harbor-24.1.2.tgz"
    assert any(r.startswith("/v2/bitnamicharts/harbor/manifests/24.1.2") for r in repo.requests)
    with pytest.raises(ChartSourceError) as err:
        pull_chart("harbor", repo=registry, version="1.0.0", cache_dir=tmp_path, release="registry")
    assert f"release 'registry': cannot pull chart 'harbor' version 1.0.0 from {registry}" in str(err.value)


def test_unknown_version_names_url_and_release(repo: ChartRepository, tmp_path: Path) -> None:
    with pytest.raises(ChartSourceError) as err:
        pull_chart("jenkins", repo=repo.url, version="9.9.9", cache_dir=tmp_path, release="ci")
    assert f"release 'ci': cannot pull chart 'jenkins' version 9.9.9 from {repo.url}" in str(err.value)
    assert "check the chart name and pinned version" in str(err.value)
    assert not list(tmp_path.rglob("*.tgz"))  # nothing half-written in the cache


def test_only_loopback_and_only_chart_files(repo: ChartRepository, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ChartRepository(tmp_path, host="0.0.0.0")
    with pytest.raises(ConfigError):
        serve_standins("http://10.0.0.1:8879", tmp_path)
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(repo.url + "/")  # no directory listing
    assert err.value.code == 404


def test_serve_standins_starts_once_and_reuses_a_running_repository(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert not answers(url)
    started = serve_standins(url, tmp_path / "a")
    assert started is not None
    try:
        assert answers(url)
        assert serve_standins(url, tmp_path / "b") is None  # already served: used as is
        assert not (tmp_path / "b").exists()
    finally:
        started.stop()
    assert not answers(url)
