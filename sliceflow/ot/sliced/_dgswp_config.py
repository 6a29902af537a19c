"""The parameters of DGSWP, one name each, shared by every user of :class:`DGSWPSolver`.

The particle flows (Euclidean and Poincaré ball), the plan task and the flow-matching coupling
validate their scenario entries with this one model (mixed with their own base config, which
adds the task's keys, such as a flow's particle ``lr``). A task whose paper uses other settings
derives a variant that changes defaults only (:meth:`DGSWPConfig.with_defaults`), so a parameter
has one name, one meaning and one validation everywhere.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from sliceflow.ot._config import SolverConfig

Projection = Literal["linear", "mlp", "busemann"]

# Keys a projection family has no use for must keep their defaults (a silent no-op would hide
# a mistake; a full dump of a config, defaults included, still validates). ``hidden`` stays
# free with ``linear``, as it always was.
WHY_UNUSED = {
    "kappa": "it is the von Mises-Fisher concentration of projection busemann (perturbation "
    "vmf); use eps",
    "eps": "projection busemann perturbs its ideal point by von Mises-Fisher noise; use kappa, "
    "or perturbation: gaussian (of scale eps)",
    "hidden": "projection busemann has no hidden layers",
    "perturbation": "linear and mlp models are always perturbed by Gaussian noise of scale eps; "
    "perturbation chooses the noise of busemann's ideal point",
    "init": "init chooses the initialisation of an mlp (a linear model starts at nn.Linear's "
    "default, busemann at an ideal point uniform on the sphere)",
}


def unused_keys(projection: str, perturbation: str) -> tuple[str, ...]:
    """The keys the family ``projection`` (with this ``perturbation``) has no use for."""
    if projection == "busemann":
        return ("hidden", "init", "eps" if perturbation == "vmf" else "kappa")
    return ("kappa", "perturbation") + (("init",) if projection == "linear" else ())


class DGSWPConfig(SolverConfig):
    """DGSWP on any projection: the model, its perturbations, the estimator and the optimiser.

    .. math:: h(\\phi) = \\frac1n \\sum_i c\\big(x_{\\sigma_\\phi(i)}, y_{\\tau_\\phi(i)}\\big),
              \\qquad \\phi \\leftarrow \\mathrm{step}\\big(\\phi, \\widehat\\nabla
              h_{\\text{smooth}}(\\phi)\\big)

    ``projection`` names the family: ``linear`` or ``mlp`` models on R^d (Gaussian smoothing of
    scale ``eps``, Stein's estimator, ``sgd`` or ``adam``; an mlp starts at ``init``) or
    ``busemann`` on the Poincaré ball (a learned ideal point, Riemannian ``sgd`` on the sphere,
    smoothed by ``perturbation``: von Mises-Fisher of concentration ``kappa`` with the score
    estimator, or the authors' code's Gaussian ``p + eps Z`` with Stein's estimator). Unknown
    keys are rejected, and so are other values than the defaults for keys the chosen family has
    no use for. ``projections``: the families a user of the config offers (a flow in R^d:
    linear and mlp; the ball's: busemann).
    """

    projections: ClassVar[tuple[str, ...]] = ("linear", "mlp", "busemann")

    projection: Projection = Field(
        "linear", description="projection model: linear or mlp on R^d, busemann on the ball"
    )
    hidden: int | list[int] = Field(
        256, description="hidden width(s) of the mlp: one width or a list, e.g. [64, 16]"
    )
    n_perturbations: int = Field(10, gt=0, description="perturbations N per solver step")
    eps: float = Field(0.05, gt=0, description="Gaussian smoothing scale of the parameters")
    kappa: float = Field(
        400.0, gt=0, description="von Mises-Fisher concentration (busemann; 1 / eps^2, eps 0.05)"
    )
    perturbation: Literal["vmf", "gaussian"] = Field(
        "vmf",
        description="noise on busemann's ideal point: vmf (concentration kappa, the paper's "
        "text) or gaussian (p + eps Z, not renormalised, Stein's estimator: the authors' code)",
    )
    init: Literal["he", "torch_default"] = Field(
        "he",
        description="mlp initialisation: he (Kaiming normal weights) or torch_default "
        "(nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the authors' code); biases uniform",
    )
    variance_reduction: bool = Field(
        True, description="subtract h at the current model in the estimator (the paper's Eq. 8)"
    )
    optimizer: Literal["sgd", "adam"] = Field(
        "adam", description="optimiser of the projection (busemann: Riemannian sgd)"
    )
    inner_lr: float = Field(0.01, gt=0, description="learning rate of the projection")
    keep_best: bool = Field(False, description="keep the iterate with the lowest plan cost")

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, value: int | list[int]) -> int | list[int]:
        widths = [value] if isinstance(value, int) else value
        if not widths or any(width <= 0 for width in widths):
            raise ValueError("hidden widths must be positive integers, e.g. 256 or [64, 16]")
        return value

    @model_validator(mode="after")
    def _fits_the_projection(self) -> DGSWPConfig:
        if self.projection not in self.projections:
            raise ValueError(
                f"projection {self.projection} does not apply here (busemann runs on the "
                f"Poincaré ball, linear and mlp in R^d); use {' or '.join(self.projections)}"
            )
        fields = type(self).model_fields
        for key in unused_keys(self.projection, self.perturbation):
            if getattr(self, key) != fields[key].default:
                raise ValueError(
                    f"{key} does not apply to projection {self.projection}: {WHY_UNUSED[key]}"
                )
        if self.projection == "busemann" and self.optimizer != "sgd":
            raise ValueError(
                "projection busemann moves its ideal point by Riemannian SGD on the sphere: "
                "set optimizer: sgd"
            )
        return self

    @classmethod
    def with_defaults(
        cls,
        name: str,
        defaults: dict[str, Any],
        *,
        module: str,
        bases: tuple[type[BaseModel], ...] = (),
        projections: tuple[str, ...] | None = None,
        doc: str | None = None,
    ) -> type[DGSWPConfig]:
        """:meth:`SolverConfig.with_defaults`, also narrowing the accepted ``projections``
        (default: this class's)."""
        namespace = {"projections": cls.projections if projections is None else projections}
        return super().with_defaults(
            name, defaults, module=module, bases=bases, doc=doc, namespace=namespace
        )
