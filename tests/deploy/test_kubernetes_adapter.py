"""The rollout controller's ConfigMap store and Lease lock, against an in-memory fake API.

No Kubernetes API server is available here: tests/deploy/fake_kubernetes.py stands in for the
two API objects, keeping the rules the adapter depends on (resourceVersion preconditions, 409
and 404). What the real server does beyond them is not tested.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from gateway.rollout.kubernetes import (
    ConfigMapKeyMissing,
    ConfigMapStore,
    LeaseLock,
    configmap_store,
    lease_lock,
)
from gateway.rollout.lock import LeaderLock
from gateway.rollout.store import RoutesStore, StoreConflict
from tests.deploy.fake_kubernetes import FakeCluster

NS, CM, KEY, LEASE = "gateway", "gateway-routes", "routes.yaml", "gateway-rollout"
TABLE = "default: legacy\nroutes: []\n"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    fake = FakeCluster()
    fake.add_config_map(NS, CM, {KEY: TABLE, "other": "kept"})
    yield fake
    fake.close()


@pytest.fixture
def store(cluster: FakeCluster) -> ConfigMapStore:
    return ConfigMapStore(cluster, NS, CM, KEY)


class Clock:
    """This process's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def lock(cluster: FakeCluster, holder: str, clock: Clock, duration: int = 15) -> LeaseLock:
    return LeaseLock(cluster, NS, LEASE, holder=holder, duration_seconds=duration, clock=clock)


def test_both_implement_the_controllers_protocols(
    store: ConfigMapStore, cluster: FakeCluster
) -> None:
    routes_store: RoutesStore = store
    leader: LeaderLock = lock(cluster, "a", Clock())
    assert routes_store.source == "configmap gateway/gateway-routes key routes.yaml"
    assert leader.holder == "a"


# --- ConfigMapStore ---------------------------------------------------------------------------


def test_read_gives_the_keys_text_and_the_resource_version(
    store: ConfigMapStore, cluster: FakeCluster
) -> None:
    snapshot = store.read()
    assert snapshot.text == TABLE
    assert snapshot.version == cluster.config_maps[(NS, CM)].metadata.resource_version


def test_write_replaces_the_key_alone_and_returns_the_new_version(
    store: ConfigMapStore, cluster: FakeCluster
) -> None:
    before = store.read()
    after = store.write("default: new\n", before)
    assert after.text == "default: new\n" and after.version != before.version
    assert store.read() == after
    assert cluster.config_maps[(NS, CM)].data["other"] == "kept"


def test_a_change_between_read_and_write_is_a_conflict_and_is_kept(
    store: ConfigMapStore, cluster: FakeCluster
) -> None:
    stale = store.read()
    person = ConfigMapStore(cluster, NS, CM, KEY)
    person.write("# a hand edit\n" + TABLE, person.read())
    with pytest.raises(StoreConflict, match="gateway-routes key routes.yaml changed"):
        store.write("default: new\n", stale)
    assert store.read().text.startswith("# a hand edit")


def test_a_missing_key_is_named(cluster: FakeCluster) -> None:
    with pytest.raises(ConfigMapKeyMissing, match=r"key routes\.yml: no such key.*'routes.yaml'"):
        ConfigMapStore(cluster, NS, CM, "routes.yml").read()


def test_other_api_errors_are_not_conflicts(store: ConfigMapStore, cluster: FakeCluster) -> None:
    snapshot = store.read()
    del cluster.config_maps[(NS, CM)]
    with pytest.raises(ApiException) as raised:
        store.write("x", snapshot)
    assert raised.value.status == 404


# --- LeaseLock --------------------------------------------------------------------------------


def test_the_first_controller_creates_the_lease_and_renews_it(cluster: FakeCluster) -> None:
    clock = Clock()
    leader = lock(cluster, "pod-a:1", clock)
    assert leader.acquire()
    lease = cluster.leases[(NS, LEASE)]
    assert (lease.spec.holder_identity, lease.spec.lease_duration_seconds) == ("pod-a:1", 15)
    assert lease.spec.lease_transitions == 0
    first_renewal = lease.spec.renew_time
    assert leader.acquire()
    renewed = cluster.leases[(NS, LEASE)].spec
    assert renewed.renew_time >= first_renewal and renewed.lease_transitions == 0
    assert renewed.acquire_time == lease.spec.acquire_time


def test_a_second_controller_waits_while_the_leader_renews(cluster: FakeCluster) -> None:
    clock = Clock()
    leader, other = lock(cluster, "a", clock), lock(cluster, "b", clock)
    assert leader.acquire()
    for _ in range(5):
        clock.value += 10  # longer in all than the lease, but renewed at every step
        assert not other.acquire()
        assert leader.acquire()
    assert cluster.leases[(NS, LEASE)].spec.holder_identity == "a"


def test_an_unrenewed_lease_is_taken_over_after_its_duration_seen_from_here(
    cluster: FakeCluster,
) -> None:
    clock = Clock()
    leader, other = lock(cluster, "a", clock), lock(cluster, "b", clock)
    assert leader.acquire()
    assert not other.acquire()  # first sight of the record: the wait starts now
    clock.value += 14
    assert not other.acquire()
    clock.value += 1
    assert other.acquire()
    spec = cluster.leases[(NS, LEASE)].spec
    assert (spec.holder_identity, spec.lease_transitions) == ("b", 1)
    assert not leader.acquire()  # the old leader, back, checks before it writes: not its own


def test_a_lease_renewed_long_ago_by_another_clock_is_not_taken_at_once(
    cluster: FakeCluster,
) -> None:
    # The holder's node clock may be far behind this one: renewTime alone proves nothing.
    old = lambda: datetime.now(UTC) - timedelta(hours=1)  # noqa: E731
    skewed = LeaseLock(cluster, NS, LEASE, holder="a", duration_seconds=15, now=old)
    assert skewed.acquire()
    clock = Clock()
    other = lock(cluster, "b", clock)
    assert not other.acquire()
    clock.value += 15
    assert other.acquire()


def test_release_lets_the_next_controller_in_at_once(cluster: FakeCluster) -> None:
    clock = Clock()
    leader, other = lock(cluster, "a", clock), lock(cluster, "b", clock)
    assert leader.acquire()
    other.release()  # not the holder: changes nothing
    assert cluster.leases[(NS, LEASE)].spec.holder_identity == "a"
    leader.release()
    assert cluster.leases[(NS, LEASE)].spec.holder_identity is None
    assert other.acquire()


def test_release_without_a_lease_is_quiet(cluster: FakeCluster) -> None:
    lock(cluster, "a", Clock()).release()
    assert (NS, LEASE) not in cluster.leases


def test_two_controllers_racing_for_an_expired_lease_one_wins(cluster: FakeCluster) -> None:
    clock = Clock()
    dead, b, c = lock(cluster, "dead", clock), lock(cluster, "b", clock), lock(cluster, "c", clock)
    assert dead.acquire()
    assert not b.acquire() and not c.acquire()
    clock.value += 15
    results: dict[str, bool] = {}
    # c reads the expired lease, then b takes it before c's write lands.
    cluster.before_write = lambda: results.setdefault("b", b.acquire())
    results["c"] = c.acquire()
    assert results == {"b": True, "c": False}
    assert cluster.leases[(NS, LEASE)].spec.holder_identity == "b"


def test_two_controllers_creating_the_lease_one_wins(cluster: FakeCluster) -> None:
    clock = Clock()
    a, b = lock(cluster, "a", clock), lock(cluster, "b", clock)
    results: dict[str, bool] = {}
    cluster.before_write = lambda: results.setdefault("b", b.acquire())
    results["a"] = a.acquire()
    assert results == {"b": True, "a": False}


def test_api_errors_other_than_conflict_and_absence_are_raised(cluster: FakeCluster) -> None:
    leader = lock(cluster, "a", Clock())
    assert leader.acquire()

    def broken() -> None:
        raise ApiException(status=500, reason="etcd is down")

    for call in (leader.acquire, leader.release):
        cluster.before_write = broken
        with pytest.raises(ApiException, match="etcd is down"):
            call()


def test_a_read_error_is_raised(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(name: str, namespace: str) -> None:
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(cluster, "read_namespaced_lease", forbidden)
    with pytest.raises(ApiException, match="Forbidden"):
        lock(cluster, "a", Clock()).acquire()
    empty = FakeCluster()
    try:
        empty.before_write = lambda: (_ for _ in ()).throw(ApiException(status=500))
        with pytest.raises(ApiException):
            lock(empty, "a", Clock()).acquire()
    finally:
        empty.close()


# --- building them from names -----------------------------------------------------------------

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: gateway}}]
current-context: x
"""


def test_built_from_names_off_the_cluster_with_the_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").write_text(KUBECONFIG, encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    store = configmap_store("gateway/gateway-routes/routes.yaml")
    assert (store.namespace, store.name, store.key) == (NS, CM, KEY)
    leader = lease_lock("gateway/gateway-rollout", holder="me")
    assert (leader.namespace, leader.name, leader.holder) == (NS, LEASE, "me")
    assert ":" in lease_lock("gateway/gateway-rollout").holder  # pod name and pid


@pytest.mark.parametrize("spec", ["gateway-routes/routes.yaml", "a/b/c/d", "a//c"])
def test_a_malformed_configmap_name_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="should be NAMESPACE/CONFIGMAP/KEY"):
        configmap_store(spec)


def test_a_malformed_lease_name_is_refused() -> None:
    with pytest.raises(ValueError, match="should be NAMESPACE/LEASE"):
        lease_lock("gateway-rollout")


def test_the_client_is_imported_only_when_a_store_or_lock_is_used() -> None:
    # The `kubernetes` extra is optional: importing the module must not need it.
    code = (
        "import sys, gateway.rollout.kubernetes, gateway.app, gateway.cli\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'kubernetes'], 'imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
