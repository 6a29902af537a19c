"""Errors a user can cause and fix, each shown as one line (what, where, what to do).

The command line catches ``UserError`` and prints ``error: <message>`` with exit code 2; a
programmer error stays a loud traceback.
"""

from __future__ import annotations

import difflib


class UserError(ValueError):
    """An error the user can fix: ``str()`` is one line naming the problem and the fix."""

    @classmethod
    def verbatim(cls, text: str) -> UserError:
        """An error whose message is ``text`` as given (e.g. received from a worker process)."""
        error = cls.__new__(cls)
        ValueError.__init__(error, text)
        return error

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ScenarioError(UserError):
    """A bad scenario or command-line value: ``file:line: field: problem; fix``."""

    def __init__(self, message: str, *, source: str = "<scenario>", path=(), line=None) -> None:
        self.source, self.path, self.line, self.message = source, tuple(path), line, message
        where = source + (f":{line}" if line else "")
        field = format_path(self.path)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class RunDirError(UserError):
    """A run directory that cannot be read or continued: ``path: problem; fix``."""


class RunDirWriteError(RunDirError):
    """A file that could not be written (full disk, read-only folder...): ``path: problem; fix``.

    ``path`` is the file, ``reason`` the system's word for why (``strerror``) and ``errno`` its
    number, so a caller can say what the files written before it still allow (``--resume``).
    """

    def __init__(self, message: str, *, path, reason: str, errno: int | None) -> None:
        super().__init__(message)
        self.path, self.reason, self.errno = path, reason, errno


def format_path(path: tuple) -> str:
    """``("methods", 1, "lr")`` -> ``methods[1].lr``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def closest(name: str, known: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


__all__ = [
    "RunDirError",
    "RunDirWriteError",
    "ScenarioError",
    "UserError",
    "closest",
    "format_path",
]
