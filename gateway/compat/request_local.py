"""A value for the request being served, readable from any helper below it, on either side.

Flask code reads `g` deep inside helpers; FastAPI passes values down as parameters. A helper
ported once should work in both, so it reads a `RequestLocal` instead of either:

- on the new side, an async dependency binds the value with `bound()` around the endpoint;
- on the legacy side, where the value is on `g` already, `fallback` reads it from there, so the
  Flask app stays as it is (or a Flask hook binds it, as the dependency does).

It is a `ContextVar`: each asyncio task, and each thread that runs a copy of a task's context,
sees its own value, so concurrent requests never see each other's. Values set in a worker
thread do not come back to the task, and values bound in a task reach a worker thread only if
it runs a copy of the task's context (anyio's `to_thread.run_sync`, Starlette's
`run_in_threadpool` and `LegacyState.run` do; a plain `ThreadPoolExecutor` does not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class RequestLocalUnset(RuntimeError):
    """Read outside any request that bound the value, as Flask's "working outside of request
    context"."""


class RequestLocal(Generic[T]):
    def __init__(self, name: str, *, fallback: Callable[[], T] | None = None) -> None:
        """`fallback`: where the value is when nothing bound it, e.g. `lambda: flask.g.user`."""
        self.name = name
        self._var: ContextVar[T] = ContextVar(name)
        self._fallback = fallback

    def get(self) -> T:
        try:
            return self._var.get()
        except LookupError:
            pass
        if self._fallback is not None:
            return self._fallback()
        raise RequestLocalUnset(
            f"{self.name} is not set: read it only while serving a request that bound it "
            "(an async dependency: `with local.bound(value): yield value`)"
        )

    def is_bound(self) -> bool:
        return self._var.get(_UNSET) is not _UNSET

    @contextmanager
    def bound(self, value: T) -> Iterator[T]:
        """The value for everything run inside the block, in this task or thread only.

        Bind it in an async dependency with `yield`: a sync dependency runs in a worker thread,
        and what it binds never reaches the endpoint.
        """
        token = self._var.set(value)
        try:
            yield value
        finally:
            self._var.reset(token)

    def __repr__(self) -> str:
        return f"RequestLocal({self.name!r})"


_UNSET: object = object()
