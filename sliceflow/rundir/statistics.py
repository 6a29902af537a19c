"""Quartiles over seeds and the fixed row order of a run's tables."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from sliceflow.rundir.layout import TraceSchema


def quartiles_log10(values: np.ndarray) -> tuple[int, int, float, float, float]:
    """Seed count, diverged count and quartiles of the log10 of the finite values.

    .. math:: q_p = \\operatorname{percentile}_p\\big(\\log_{10} \\max(v_s, \\varepsilon)\\big),
              \\quad p \\in \\{25, 50, 75\\},\\ v_s \\text{ finite}

    with :math:`\\varepsilon` the smallest positive normal float and NumPy's linear percentiles.

    Parameters
    ----------
    values : np.ndarray
        (S,) one value per seed; a non-finite value counts as diverged.

    Returns
    -------
    tuple of (int, int, float, float, float)
        ``(n_seeds, n_diverged, q25, median, q75)``; the quartiles are NaN if no value is finite.
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    n_diverged = int(values.size - finite.size)
    if finite.size == 0:
        return int(values.size), n_diverged, math.nan, math.nan, math.nan
    logs = np.log10(np.maximum(finite, np.finfo(float).tiny))
    q25, med, q75 = np.percentile(logs, [25, 50, 75])
    return int(values.size), n_diverged, float(q25), float(med), float(q75)


def ordered_rows(rows: Iterable[tuple], labels: list[str]) -> list[tuple]:
    """Rows keyed ``(method, seed, step, ...)`` in a fixed order: step, method order, seed.

    Identical runs then write identical files (apart from timings), whatever order parallel
    workers finished in.

    Parameters
    ----------
    rows : iterable of tuple
        Rows starting with ``(method, seed, step)``.
    labels : list of str
        The methods in scenario order; an unknown method sorts after them, by name.

    Returns
    -------
    list of tuple
        The rows, sorted.
    """
    position = {label: i for i, label in enumerate(labels)}
    return sorted(rows, key=lambda r: (r[2], position.get(r[0], len(position)), r[0], r[1]))


def ordered_table_rows(keyed: Iterable[tuple[int, tuple]], labels: list[str]) -> list[tuple]:
    """Rows of a task's extra table in the order of :func:`ordered_rows`, step dropped.

    Parameters
    ----------
    keyed : iterable of (int, tuple)
        ``(step, (method, seed, ...))``: each row with the traced step that produced it (the
        table's own columns need not include the step).
    labels : list of str
        The methods in scenario order.

    Returns
    -------
    list of tuple
        The rows sorted by step, method order and seed.
    """
    position = {label: i for i, label in enumerate(labels)}

    def key(item):
        step, row = item
        return (step, position.get(row[0], len(position)), row[0], row[1])

    return [row for _, row in sorted(keyed, key=key)]


def summary_rows(rows: list[tuple], schema: TraceSchema) -> list[tuple]:
    """The rows of summary.csv computed from trace rows.

    Parameters
    ----------
    rows : list of tuple
        Trace rows in the column order of ``schema.columns``.
    schema : TraceSchema
        What the rows hold; the summary is of its primary column.

    Returns
    -------
    list of tuple
        Per (method, step) in order of first appearance:
        ``(method, step, *quartiles_log10(values over seeds))``.
    """
    index = schema.columns.index(schema.primary)
    groups: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        groups.setdefault((row[0], row[2]), []).append(row[index])
    return [(method, step, *quartiles_log10(np.array(v))) for (method, step), v in groups.items()]
