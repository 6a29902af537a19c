"""Fingerprints of every shipped scenario, short: proof that a refactor keeps the numbers.

Runs each scenario of ``scenarios/`` with few steps and seeds (``--steps``, ``--seeds``: every
method, every seed batched, the scenario's own settings otherwise), writes the run folder without
figures, and prints one SHA-256 per scenario over everything the run computed: the trace (less
its ``elapsed_s`` column), the summary, metrics, weights and sampling tables, and every array of
``particles.npz`` and ``final.npz``. Run it on two commits and compare::

    python benchmarks/fingerprint.py --json old.json              # on the old commit
    python benchmarks/fingerprint.py --json new.json --against old.json

Equal digests mean bit-identical numbers. ``PYTHONPATH=<other checkout>`` runs another commit's
package from the same environment.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("trace.csv", "summary.csv", "metrics.csv", "weights.csv", "sampling.csv")
ARRAYS = ("particles.npz", "final.npz")
SKIP_COLUMNS = {"elapsed_s"}


def table_digest(path: Path, digest) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    if not rows:
        return
    keep = [i for i, name in enumerate(rows[0]) if name not in SKIP_COLUMNS]
    for row in rows:
        digest.update(",".join(row[i] for i in keep if i < len(row)).encode() + b"\n")


def array_digest(path: Path, digest) -> None:
    with np.load(path, allow_pickle=False) as data:
        for name in sorted(data.files):
            array = np.ascontiguousarray(data[name])
            digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
            digest.update(array.tobytes())


def fingerprint(scenario: Path, steps: int, seeds: int) -> tuple[str, float]:
    from sliceflow.engine import run

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run(scenario, out=Path(folder) / "run", steps=steps, seeds=seeds, render=False,
            force=True)  # fmt: skip
        seconds = time.perf_counter() - start
        digest = hashlib.sha256()
        for name in (*TABLES, *ARRAYS):
            path = Path(folder) / "run" / name
            if not path.exists():
                continue
            digest.update(name.encode())
            (table_digest if name.endswith(".csv") else array_digest)(path, digest)
    return digest.hexdigest(), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenario names (default: all shipped)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--scenarios", type=Path, default=ROOT / "scenarios")
    parser.add_argument("--json", type=Path, help="write the digests here")
    parser.add_argument("--against", type=Path, help="compare with digests written earlier")
    args = parser.parse_args()
    files = sorted(args.scenarios.glob("*.yaml"))
    if args.names:
        files = [f for f in files if f.stem in args.names]
    old = json.loads(args.against.read_text()) if args.against else {}
    found, differ = {}, 0
    for path in files:
        digest, seconds = fingerprint(path, args.steps, args.seeds)
        found[path.stem] = digest
        verdict = ""
        if path.stem in old:
            same = old[path.stem] == digest
            differ += not same
            verdict = "  same" if same else "  DIFFERENT"
        print(f"{path.stem:32s} {digest[:16]}  {seconds:7.2f} s{verdict}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
