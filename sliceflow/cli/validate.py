"""``sliceflow validate SCENARIO...``: check scenario files without running them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sliceflow.cli import app
from sliceflow.cli._common import USER_ERROR, console, err_console


@app.command("validate")
def validate_command(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario YAML files")],
) -> None:
    """Check scenario files (keys, values, methods, datasets, data files) without running."""
    from sliceflow._scenario_models import ScenarioError
    from sliceflow.data import make_clouds
    from sliceflow.manifolds import MANIFOLDS
    from sliceflow.scenario import load_scenario

    failed = 0
    for path in scenarios:
        try:
            scenario = load_scenario(path)
            manifold = MANIFOLDS[scenario.manifold.name](scenario.manifold.params)
            first = scenario.model_copy(update={"seeds": scenario.seeds[:1]})
            make_clouds(first, manifold, scenario.torch_dtype(), "cpu")  # files, shapes, points
        except ScenarioError as error:
            failed += 1
            err_console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
            continue
        labels = ", ".join(m.label for m in scenario.methods)
        console.print(f"[green]ok[/] {path}: {scenario.steps} steps x {len(scenario.seeds)} "
                      f"seeds, methods {labels}")  # fmt: skip
    if failed:
        raise typer.Exit(USER_ERROR)
