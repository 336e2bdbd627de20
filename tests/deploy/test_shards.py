"""Shards in Kubernetes: replicas is the one setting, and pod <name>-<ordinal> runs shard ordinal + 1 of N.

The runner reads SYNTHETIC_SHARD=ordinal/N and the ordinal from SYNTHETIC_POD_INDEX (the pod-index label,
through the downward API) or its host name; these tests give it what the built manifests would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.settings.shard import POD_INDEX_ENV, Shard, parse_shard
from tests.deploy.kustomize import (
    DEPLOY_DIR,
    OVERLAYS,
    RUNNER_BUILDS,
    build,
    build_dir,
    env,
    one,
    overlay_on,
    relative,
    runner,
)

POD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"
SHARD_ENV = "SYNTHETIC_SHARD"


def shard_setting(statefulset: dict[str, object]) -> str:
    value = env(runner(statefulset), SHARD_ENV)["value"]
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_shard_count_is_the_replica_count(path: str) -> None:
    statefulset = one(build(path), "StatefulSet")
    assert shard_setting(statefulset) == f"ordinal/{statefulset['spec']['replicas']}"


def test_locations_have_their_own_shard_counts() -> None:
    # The overlays differ on purpose, so a copy of one count into the other would show.
    counts = {location: one(build(f"overlays/{location}"), "StatefulSet")["spec"]["replicas"] for location in OVERLAYS}
    assert len(set(counts.values())) == len(OVERLAYS), counts


@pytest.mark.parametrize("count", [1, 5, 12])
def test_changing_replicas_in_an_overlay_changes_the_shard_count(tmp_path: Path, count: int) -> None:
    shards = relative(tmp_path, DEPLOY_DIR / "shards")
    folder = overlay_on(
        tmp_path,
        DEPLOY_DIR / "overlays" / "eu-west",
        f"replicas:\n  - name: synthetic-monitor\n    count: {count}\ntransformers:\n  - {shards}\n",
    )
    statefulset = one(build_dir(folder), "StatefulSet")
    assert statefulset["spec"]["replicas"] == count
    assert shard_setting(statefulset) == f"ordinal/{count}"


def test_an_overlay_that_leaves_out_the_shards_transformer_keeps_the_old_count(tmp_path: Path) -> None:
    # Why every kustomization that sets replicas lists ../../shards last (README.md, "Shards"): kustomize
    # runs a base's transformers before the overlay's replicas field, so without it N would lag.
    base = one(build("overlays/eu-west"), "StatefulSet")
    folder = overlay_on(
        tmp_path, DEPLOY_DIR / "overlays" / "eu-west", "replicas:\n  - name: synthetic-monitor\n    count: 7\n"
    )
    statefulset = one(build_dir(folder), "StatefulSet")
    assert statefulset["spec"]["replicas"] == 7
    assert shard_setting(statefulset) == shard_setting(base) != "ordinal/7"


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_the_pod_index_label_reaches_the_runner_through_the_downward_api(path: str) -> None:
    entry = env(runner(one(build(path), "StatefulSet")), POD_INDEX_ENV)
    assert entry["valueFrom"] == {"fieldRef": {"fieldPath": POD_INDEX_FIELD}}


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_each_pod_ordinal_runs_its_own_shard_and_together_they_run_all(path: str) -> None:
    statefulset = one(build(path), "StatefulSet")
    setting = shard_setting(statefulset)
    count = statefulset["spec"]["replicas"]
    name = statefulset["metadata"]["name"]
    by_label = [parse_shard(setting, SHARD_ENV, {POD_INDEX_ENV: str(ordinal)}) for ordinal in range(count)]
    assert by_label == [Shard(ordinal + 1, count) for ordinal in range(count)]
    # Without the label (before Kubernetes 1.28) the variable is empty and the pod's name <name>-<ordinal> says it.
    by_name = [parse_shard(setting, SHARD_ENV, {POD_INDEX_ENV: ""}, f"{name}-{ordinal}") for ordinal in range(count)]
    assert by_name == by_label
    journeys = [f"test_{group}.py::test_journey_{case}" for group in range(10) for case in range(20)]
    for journey in journeys:
        assert sum(shard.owns(journey) for shard in by_label) == 1, journey


@pytest.mark.parametrize("location", OVERLAYS)
def test_a_pod_beyond_the_shard_count_refuses_to_start(location: str) -> None:
    # kubectl scale past N (instead of the replicas setting) leaves a pod with no shard: it must say so.
    statefulset = one(build(f"overlays/{location}"), "StatefulSet")
    count = statefulset["spec"]["replicas"]
    with pytest.raises(ConfigError, match=f"ordinal {count}"):
        parse_shard(shard_setting(statefulset), SHARD_ENV, {POD_INDEX_ENV: str(count)})
