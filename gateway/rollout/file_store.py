"""The routes file as the controller's store: compare-and-swap, then an atomic rename.

The version of a snapshot is a hash of the file's bytes, so any edit (a person's editor, another
tool) between the controller's read and its write is noticed and the write refused. The new text
is written to a temporary file in the same folder and renamed over the routes file: readers (every
gateway process, which reloads on the folder's change events) see the old file or the new one,
never half of one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.rollout.store import Snapshot, StoreConflict


def version_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class FileStore:
    def __init__(self, path: Path, lock_timeout: float = 10.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    @property
    def source(self) -> str:
        return str(self.path)

    def read(self) -> Snapshot:
        content = self.path.read_bytes()
        return Snapshot(content.decode("utf-8"), version_of(content))

    def write(self, text: str, expected: Snapshot) -> Snapshot:
        content = text.encode("utf-8")
        # A routes file that is a symbolic link: the file it names is replaced, not the link.
        target = self.path.resolve()
        with self._writing(target):
            # The new text is on disk before the check, so that the check and the rename are as
            # close as they can be: an editor's save during a slow flush is seen, not replaced.
            temporary = self._prepared(target, content)
            try:
                if version_of(target.read_bytes()) != expected.version:
                    raise StoreConflict(f"{self.path} changed since it was read")
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return Snapshot(text, version_of(content))

    @contextmanager
    def _writing(self, target: Path) -> Iterator[None]:
        # Writers through this class (a controller, an operator's command) take turns, so the
        # check and the rename of one are never interleaved with another's.
        guard = target.with_name(f".{target.name}.write-lock")
        with guard.open("a") as handle:
            self._take(handle.fileno(), guard)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _take(self, fd: int, guard: Path) -> None:
        # A write takes milliseconds; a holder stuck for longer is not waited on for ever.
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreConflict(
                        f"{guard} stayed locked for {self.lock_timeout:g} s by another writer"
                    ) from None
                time.sleep(0.01)

    def _prepared(self, target: Path, content: bytes) -> str:
        """A temporary file beside `target`, with its mode, holding `content`."""
        mode = target.stat().st_mode & 0o7777
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return temporary
