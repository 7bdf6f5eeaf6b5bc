"""The rollout controller's store and lock in Kubernetes: a ConfigMap and a Lease.

The only module that talks to the Kubernetes API, through the official client (the
`kubernetes` extra, imported when a store or lock is built, so the gateway itself never needs
it). The pods mount the routes ConfigMap as a folder; the kubelet refreshes the file in it
(within about a minute) and each gateway's watcher reloads it, so a write here reaches the
whole fleet without a restart.

- `ConfigMapStore` reads one key of a ConfigMap and writes it back with the resourceVersion it
  read as a precondition: the API server answers 409 if anything changed the ConfigMap
  meanwhile (a `kubectl apply`, a person's edit, another controller), which is StoreConflict.
- `LeaseLock` is leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the
  holder renews `renewTime` on every pass; another controller takes over only after it has
  seen the same lease record unchanged for `leaseDurationSeconds` on its own clock, so clock
  skew between nodes cannot make a live leader look expired. Every write carries the
  resourceVersion read, so two controllers racing for an expired lease cannot both win.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.rollout.store import Snapshot, StoreConflict

CONFLICT, NOT_FOUND = 409, 404


class ConfigMapAPI(Protocol):
    """What the store calls of the client's CoreV1Api."""

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any: ...

    def patch_namespaced_config_map(self, name: str, namespace: str, body: Any) -> Any: ...


class LeaseAPI(Protocol):
    """What the lock calls of the client's CoordinationV1Api."""

    def read_namespaced_lease(self, name: str, namespace: str) -> Any: ...

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any: ...

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any: ...


class ConfigMapKeyMissing(LookupError):
    """The ConfigMap exists but holds no routes under the key the store was given."""


def _status(exc: Exception) -> int | None:
    """The HTTP status of the client's ApiException (None for anything else)."""
    from kubernetes.client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


class ConfigMapStore:
    def __init__(self, api: ConfigMapAPI, namespace: str, name: str, key: str) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.key = key

    @property
    def source(self) -> str:
        return f"configmap {self.namespace}/{self.name} key {self.key}"

    def read(self) -> Snapshot:
        config_map = self.api.read_namespaced_config_map(self.name, self.namespace)
        data = config_map.data or {}
        if self.key not in data:
            raise ConfigMapKeyMissing(f"{self.source}: no such key (keys: {sorted(data)})")
        return Snapshot(data[self.key], config_map.metadata.resource_version)

    def write(self, text: str, expected: Snapshot) -> Snapshot:
        # The client sends an object as a strategic merge patch: only this key changes. The
        # resourceVersion in a patch is a precondition, checked by the API server.
        body = {"metadata": {"resourceVersion": expected.version}, "data": {self.key: text}}
        try:
            written = self.api.patch_namespaced_config_map(self.name, self.namespace, body)
        except Exception as exc:
            if _status(exc) == CONFLICT:
                raise StoreConflict(f"{self.source} changed since it was read") from exc
            raise
        return Snapshot(written.data[self.key], written.metadata.resource_version)


def default_holder() -> str:
    """The pod's name (a pod's hostname) and the process: unique while the process lives."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLock:
    def __init__(
        self,
        api: LeaseAPI,
        namespace: str,
        name: str,
        *,
        holder: str | None = None,
        duration_seconds: int = 15,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self._holder = holder or default_holder()
        self.duration_seconds = duration_seconds
        self.clock = clock  # when a lease record was first seen: this process's clock only
        self.now = now  # what is written in the lease, for people and for other tools
        self._observed: tuple[tuple[object, ...], float] | None = None

    @property
    def holder(self) -> str:
        return self._holder

    def acquire(self) -> bool:
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except Exception as exc:
            if _status(exc) != NOT_FOUND:
                raise
            return self._create()
        spec = lease.spec
        if spec.holder_identity == self._holder:
            return self._write(lease, transitions=spec.lease_transitions or 0, acquired=False)
        if spec.holder_identity and not self._expired(lease):
            return False
        return self._write(lease, transitions=(spec.lease_transitions or 0) + 1, acquired=True)

    def release(self) -> None:
        """Give the lease up at once, so the next controller need not wait for it to expire."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity != self._holder:
                return
            lease.spec.holder_identity = None
            lease.spec.renew_time = self.now()
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except Exception as exc:
            if _status(exc) not in (CONFLICT, NOT_FOUND):
                raise

    def _expired(self, lease: Any) -> bool:
        """Whether another holder's lease went unrenewed for its duration, as seen from here."""
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, lease.metadata.resource_version)
        now = self.clock()
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, now)
            return False
        duration = spec.lease_duration_seconds or self.duration_seconds
        return now - self._observed[1] >= duration

    def _create(self) -> bool:
        from kubernetes.client import V1Lease, V1LeaseSpec, V1ObjectMeta

        now = self.now()
        lease = V1Lease(
            metadata=V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=V1LeaseSpec(
                holder_identity=self._holder,
                lease_duration_seconds=self.duration_seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self.api.create_namespaced_lease(self.namespace, lease)
        except Exception as exc:
            if _status(exc) == CONFLICT:  # another controller created it first
                return False
            raise
        return True

    def _write(self, lease: Any, *, transitions: int, acquired: bool) -> bool:
        """Renew or take over `lease` as read; False if it changed since (409)."""
        now = self.now()
        spec = lease.spec
        spec.holder_identity = self._holder
        spec.lease_duration_seconds = self.duration_seconds
        spec.renew_time = now
        spec.lease_transitions = transitions
        if acquired:
            spec.acquire_time = now
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except Exception as exc:
            if _status(exc) == CONFLICT:
                return False
            raise
        self._observed = None
        return True


# Seconds a call to the API server may take to connect, and then to answer. The client waits
# for ever by default: a controller stuck in a call would decide nothing and ignore SIGTERM.
API_TIMEOUT = 10.0


class _Bounded:
    """An API of the client whose every call is bounded (its per-call `_request_timeout`: the
    client has no default, and passes "none" down to urllib3 when it is not given)."""

    def __init__(self, api: Any, timeout: float) -> None:
        self._api = api
        self._timeout = (timeout, timeout)  # to connect, then to answer

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._api, name), _request_timeout=self._timeout)


def _apis(timeout: float = API_TIMEOUT) -> tuple[Any, Any]:
    """The client's CoreV1Api and CoordinationV1Api, with the pod's service account (or, off
    the cluster, the current kubeconfig context), each call bounded by `timeout`."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        # Read now, not when the client was imported (it reads KUBECONFIG at import).
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    return _Bounded(client.CoreV1Api(), timeout), _Bounded(client.CoordinationV1Api(), timeout)


def _parts(spec: str, count: int, shape: str) -> list[str]:
    parts = spec.split("/")
    if len(parts) != count or not all(parts):
        raise ValueError(f"{spec!r} should be {shape}")
    return parts


def configmap_store(spec: str, timeout: float = API_TIMEOUT) -> ConfigMapStore:
    """The store named `NAMESPACE/NAME/KEY` (e.g. gateway/gateway-routes/routes.yaml)."""
    namespace, name, key = _parts(spec, 3, "NAMESPACE/CONFIGMAP/KEY")
    return ConfigMapStore(_apis(timeout)[0], namespace, name, key)


def lease_lock(spec: str, holder: str | None = None, timeout: float = API_TIMEOUT) -> LeaseLock:
    """The lock named `NAMESPACE/NAME` (e.g. gateway/gateway-rollout)."""
    namespace, name = _parts(spec, 2, "NAMESPACE/LEASE")
    return LeaseLock(_apis(timeout)[1], namespace, name, holder=holder)
