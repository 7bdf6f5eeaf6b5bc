"""One controller per host: an exclusive `flock` on a lock file, its holder written in it.

The kernel releases the lock when the holding process ends, however it ends (a controller killed
with SIGKILL leaves no stale lock behind), and `flock` belongs to the open file, so a second
controller in the same process is refused as one in another process is.
"""

from __future__ import annotations

import fcntl
import os
import socket
import weakref
from pathlib import Path
from typing import IO

# Locks held in this process. A forked child (gunicorn's workers, forked by the arbiter that runs
# the controller) shares the lock's open file: were it kept, the lock would outlive a killed
# holder for as long as its children live. The child closes its copy; the parent keeps the lock.
_HELD: weakref.WeakSet[FileLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    for lock in list(_HELD):
        lock._forget()


os.register_at_fork(after_in_child=_forget_in_child)


class FileLock:
    def __init__(self, path: Path, holder: str | None = None) -> None:
        self.path = path
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self._handle: IO[str] | None = None

    @property
    def holder(self) -> str:
        return self._holder

    def acquire(self) -> bool:
        if self._handle is not None:
            if self._still_the_file(self._handle):
                return True
            # The file was removed or replaced: a lock on it keeps nobody else out any more.
            self.release()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(self._holder + "\n")
        handle.flush()
        self._handle = handle
        _HELD.add(self)
        return True

    def _still_the_file(self, handle: IO[str]) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def current_holder(self) -> str | None:
        """Who holds the lock, as its holder wrote it (for messages); None if nobody wrote."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def release(self) -> None:
        if self._handle is None:
            return
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
        _HELD.discard(self)

    def _forget(self) -> None:
        """In a forked child: close this process's copy without unlocking (an unlock would
        release the parent's lock too: they share one open file)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def lock_path(routes_file: Path) -> Path:
    """Beside the routes file: one lock per file whatever the controllers' working folders, in
    a folder the file store must be able to write anyway (its atomic replace)."""
    return routes_file.parent / f".{routes_file.name}.rollout-lock"
