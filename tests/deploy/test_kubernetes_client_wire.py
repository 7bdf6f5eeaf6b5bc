"""The adapter through the official client over HTTP, against a loopback stand-in for the API
server (tests/deploy/fake_apiserver.py): what the client really sends, and how the adapter
reads what comes back. No real API server is available here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from gateway.rollout.kubernetes import ConfigMapStore, LeaseLock
from gateway.rollout.store import StoreConflict
from tests.deploy.fake_apiserver import State, fake_apiserver

NS = "gateway"


@pytest.fixture
def state() -> State:
    state = State()
    routes = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"routes.yaml": "default: legacy\n"},
              "metadata": {"name": "gateway-routes", "namespace": NS}}  # fmt: skip
    state.objects[("ConfigMap", NS, "gateway-routes")] = state.stamp(routes)
    return state


@pytest.fixture
def api(state: State) -> Iterator[client.ApiClient]:
    with fake_apiserver(state) as url:
        api_client = client.ApiClient(client.Configuration(host=url))
        try:
            yield api_client
        finally:
            api_client.close()  # type: ignore[no-untyped-call]


def test_the_store_patches_the_key_with_the_version_it_read(
    state: State, api: client.ApiClient
) -> None:
    store = ConfigMapStore(client.CoreV1Api(api), NS, "gateway-routes", "routes.yaml")
    snapshot = store.read()
    written = store.write("default: new\n", snapshot)
    assert written.text == "default: new\n" and written.version != snapshot.version
    patch = state.requests[-1]
    assert patch.method == "PATCH"
    # An object, sent as a merge patch (JSON Patch would need a list of operations).
    assert patch.content_type in (
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
    )
    assert patch.body == {
        "metadata": {"resourceVersion": snapshot.version},
        "data": {"routes.yaml": "default: new\n"},
    }
    with pytest.raises(StoreConflict):
        store.write("default: legacy\n", snapshot)  # stale: 409 from the server
    assert store.read() == written


def test_the_lease_goes_over_the_wire_in_the_apis_shape(
    state: State, api: client.ApiClient
) -> None:
    coordination = client.CoordinationV1Api(api)
    clock = iter(range(0, 1000, 20))
    leader = LeaseLock(coordination, NS, "gateway-rollout", holder="pod-a:1")
    other = LeaseLock(coordination, NS, "gateway-rollout", holder="pod-b:1",
                      clock=lambda: float(next(clock)))  # fmt: skip
    assert leader.acquire()
    created = state.objects[("Lease", NS, "gateway-rollout")]
    assert created["spec"]["holderIdentity"] == "pod-a:1"
    assert created["spec"]["leaseDurationSeconds"] == 15
    # MicroTime: RFC 3339 with a time zone, as the API server requires.
    assert created["spec"]["renewTime"].endswith(("Z", "+00:00"))
    assert leader.acquire()  # renewed with PUT and the version read
    assert [r.method for r in state.requests[-2:]] == ["GET", "PUT"]
    assert not other.acquire()  # first sight
    assert other.acquire()  # 20 s later on its clock, nobody renewed: taken over
    spec = state.objects[("Lease", NS, "gateway-rollout")]["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("pod-b:1", 1)
    assert not leader.acquire()
    other.release()
    assert "holderIdentity" not in state.objects[("Lease", NS, "gateway-rollout")]["spec"]
    assert leader.acquire()
