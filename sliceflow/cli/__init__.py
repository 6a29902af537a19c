"""The ``sliceflow`` command: a typer app whose commands live in one thin module each.

Every module of this package whose name does not start with ``_`` registers its command on
``app`` when imported. Heavy modules (torch, matplotlib) are imported inside command bodies, so
``sliceflow --help`` is instant.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="sliceflow",
    help="Sliced-Wasserstein particle flows in Euclidean space and on the Poincaré ball.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _import_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_commands()


def main() -> None:
    app()
