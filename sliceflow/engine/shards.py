"""Seed sharding: a run's seeds split into K runs, merged back into the one run folder.

Seeds never interact (each has its own data streams and its own torch.Generator, and a seed gives
the same bits alone or inside a batch), so the shards' rows, snapshots and per-seed counters put
side by side are the unsharded run's. The merge reads each shard's checkpoint (the exact values
in memory, no text round trip), builds the book of the full run (its task gives the shared arrays
such as the targets) and writes it through the run-directory contract. What differs from an
unsharded run is timing only: ``elapsed_s`` and the ``run`` section's timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sliceflow import rundir
from sliceflow.errors import RunDirError


def seed_chunks(seeds: list[int], shards: int) -> list[list[int]]:
    """``seeds`` in at most ``shards`` contiguous chunks of near-equal size (none empty)."""
    shards = max(1, min(shards, len(seeds)))
    bounds = np.linspace(0, len(seeds), shards + 1).round().astype(int)
    return [list(seeds[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def shard_name(chunk: list[int]) -> str:
    return f"seeds-{chunk[0]}-{chunk[-1]}-{len(chunk)}"


def is_complete(out_dir: Path, scenario) -> bool:
    """True if ``out_dir`` holds the finished run of exactly ``scenario`` (its scenario.yaml
    says every method completed its steps, and the numbers-setting keys are the scenario's)."""
    import yaml

    from sliceflow.engine.book import scenario_identity

    path = Path(out_dir) / rundir.SCENARIO_FILE
    if not (Path(out_dir) / rundir.TRACE_FILE).is_file() or not path.is_file():
        return False
    try:
        saved = rundir.read_scenario(path)
    except RunDirError:
        return False
    run = saved.get("run") if isinstance(saved.get("run"), dict) else {}
    done = run.get("completed_steps")
    if run.get("interrupted") is not False or not isinstance(done, dict):
        return False
    if any(done.get(label) != scenario.steps for label in scenario.labels):
        return False
    expected = yaml.safe_load(yaml.safe_dump(scenario_identity(scenario), sort_keys=False))
    return {k: v for k, v in saved.items() if k not in ("run", "output")} == expected


def merge_shards(scenario, shard_dirs: list[Path], out_dir: Path, device: str) -> None:
    """Write the run folder of ``scenario`` from the finished runs of its seed chunks."""
    import torch

    from sliceflow.engine.book import RunBook
    from sliceflow.tasks import get_task

    saved = [rundir.read_checkpoint(Path(d) / rundir.CHECKPOINT_FILE) for d in shard_dirs]
    task = get_task(scenario.task)(scenario, torch.device("cpu"))
    book = RunBook(task, Path(out_dir), device)
    labels = scenario.labels
    book.rows = [row for part in saved for row in part["rows"]]
    book.metric_rows = [row for part in saved for row in part["metric_rows"]]
    book.table_rows = {name: [r for part in saved for r in part["table_rows"][name]]
                       for name in task.tables}  # fmt: skip
    for label in labels:  # snapshots (K, S, ...): seeds on axis 1
        merged = np.concatenate([np.asarray(part["particles"][label]) for part in saved], axis=1)
        if merged.shape != book.particles[label].shape:
            raise RunDirError(f"{out_dir}: shard snapshots of {label!r} do not add up; re-run")
        book.particles[label] = merged
        book.completed[label] = min(int(part["completed"][label]) for part in saved)
        book.elapsed[label] = float(sum(part["elapsed"][label] for part in saved))
        book.info[label] = _merge_counters([part["info"].get(label, {}) for part in saved])
    starts = [start for start in map(_started, shard_dirs) if start is not None]
    book.started = min(starts) if starts else book.started
    book.flush(force=True)


def _merge_counters(parts: list[dict[str, list]]) -> dict[str, Any]:
    """Per-seed counters (name -> list over the shard's seeds) put end to end."""
    names = list(parts[0]) if parts else []
    return {name: [value for part in parts for value in part[name]] for name in names}


def _started(shard_dir: Path):
    from datetime import datetime

    run = rundir.read_scenario(Path(shard_dir) / rundir.SCENARIO_FILE).get("run")
    try:
        return datetime.fromisoformat(str(run.get("started")))
    except (AttributeError, ValueError):
        return None


__all__ = ["is_complete", "merge_shards", "seed_chunks", "shard_name"]
