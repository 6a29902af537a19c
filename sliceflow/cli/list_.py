"""``sliceflow list``: methods, datasets and manifolds, one line each."""

from __future__ import annotations

from rich.markup import escape

from sliceflow.cli import app
from sliceflow.cli._common import console


@app.command("list")
def list_command() -> None:
    """List the methods, datasets and manifolds sliceflow knows."""
    from sliceflow.datasets import DATASETS
    from sliceflow.flows import FLOW_VARIANTS, FLOWS, known_flows
    from sliceflow.manifolds import MANIFOLDS

    console.print("[bold]methods[/]")
    for name in known_flows():
        cls = FLOWS.get(name) or next(c for (n, _), c in FLOW_VARIANTS.items() if n == name)
        where = ", ".join(sorted(cls.manifolds)) if name in FLOWS else ""
        if where:
            console.print(f"  {name:<22} {escape(cls.summary)} [dim]({where})[/]")
        for (variant, manifold), other in sorted(FLOW_VARIANTS.items()):
            if variant == name:
                console.print(f"  {name:<22} {escape(other.summary)} [dim]({manifold})[/]")
    console.print("[bold]datasets[/]")
    for name, dataset in sorted(DATASETS.items()):
        where = ", ".join(sorted(dataset.manifolds))
        console.print(f"  {name:<22} {escape(dataset.summary)} [dim]({where})[/]")
    console.print("[bold]manifolds[/]")
    for name, cls in sorted(MANIFOLDS.items()):
        console.print(f"  {name:<22} {escape(cls.summary)}")
