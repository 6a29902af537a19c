"""Rendering cost of a run's report against the run's own compute time (one process).

Runs a scenario once (default: scenarios/two_moons.yaml, the paper's setting: 10 seeds x
{swd, max_sw} x 2000 steps) without rendering, then renders its report with the default output
options several times and prints the medians, each part's share, the GIF sizes, and the ratio
render / compute with compute = the sum of the methods' elapsed_s (scenario.yaml run.elapsed_s)
and, for reference, the run's whole wall time (which also counts the exact W2 traces).
Targets: every GIF under 5 MB; render under 20% of the compute time.

    python benchmarks/bench_report.py [SCENARIO] [--steps N] [--repeats R] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _parts() -> dict[str, float]:
    """Wrap the report's stages to time them (cumulative seconds per stage)."""
    import sliceflow.report.document as document
    import sliceflow.report.gif as gif
    import sliceflow.report.style as style

    spent: dict[str, float] = {}

    def wrap(module, name: str, key: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - start

        setattr(module, name, timed)

    wrap(gif, "render_frames", "GIF frames (draw)")
    wrap(gif, "write_gif", "GIF encoding")
    wrap(style, "save_figure", "static figures (save)")
    wrap(document, "write_documents", "report.md/.html")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "two_moons.yaml"))
    parser.add_argument("--steps", type=int, default=None, help="override the scenario's steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: temp)")
    args = parser.parse_args()

    import sliceflow
    from sliceflow.report import render_run

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_report_"))
    start = time.perf_counter()
    sliceflow.run(args.scenario, out=out, steps=args.steps, render=False)
    wall = time.perf_counter() - start
    run_info = yaml.safe_load((out / "scenario.yaml").read_text())["run"]
    compute = sum(run_info["elapsed_s"].values())

    spent = _parts()
    times, shares = [], []
    for _ in range(args.repeats):
        spent.clear()
        start = time.perf_counter()
        written = render_run(out)
        times.append(time.perf_counter() - start)
        shares.append(dict(spent))
    render = statistics.median(times)

    print(f"scenario {args.scenario} -> {out}")
    print(f"run: wall {wall:.2f} s, compute (sum of elapsed_s) {compute:.2f} s")
    print(f"render (default options), median of {args.repeats}: {render:.2f} s "
          f"[{', '.join(f'{t:.2f}' for t in times)}]")  # fmt: skip
    for key in shares[0]:
        print(f"  {key:24s} {statistics.median(s.get(key, 0.0) for s in shares):6.2f} s")
    print(f"render / compute: {100 * render / compute:.1f} %  (target < 20 %)")
    print(f"render / run wall time: {100 * render / wall:.1f} %")
    for path in written:
        if path.suffix == ".gif":
            from PIL import Image

            image = Image.open(path)
            size_mb = path.stat().st_size / 2**20
            print(f"  {path.name:22s} {size_mb:5.2f} MB  {image.n_frames} frames  {image.size}"
                  f"  (target < 5 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
