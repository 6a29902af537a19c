"""Closed-form maths of the JKO functionals on particles (S, n, d): KDE entropy, interaction
kernels, SW2^2 to sorted reference projections, each with its gradient (the inner loop's hot path).
"""

from __future__ import annotations

import math

import torch

from sliceflow.ot.sliced._slicing import argsort_rows, sort_rows


def pairwise_sqdist(x: torch.Tensor) -> torch.Tensor:
    """``|x_i - x_j|^2`` by explicit differences (no cancellation): (S, n, d) -> (S, n, n)."""
    return (x.unsqueeze(2) - x.unsqueeze(1)).square().sum(-1)


def kde_log_density(x: torch.Tensor, bandwidth: float | str, leave_one_out: bool) -> torch.Tensor:
    """Gaussian-kernel KDE of the particles evaluated at the particles, (S, n, d) -> (S, n).

    .. math:: \\log \\hat\\rho(x_i) = \\log \\frac{1}{n - 1} \\sum_{j \\ne i} N(x_i - x_j; 0, h^2 I)

    (``leave_one_out=False``: sum over all j, divided by n — the blob method of Carrillo, Craig
    and Patacchini (2019), the default). Leaving one out removes the self term's downward bias
    of the entropy force (O(1 / (n h^d))) but is unstable in a JKO/gradient flow: an isolated
    particle's log-density decays like -gap^2 / (2 h^2), so its repulsion grows with the gap and
    beats any quadratic potential once ``1/h^2`` exceeds its curvature; tail particles run away.
    With the self term, log rho >= log K_h(0)/n and an isolated particle feels no entropy force.
    ``"silverman"``:
    ``h = (4 / (d + 2))^{1/(d+4)} n^{-1/(d+4)} sigma``, sigma the mean per-axis std (detached).
    """
    _, n, d = x.shape
    h = _bandwidth(x, bandwidth)
    logits = -pairwise_sqdist(x) / (2 * h * h)  # (S, n, n)
    count = n
    if leave_one_out:
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        logits = logits.masked_fill(eye, -math.inf)
        count = n - 1
    log_norm = math.log(count) + 0.5 * d * torch.log(2 * math.pi * h * h).reshape(-1, 1)
    return torch.logsumexp(logits, dim=-1) - log_norm


def seedwise_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` seed by seed, (S, p, q) @ (S, q, r) -> (S, p, r).

    ``torch.bmm`` may pick another kernel (another summation order) for another batch size, e.g.
    for matrix-vector shapes; one 2D product per seed keeps a seed bit-identical alone or batched.
    """
    return torch.stack([left @ right for left, right in zip(a, b, strict=True)])


def _bandwidth(x: torch.Tensor, bandwidth: float | str) -> torch.Tensor:
    """h as a tensor broadcastable to (S, 1, 1); Silverman's rule uses the detached particles."""
    _, n, d = x.shape
    if bandwidth == "silverman":
        sigma = x.detach().std(dim=1).mean(dim=-1)  # (S,)
        return ((4 / (d + 2)) ** (1 / (d + 4)) * n ** (-1 / (d + 4)) * sigma).view(-1, 1, 1)
    return torch.as_tensor(float(bandwidth), dtype=x.dtype, device=x.device)


def kde_entropy_and_grad(
    x: torch.Tensor, bandwidth: float | str, leave_one_out: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_i log rho_h(x_i)`` (as ``kde_log_density``) per seed and its gradient in closed form.

    .. math:: \\nabla_{x_k} = -\\frac{1}{n h^2} \\sum_j K_{kj} (x_k - x_j)
              \\Big(\\frac{1}{p_k} + \\frac{1}{p_j}\\Big), \\quad p_k = \\sum_j K_{kj}

    with ``K_kj = exp(-|x_k - x_j|^2 / (2 h^2))`` (K_kk = 0 when leaving one out). x (S, n, d).
    """
    _, n, d = x.shape
    h = _bandwidth(x, bandwidth)
    x = x.detach()
    centred = x - x.mean(dim=1, keepdim=True)  # smaller norms: less cancellation below
    sq = centred.square().sum(-1)  # (S, n)
    r2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * seedwise_matmul(centred, centred.transpose(1, 2))
    kernel = torch.exp(-r2.clamp_(min=0) / (2 * h * h))  # (S, n, n)
    count = n
    if leave_one_out:
        kernel.diagonal(dim1=1, dim2=2).zero_()
        count = n - 1
    mass = kernel.sum(-1).clamp(min=torch.finfo(x.dtype).tiny)  # p_k (S, n)
    inv = 1 / mass
    log_norm = math.log(count) + 0.5 * d * torch.log(2 * math.pi * h * h).reshape(-1, 1)
    value = (mass.log() - log_norm).mean(dim=1)
    k_inv = seedwise_matmul(kernel, inv.unsqueeze(-1))  # (S, n, 1): sum_j K_kj / p_j
    k_x = seedwise_matmul(kernel, centred)  # sum_j K_kj x_j
    k_inv_x = seedwise_matmul(kernel, centred * inv.unsqueeze(-1))  # sum_j K_kj x_j / p_j
    weight = 1.0 + k_inv  # sum_j K_kj (1/p_k + 1/p_j) = 1 + sum_j K_kj / p_j
    grad = weight * centred - inv.unsqueeze(-1) * k_x - k_inv_x
    return value, -grad / (n * h * h)


def interaction_energy(x: torch.Tensor, kernel: str) -> torch.Tensor:
    """``1/(2 n (n - 1)) sum_{i != j} W(x_i - x_j)`` per seed, (S, n, d) -> (S,)."""
    n = x.shape[1]
    r2 = pairwise_sqdist(x)  # (S, n, n)
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    if kernel == "aggregation":
        pair = r2.square() / 4 - r2 / 2
    else:  # log kernel: |z|^2/2 - log|z|; the diagonal is excluded before the log
        safe = r2.masked_fill(eye, 1.0)
        pair = safe / 2 - 0.5 * torch.log(safe)
    pair = pair.masked_fill(eye, 0.0)
    return pair.sum(dim=(1, 2)) / (2 * n * (n - 1))


def interaction_energy_and_grad(x: torch.Tensor, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``interaction_energy`` and its gradient in closed form, (S, n, d) -> (S,), (S, n, d).

    .. math:: \\nabla_{x_k} = \\frac{1}{n(n-1)} \\sum_{j \\ne k} w(|x_k - x_j|^2)\\,(x_k - x_j)

    with ``w(r2) = r2 - 1`` (aggregation) or ``1 - 1/r2`` (log): ``grad W(z) = w(|z|^2) z``.
    """
    n = x.shape[1]
    x = x.detach()
    r2 = pairwise_sqdist(x)  # (S, n, n)
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    if kernel == "aggregation":
        pair, weight = r2.square() / 4 - r2 / 2, r2 - 1
    else:
        safe = r2.masked_fill(eye, 1.0)
        pair, weight = safe / 2 - 0.5 * torch.log(safe), 1 - 1 / safe
    pair, weight = pair.masked_fill(eye, 0.0), weight.masked_fill(eye, 0.0)
    grad = weight.sum(-1, keepdim=True) * x - seedwise_matmul(weight, x)
    return pair.sum(dim=(1, 2)) / (2 * n * (n - 1)), grad / (n * (n - 1))


def sorted_projections(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Sorted projections along each direction: (S, n, d), (S, L, d) -> (S, L, n).

    Sorted with NumPy on the CPU: ``torch.sort`` of many short rows is
    much slower there.
    """
    proj = seedwise_matmul(theta, x.detach().transpose(1, 2))  # (S, L, n)
    return sort_rows(proj)


def sw2_and_grad(
    x: torch.Tensor, reference_sorted: torch.Tensor, theta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """SW_2^2(x, x_ref) per seed and its gradient in ``x``, in closed form (no autograd).

    .. math:: \\nabla_{x_i} SW_2^2 = \\frac{2}{nL} \\sum_l (\\theta_l^\\top x_i -
              q_l(r_l(i)))\\,\\theta_l

    with ``r_l(i)`` the rank of ``theta_l . x_i`` and ``q_l`` the sorted reference projections
    ``reference_sorted`` (S, L, n) (same n). x (S, n, d), theta (S, L, d) -> (S,), (S, n, d).
    """
    _, n, _ = x.shape
    proj = seedwise_matmul(theta, x.detach().transpose(1, 2))  # (S, L, n)
    order = argsort_rows(proj)  # (S, L, n)
    residual_sorted = proj.gather(-1, order) - reference_sorted  # (S, L, n)
    residual = torch.empty_like(proj).scatter_(-1, order, residual_sorted)
    value = residual_sorted.square().mean(dim=(1, 2))
    grad = seedwise_matmul(residual.transpose(1, 2), theta) * (2.0 / (n * theta.shape[1]))
    return value, grad
