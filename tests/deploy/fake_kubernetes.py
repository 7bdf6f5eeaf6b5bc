"""An in-memory stand-in for the two Kubernetes API objects the rollout adapter calls.

No API server can run here, so the adapter (gateway/rollout/kubernetes.py) is tested against
this fake. It keeps what the tests rely on from the real server: every object has a
resourceVersion that changes on each write; a write carrying an older resourceVersion is
refused with 409 Conflict; a missing object is 404; a create of an existing one is 409. It
stores and returns the client's own model objects (V1ConfigMap, V1Lease), copied as a round
trip over the network would, and serialises each write with the client's ApiClient, so a value
the real client could not send (a naive datetime, a wrong type) fails here too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient, V1ConfigMap, V1ObjectMeta
from kubernetes.client.exceptions import ApiException


class FakeCluster:
    """Both a CoreV1Api (ConfigMaps) and a CoordinationV1Api (Leases), for one namespace."""

    def __init__(self) -> None:
        # The client's models, typed loosely: their fields are all Optional.
        self.config_maps: dict[tuple[str, str], Any] = {}
        self.leases: dict[tuple[str, str], Any] = {}
        self.revision = 100
        self.before_write: Callable[[], object] | None = None  # to stage a race
        self.calls: list[str] = []
        self._serialiser = ApiClient()

    def close(self) -> None:
        self._serialiser.close()  # type: ignore[no-untyped-call]

    def _next_version(self) -> str:
        self.revision += 1
        return str(self.revision)

    def _hook(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()

    def add_config_map(self, namespace: str, name: str, data: dict[str, str]) -> None:
        meta = V1ObjectMeta(name=name, namespace=namespace, resource_version=self._next_version())
        self.config_maps[(namespace, name)] = V1ConfigMap(metadata=meta, data=dict(data))

    # --- CoreV1Api ----------------------------------------------------------------------------
    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        self.calls.append("read_config_map")
        return copy.deepcopy(self._get(self.config_maps, namespace, name))

    def patch_namespaced_config_map(self, name: str, namespace: str, body: Any) -> Any:
        self.calls.append("patch_config_map")
        self._hook()
        self._serialiser.sanitize_for_serialization(body)  # type: ignore[no-untyped-call]
        stored = self._get(self.config_maps, namespace, name)
        self._precondition(stored, body["metadata"].get("resourceVersion"))
        stored.data = {**(stored.data or {}), **body["data"]}
        stored.metadata.resource_version = self._next_version()
        return copy.deepcopy(stored)

    # --- CoordinationV1Api --------------------------------------------------------------------
    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        self.calls.append("read_lease")
        return copy.deepcopy(self._get(self.leases, namespace, name))

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any:
        self.calls.append("create_lease")
        self._hook()
        self._serialiser.sanitize_for_serialization(body)  # type: ignore[no-untyped-call]
        key = (namespace, body.metadata.name)
        if key in self.leases:
            raise ApiException(status=409, reason="AlreadyExists")
        stored = copy.deepcopy(body)
        stored.metadata.resource_version = self._next_version()
        self.leases[key] = stored
        return copy.deepcopy(stored)

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any:
        self.calls.append("replace_lease")
        self._hook()
        serialised = self._serialiser.sanitize_for_serialization(body)  # type: ignore[no-untyped-call]
        renew = serialised["spec"].get("renewTime")
        if renew is not None and not str(renew).endswith("+00:00"):
            raise ApiException(status=400, reason=f"renewTime without a time zone: {renew}")
        stored = self._get(self.leases, namespace, name)
        self._precondition(stored, body.metadata.resource_version)
        replaced = copy.deepcopy(body)
        replaced.metadata.resource_version = self._next_version()
        self.leases[(namespace, name)] = replaced
        return copy.deepcopy(replaced)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _get(objects: dict[tuple[str, str], Any], namespace: str, name: str) -> Any:
        try:
            return objects[(namespace, name)]
        except KeyError:
            raise ApiException(status=404, reason="NotFound") from None

    @staticmethod
    def _precondition(stored: Any, version: str | None) -> None:
        if version is not None and version != stored.metadata.resource_version:
            raise ApiException(status=409, reason="Conflict: the object has been modified")
