"""The rows of a run folder's tables read back: typed and checked, a damaged row dropped.

The engine writes trace.csv, summary.csv and metrics.csv whole (atomically), so a row that does
not parse, repeats another, names a method or a seed the scenario does not have, or a step
outside 0..steps, is damage or an edit. Such a row is dropped and counted: one warning line per
kind of problem and file, naming the first line it was seen on. The reports draw the rest.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sliceflow.errors import RunDirError
from sliceflow.rundir import bounded
from sliceflow.rundir.layout import REWRITE
from sliceflow.rundir.record import MAX_STEPS, shown

MAX_NAME = 100  # characters of a metric name (it becomes part of a file name)
MAX_METRICS = 64  # metric names drawn (each is a figure)
_WHOLE = re.compile(r"[0-9]{1,19}")
RowCheck = Callable[[tuple], "str | None"]  # a problem of a row as a whole, or None


@dataclass(frozen=True)
class Expected:
    """What scenario.yaml says the rows may hold; None where it says nothing."""

    labels: frozenset[str] | None = None
    seeds: frozenset[int] | None = None
    steps: int | None = None


class _Bad(Exception):
    """A field that does not parse: the kind of problem and the text shown."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


_KINDS = {  # kind -> (what, what was done with it)
    "cut": ("a last row cut short by the end of the file", "dropped"),
    "malformed": ("malformed row(s)", "dropped"),
    "duplicate": ("duplicated row(s)", "dropped"),
    "conflict": ("row(s) repeating the key of an earlier row with other values",
                 "dropped (the first kept)"),
    "method": ("row(s) of a method scenario.yaml does not declare", "ignored"),
    "seed": ("row(s) of a seed not among scenario.yaml's seeds", "dropped"),
    "step": ("row(s) with a step that is not a whole number in the run's range", "dropped"),
    "name": ("row(s) with an empty or over-long name", "dropped"),
    "names": (f"row(s) of metrics beyond the first {MAX_METRICS} names", "ignored"),
}  # fmt: skip


class Damage:
    """The rows dropped from one file, counted per kind of problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kinds: dict[str, list] = {}  # kind -> [count, first line, detail]

    def note(self, kind: str, line: int, detail: str = "") -> None:
        self.kinds.setdefault(kind, [0, line, detail])[0] += 1

    def _what(self, kind: str, done: bool) -> str:
        count, line, detail = self.kinds[kind]
        what, action = _KINDS[kind]
        where = ": ".join(part for part in (f"line {line}" if line else "", detail) if part)
        head = what if kind == "cut" else f"{count} {what}"
        first = "" if kind == "cut" else "first: "
        return f"{head}{' ' + action if done else ''} ({first}{where})"

    def lines(self) -> list[str]:
        """One warning per kind: ``<file>: <count> <what> <done> (first: line <n>: <detail>)``."""
        return [f"{self.path}: {self._what(kind, True)}" for kind in self.kinds]

    def check(self) -> None:
        """RunDirError naming the first damage, for readers that take none."""
        if self.kinds:
            first = self._what(next(iter(self.kinds)), False)
            raise RunDirError(f"{self.path}: damaged: {first}; {REWRITE}")


def _whole(text: str, kind: str, high: int) -> int:
    if _WHOLE.fullmatch(text) is None or int(text) > high:
        raise _Bad(kind, f"{kind} {shown(text)}")
    return int(text)


def _parsers(expect: Expected) -> dict[str, Callable[[str, str], Any]]:
    """Per kind of column, ``parse(text, column) -> value`` (raises _Bad)."""

    def method(text: str, _: str) -> str:
        if (expect.labels is not None and text not in expect.labels) or not text:
            raise _Bad("method", f"method {shown(text)}")
        return text

    def seed(text: str, _: str) -> int:
        value = _whole(text, "seed", 2**63 - 1)
        if expect.seeds is not None and value not in expect.seeds:
            raise _Bad("seed", f"seed {shown(text)}")
        return value

    def number(text: str, name: str) -> float:
        try:
            return float(text) if text != "" else math.nan
        except ValueError:
            raise _Bad("malformed", f"{name} {shown(text)} is not a number") from None

    def count(text: str, name: str) -> int:
        if _WHOLE.fullmatch(text) is None:
            raise _Bad("malformed", f"{name} {shown(text)} is not a count")
        return int(text)

    def name(text: str, _: str) -> str:
        if not text or len(text) > MAX_NAME or not text.isprintable():
            raise _Bad("name", f"name {shown(text)}")
        return text

    steps = expect.steps if expect.steps is not None else MAX_STEPS
    return {"method": method, "seed": seed, "step": lambda t, _: _whole(t, "step", steps),
            "float": number, "count": count, "name": name}  # fmt: skip


def _typed(record: list[str], width: int, where: list, check: RowCheck | None) -> tuple:
    """The typed values of one CSV record (``where``: (index, column, parse) per field)."""
    if len(record) != width:
        raise _Bad("malformed", f"{len(record)} fields, not {width}")
    values = tuple(parse(record[i], name) for i, name, parse in where)
    problem = check(values) if check else None
    if problem:
        raise _Bad("malformed", problem)
    return values


def _same(first: tuple, second: tuple) -> bool:
    """Equal rows, a NaN equal to a NaN (an exact duplicate of a diverged row)."""
    return all(a == b or a != a and b != b for a, b in zip(first, second, strict=True))


def _cut(text: str) -> tuple[str, int | None]:
    """The text without a last row that the end of the file cuts short, and that row's line."""
    if text.endswith("\n") or "\n" not in text:
        return text, None
    end = text.rindex("\n") + 1
    return text[:end], text.count("\n", 0, end) + 1


def read_rows(path: Path, fields: list[tuple[str, str]], n_key: int, expect: Expected,
              check: RowCheck | None = None) -> tuple[list[tuple], Damage]:  # fmt: skip
    """The rows of a CSV table, typed, one per key; the damage found.

    Parameters
    ----------
    path : Path
        The file (a regular file under ``bounded.MAX_CSV_BYTES``).
    fields : list of (str, str)
        The columns it must have and their kinds (``method``, ``seed``, ``step``, ``float``,
        ``count``, ``name``); other columns are ignored.
    n_key : int
        The first ``n_key`` fields are the row's key: a second row with the same key is dropped.
    expect : Expected
        The labels, seeds and steps a row may name.
    check : callable, optional
        ``check(values)``: a problem of the row as a whole, or None.

    Returns
    -------
    rows : list of tuple
        The typed values of each row kept, in file order.
    damage : Damage
        What was dropped.

    Raises
    ------
    RunDirError
        If the file cannot be read, is not a CSV table or misses a column.
    """
    hint = "trace fewer steps (trace.every) and re-run" if path.name == "trace.csv" else ""
    text, cut_line = _cut(bounded.read_text(path, bounded.MAX_CSV_BYTES, hint))
    reader = csv.reader(io.StringIO(text, newline=""))
    damage, parse = Damage(path), _parsers(expect)
    kept: dict[tuple, tuple] = {}
    try:
        header = next(reader, [])
        missing = [name for name, _ in fields if name not in header]
        if missing:
            raise RunDirError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                              f"{','.join(n for n, _ in fields)} ({REWRITE})")  # fmt: skip
        where = [(header.index(name), name, parse[kind]) for name, kind in fields]
        for record in reader:
            try:
                values = _typed(record, len(header), where, check)
            except _Bad as bad:
                damage.note(bad.kind, reader.line_num, bad.detail)
                continue
            key = values[:n_key]
            if key not in kept:
                kept[key] = values
            else:
                kind = "duplicate" if _same(kept[key], values) else "conflict"
                damage.note(kind, reader.line_num)
    except csv.Error as error:
        raise RunDirError(f"{path}: not a CSV table (line {reader.line_num}: {error}); "
                          f"{REWRITE}") from None  # fmt: skip
    if cut_line is not None:
        damage.note("cut", cut_line)
    return list(kept.values()), damage
