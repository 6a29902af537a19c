"""A sweep: one run per point of a grid (optionally split into seed shards), on an executor.

``sweep`` validates every point before anything runs, records the grid, versions, timings and the
state of every point in ``DIR/sweep.yaml`` (written by this driver only), runs the points that are
not finished yet (a point whose folder holds a finished run of the same scenario is skipped; an
interrupted one continues from its checkpoint), merges seed shards into their point's run folder,
and aggregates ``sweep.csv``. Ctrl-C, SIGTERM or a lost worker loses no finished point: running
the same command again finishes the rest. The sweep folder is locked while its driver runs (a
second driver gets one line), and each run folder while its unit writes it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sliceflow import rundir, sweepdir
from sliceflow.engine.choose import make_executor
from sliceflow.engine.executors import Outcome, Unit, render_point
from sliceflow.engine.grid import Axis, Point, parse_axis, plan_points
from sliceflow.engine.shards import is_complete, merge_shards, seed_chunks, shard_name
from sliceflow.errors import RunDirError, UserError
from sliceflow.rundir.guard import is_empty

EventCallback = Callable[[str, str, str], None]  # (event, point, detail)


@dataclass
class SweepResult:
    out_dir: Path
    paths: list[str]  # the swept paths, in grid order
    points: list[dict[str, Any]]  # sweep.yaml's point records
    rows: list[sweepdir.SweepRow] = field(default_factory=list)  # sweep.csv

    def states(self, *wanted: str) -> list[str]:
        return [p["name"] for p in self.points if p["state"] in wanted]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: finished points are kept; ``.result`` says where each one is."""

    def __init__(self, result: SweepResult) -> None:
        super().__init__("sweep interrupted")
        self.result = result


def sweep(
    scenario: str | Path,
    grid: Sequence[str] | Mapping[str, Sequence[Any]],
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    executor: str = "local",
    address: str | None = None,
    max_parallel: int | None = None,
    shard_seeds: int = 1,
    device: str = "cpu",
    yes: bool = False,
    render: bool = True,
    render_options: dict[str, Any] | None = None,
    threshold: float | None = None,
    on_event: EventCallback | None = None,
) -> SweepResult:
    """Run every point of ``grid`` over ``scenario`` into ``out`` (default ``sweeps/<name>``).

    Parameters
    ----------
    grid : ``["methods.swd.lr=0.01,0.1", "n_particles=50,500"]`` or ``{path: [values]}``.
    overrides : ``--set`` values applied to every point.
    executor : ``local`` (a process pool, ``max_parallel`` processes, default the CPU cores) or
        ``ray`` (Ray tasks; ``address`` or ``RAY_ADDRESS`` joins a cluster).
    shard_seeds : split each point's seeds into this many runs, merged into one run folder equal
        to the unsharded one (timings aside).
    yes : allow a grid larger than ``grid.MAX_POINTS``.
    render : write each point's figures and report, and the sweep's figure, sweep.md and
        sweep.html (sweep.yaml and sweep.csv are always written).
    render_options : report options of each point (``gif``, ``format``...; GIFs off by default).

    Raises
    ------
    UserError : bad grid, scenario, folder or executor (nothing started).
    SweepInterrupted : Ctrl-C (finished points and checkpoints are kept).
    """
    axes = [parse_axis(t) for t in grid] if not isinstance(grid, Mapping) else [
        Axis(str(path), tuple(values)) for path, values in grid.items()]  # fmt: skip
    if shard_seeds < 1:
        raise UserError(f"--shard-seeds {shard_seeds}: give 1 or more shards")
    points = plan_points(scenario, axes, dict(overrides or {}), yes=yes)
    out_dir = Path(out or Path("sweeps") / points[0].scenario.name).absolute()
    rundir.check_output_path(out_dir, "--out" if out else "the default folder")
    args = (out_dir, points, axes, scenario, overrides, shard_seeds)
    _open_record(*args)  # refused before anything starts
    runner = make_executor(executor, address, max_parallel, device)
    try:
        with rundir.open_folder(out_dir):
            record = _open_record(*args)  # again, now that no other driver writes here
            record.update(executor=executor, address=address, device=device)
            reports = {"gif": False, **(render_options or {})} if render else None
            driver = _Driver(out_dir, points, record, shard_seeds, device, reports, on_event)
            paths = [axis.path for axis in axes]
            try:
                units = driver.plan()
                if units:
                    runner.run(units, driver.done, driver.start)
            except KeyboardInterrupt:
                raise SweepInterrupted(_stopped(driver, paths, render, threshold)) from None
            return _finish(driver, paths, render, threshold)
    finally:
        runner.close()


def _open_record(out_dir: Path, points: list[Point], axes: list[Axis], scenario, overrides,
                 shard_seeds: int) -> dict[str, Any]:  # fmt: skip
    """sweep.yaml's content: the existing record if it is this very grid, else a new one."""
    from sliceflow.engine.book import versions

    planned = [(p.name, p.identity) for p in points]
    if sweepdir.is_sweep(out_dir):
        old = sweepdir.read_sweep(out_dir)
        if [(p.get("name"), p.get("identity")) for p in old["points"]] != planned:
            raise RunDirError(
                f"{out_dir} holds a sweep of another grid or scenario; choose another --out "
                "(or delete it to start over)"
            )
        states = {p["name"]: p for p in old["points"]}
    elif not is_empty(out_dir):
        raise RunDirError(f"{out_dir} exists and is not a sweep folder; choose another --out")
    else:
        states = {}
    return {
        "format": sweepdir.SWEEP_FORMAT,
        "scenario": str(scenario),
        "name": points[0].scenario.name,
        "set": dict(overrides or {}),
        "grid": {axis.path: list(axis.values) for axis in axes},
        "shard_seeds": shard_seeds,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "points": [
            {
                "name": p.name,
                "values": dict(p.values),
                "identity": p.identity,
                "state": states.get(p.name, {}).get("state", "pending"),
                "seconds": states.get(p.name, {}).get("seconds", 0.0),
                "message": "",
            }
            for p in points
        ],  # fmt: skip
    }


class _Driver:
    """The state of every point, kept in sweep.yaml as units start and finish."""

    def __init__(self, out_dir: Path, points: list[Point], record: dict, shard_seeds: int,
                 device: str, render: dict | None, on_event: EventCallback | None
                 ) -> None:  # fmt: skip
        self.out_dir, self.record, self.shard_seeds = out_dir, record, shard_seeds
        self.device, self.render, self.on_event = device, render, on_event
        self.points = {p.name: p for p in points}
        self.entries = {e["name"]: e for e in record["points"]}
        self.shards: dict[str, dict[str, Any]] = {}  # point -> {shard key: (scenario, dir)}
        self.wall_start = time.perf_counter()

    def event(self, kind: str, point: str, detail: str = "") -> None:
        if self.on_event is not None:
            self.on_event(kind, point, detail)

    def save(self) -> None:
        self.record["wall_s"] = round(time.perf_counter() - self.wall_start, 3)
        sweepdir.write_sweep(self.out_dir, self.record)

    def plan(self) -> list[Unit]:
        """The units still to run; finished points (and finished shards) are skipped."""
        units = []
        for name, point in self.points.items():
            entry, run_dir = self.entries[name], self.out_dir / name
            if is_complete(run_dir, point.scenario):
                entry["state"] = "completed"
                self.event("skip", name)
                continue
            entry["state"], entry["message"] = "pending", ""
            chunks = seed_chunks(point.scenario.seeds, self.shard_seeds)
            if len(chunks) == 1:
                units.append(self._unit(point, name, point.scenario.to_dict(), run_dir, True))
                continue
            units += self._shard_units(point, chunks)
        self.save()
        return units

    def _unit(self, point: Point, key: str, raw: dict, out: Path, render: bool) -> Unit:
        return Unit(key, point.name, raw, point.scenario.base_dir, str(out), self.device,
                    self.render if render else None)  # fmt: skip

    def _shard_units(self, point: Point, chunks: list[list[int]]) -> list[Unit]:
        from sliceflow.scenario import build_scenario

        units, shards = [], {}
        for chunk in chunks:
            raw = point.scenario.to_dict()
            raw["seeds"], raw["output"] = chunk, {**raw["output"], "gif_seed": 0}
            scenario = build_scenario(raw, base_dir=point.scenario.base_dir)
            shard_dir = self.out_dir / sweepdir.SHARDS_DIR / point.name / shard_name(chunk)
            key = f"{point.name}/{shard_name(chunk)}"
            shards[key] = (scenario, shard_dir)
            if not is_complete(shard_dir, scenario):
                units.append(self._unit(point, key, raw, shard_dir, False))
        self.shards[point.name] = shards
        if not units:  # every shard finished before: merge now
            self._merge(point)
        return units

    def start(self, unit: Unit) -> None:
        entry = self.entries[unit.point]
        if entry["state"] != "running":
            entry["state"] = "running"
            self.event("start", unit.point)
            self.save()

    def done(self, unit: Unit, outcome: Outcome) -> None:
        entry = self.entries[unit.point]
        entry["seconds"] = round(float(entry.get("seconds") or 0.0) + outcome.seconds, 3)
        if outcome.state != "completed":
            entry["state"], entry["message"] = outcome.state, outcome.message
            self.event(outcome.state, unit.point, outcome.message)
        elif unit.key == unit.point:
            entry["state"], entry["message"] = "completed", outcome.message
            self.event("completed", unit.point, outcome.message)
        elif entry["state"] == "running":
            shards = self.shards[unit.point].values()
            if all(is_complete(d, s) for s, d in shards):
                self._merge(self.points[unit.point])
        self.save()

    def _merge(self, point: Point) -> None:
        entry, run_dir = self.entries[point.name], self.out_dir / point.name
        start = time.perf_counter()
        try:
            with rundir.open_folder(run_dir):
                merge_shards(point.scenario, [d for _, d in self.shards[point.name].values()],
                             run_dir, self.device)  # fmt: skip
        except UserError as error:  # e.g. the folder is still written by an earlier driver's unit
            entry["state"], entry["message"] = "failed", str(error)
            self.event("failed", point.name, str(error))
            return
        note = render_point(run_dir, self.render) if self.render is not None else ""
        shutil.rmtree(self.out_dir / sweepdir.SHARDS_DIR / point.name, ignore_errors=True)
        entry["seconds"] = round(
            float(entry.get("seconds") or 0.0) + time.perf_counter() - start, 3
        )
        entry["state"], entry["message"] = "completed", note
        self.event("completed", point.name, note)

    def interrupted(self) -> None:
        for entry in self.entries.values():
            if entry["state"] in ("running", "pending"):
                entry["state"] = "interrupted"
        self.save()


def _stopped(driver: _Driver, paths: list[str], render: bool, threshold: float | None
             ) -> SweepResult:  # fmt: skip
    """After Ctrl-C: sweep.yaml and sweep.csv written whole (signals held meanwhile), then the
    figures unless a second Ctrl-C came (``sliceflow report`` draws them later)."""
    from sliceflow.engine.loop import held_signals

    try:
        with held_signals():
            driver.interrupted()
            result = _finish(driver, paths, False, threshold)
        if render:
            _render(driver, threshold)
    except KeyboardInterrupt:  # held until the files were complete: `result` is set
        pass
    return result


def _render(driver: _Driver, threshold: float | None) -> None:
    from sliceflow.report.sweep import render_sweep

    fmt = (driver.render or {}).get("format")
    render_sweep(driver.out_dir, threshold=threshold, fmt=fmt, aggregate=False)


def _finish(
    driver: _Driver, paths: list[str], render: bool, threshold: float | None
) -> SweepResult:
    out_dir, record = driver.out_dir, driver.record
    shards = out_dir / sweepdir.SHARDS_DIR
    if shards.is_dir() and not any(shards.iterdir()):
        shards.rmdir()
    driver.save()
    rows = sweepdir.aggregate(out_dir, record, threshold)
    sweepdir.write_sweep_csv(out_dir, paths, rows)
    if render:
        _render(driver, threshold)
    return SweepResult(out_dir, paths, record["points"], rows)


__all__ = ["SweepInterrupted", "SweepResult", "sweep"]
