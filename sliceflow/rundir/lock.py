"""One writer at a time: an exclusive lock on ``.sliceflow.lock`` inside a run or sweep folder.

The lock is ``flock`` (``msvcrt.locking`` on Windows), so the operating system releases it when
its process dies, even by SIGKILL: a stale lock file never blocks a later run. The file holds the
holder's pid, which the second writer's one-line message names. Worker processes never inherit
it (they are spawned, and the descriptor is not inheritable).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sliceflow.errors import RunDirError

try:
    import fcntl
except ImportError:  # Windows: msvcrt locks a byte of the file instead
    fcntl = None

LOCK_FILE = ".sliceflow.lock"
PROBE_PREFIX = ".sliceflow-probe."


class FolderLocked(RunDirError):
    """Another process holds the folder's lock."""


def check_unlocked(folder: Path) -> None:
    """:class:`FolderLocked` if another process holds the lock of ``folder`` (nothing created)."""
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDWR)
    except OSError:
        return  # no lock file (or none we could lock): nobody writes here through sliceflow
    try:
        if not _try_lock(fd):
            raise _locked(folder, _holder(fd))
    finally:
        os.close(fd)  # also lets go of the lock just taken


def _locked(folder: Path, holder: str) -> FolderLocked:
    return FolderLocked(f"{folder} is being written by another sliceflow process (pid {holder}); "
                        "wait for it or choose another --out")  # fmt: skip


def open_folder(folder: Path) -> FolderLock:
    """Create ``folder``, lock it and prove it writable (all before any computation).

    Raises
    ------
    RunDirError
        One line if the folder cannot be created or written, or is locked by another process.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirError(f"{folder}: cannot create this folder ({os_reason(error)}); choose a "
                          "folder you can write with --out") from None  # fmt: skip
    lock = FolderLock(folder)
    lock.acquire()
    try:
        handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        lock.release()
        raise RunDirError(f"{folder}: cannot write in this folder ({os_reason(error)}); choose a "
                          "folder you can write with --out") from None  # fmt: skip
    return lock


def os_reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


class FolderLock:
    """An exclusive lock on ``<folder>/.sliceflow.lock``, holding the pid of its holder.

    The operating system releases it when the process dies (even by SIGKILL), so a stale lock
    file never blocks a later run; :meth:`release` removes the file.
    """

    def __init__(self, folder: Path) -> None:
        self.folder, self.path, self.fd = Path(folder), Path(folder) / LOCK_FILE, None

    def acquire(self) -> FolderLock:
        """Take the lock; :class:`FolderLocked` if another process holds it."""
        for _ in range(10):  # the file may be removed between open and lock by its holder
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise RunDirError(f"{self.folder}: cannot write in this folder "
                                  f"({os_reason(error)}); choose a folder you can write with "
                                  "--out") from None  # fmt: skip
            if not _try_lock(fd):
                holder = _holder(fd)
                os.close(fd)
                raise _locked(self.folder, holder)
            if fcntl is None or _same_file(fd, self.path):
                break
            os.close(fd)
        else:
            raise FolderLocked(f"{self.folder}: its lock file keeps changing; choose another --out")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds without the pid it shows a second writer
            pass
        self.fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and let go of the lock (nothing if not held)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        if fcntl is not None and _same_file(fd, self.path):
            self.path.unlink(missing_ok=True)  # while locked: a waiter then retries a new file
        os.close(fd)

    def __enter__(self) -> FolderLock:
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


__all__ = ["LOCK_FILE", "PROBE_PREFIX", "FolderLock", "FolderLocked", "check_unlocked",
           "open_folder", "os_reason"]  # fmt: skip
