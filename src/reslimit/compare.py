"""The comparator's primitives: a depth-L network beside its continuous limit on the same path.

For a weight path (an independent draw per sample m), inputs h_0 of unit norm and targets y:

    path error      e_L = max_k ||H_{k/L} - h_k||       terminal error   ||H_1 - h_L||
    gradient error  ||P_0 - p_0||   with p the network's adjoint and P that of the limit, both for the
                    loss 1/2 ||h_L - y||^2 (resp. 1/2 ||H_1 - y||^2),

with H the limit's reference solve (:func:`solve_reference`, with its adjoint :func:`reference`) on a grid finer
than the largest depth, read at the layers of each depth (:func:`path_errors`, :func:`path_error`,
:func:`depth_errors`). The study over depths that fits the rate is :func:`reslimit.studies.converge.converge`
(the other studies comparing a network with a limit call these primitives too); the rate fit is
:func:`reslimit.rates.fit_rate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import _checks, _memory
from .continuous import ContinuousLimit
from .custom import CustomBlock, CustomODE, CustomResNet, CustomSDE, limit_of
from .limits import Limit
from .paths import WeightPath
from .resnet import ScaledResNet


def hidden_of(blk, outer: WeightPath) -> int | None:
    """The hidden width M the paths give a network of the block ``blk``: outer's columns (outer is d x M) for a
    block with inner weights, None (no hidden width) for one without."""
    return outer.cols if blk.inner else None


def solve_reference(limit: Limit, blk, outer, inner, h0, top: int, factor: int,
                    scale: Callable[[float], float] | None = None) -> torch.Tensor:
    """H at t = k/top, k = 0..top, (top+1, E, n, d): the limit's solver (``limit.solver``) for the block ``blk`` on
    the paths (outer d x M, inner M x d: the hidden width :func:`hidden_of` them), from h0, with its reference method
    (ode: torchdiffeq's rk4; sde: Euler-Maruyama; fbm: Heun), the step 1/(top factor) and the ``scale`` s(t) of its
    right-hand side (None: 1). Differentiable in h0.

    For a user's :class:`reslimit.CustomBlock` ``outer`` is its :class:`reslimit.custom.BlockPaths` (``inner``
    None): the solver is :class:`reslimit.custom.CustomODE` on smooth paths, :class:`reslimit.custom.CustomSDE`
    with a Brownian ``linear`` parameter (:func:`reslimit.custom.limit_of`), neither taking a ``scale``."""
    if isinstance(blk, CustomBlock):
        if scale is not None or inner is not None:
            raise ValueError(f"a user block ({blk.name}) reads every parameter from outer, its BlockPaths, and its "
                             "limit takes no scale: give inner=None and scale=None")
        solver: CustomODE | CustomSDE | ContinuousLimit = limit_of(blk, outer, method=limit.method,
                                                                   steps=top * factor)
    else:
        solver = limit.solver(block=blk.name, activation=blk.activation, outer=outer, inner=inner,
                              method=limit.method, steps=top * factor, scale=scale, hidden=hidden_of(blk, outer))
    return solver.solve(h0, torch.arange(top + 1, dtype=h0.dtype, device=h0.device) / top)


def reference(limit: Limit, blk, outer, inner, h0, target, top, factor):
    """H at t = k/top, (top+1, M, 1, d) (:func:`solve_reference`), and the limit's adjoint
    P_0 = d(1/2 ||H_1 - y||^2)/dh_0.

    P_0 is obtained by backpropagation through the solver -- with a fixed step, since backpropagating through
    dopri5's step-size control gave gradients off by 1e-2 (res-2, tanh, d = 16) where rk4 agrees with itself at
    half the step to 2e-11.
    """
    x = h0.clone().requires_grad_(True)
    H = solve_reference(limit, blk, outer, inner, x, top, factor)
    (P0,) = torch.autograd.grad(((H[-1] - target) ** 2).sum() / 2, x)
    return H.detach(), P0


def reference_grid(depths: Sequence[int], factor: int) -> tuple[int, int]:
    """(G, N): the grid k/G, G = lcm(depths), the reference is read on (every depth's layers k/L lie on it), and
    its solver steps N = G ceil(max(depths) x factor / G), the least multiple of G at least max(depths) x factor.
    When every depth divides the largest, G is the largest and N = max(depths) x factor."""
    grid = math.lcm(*depths)
    return grid, grid * -(-depths[-1] * factor // grid)


def check_size(limit: Limit, depths, factor, samples, width, dtype, inner, device, name="samples",
               hidden: int | None = None) -> None:
    """Refuse, before any computing, a reference solve (of ``samples`` paths, as ``name`` says) that cannot fit in
    the memory of ``device`` or would run for hours; weights of width x ``hidden`` (None: width x width). The
    solve has the N steps of :func:`reference_grid`."""
    top, (grid, steps) = depths[-1], reference_grid(depths, factor)
    sizes = f"depths up to {top} x reference_factor={factor}"
    if grid != top:
        sizes = (f"depths {list(depths)} (whose grids meet at lcm {grid}: {steps} reference steps) with "
                 f"reference_factor={factor}")
    _memory.require_steps(steps + 2 * sum(depths), "the reference solve and the networks", sizes,
                          "use smaller depths or reference_factor, or depths with a small common multiple "
                          "(each dividing the largest: 8:1024:x2)")
    per_step = limit.reference_bytes * (2 if inner else 1) * dtype.itemsize * samples * width * (hidden or width)
    _memory.require(steps * per_step, "the reference solve and its backpropagation",
                    f"{sizes} with {name}={samples}, width={width}",
                    f"at most {_memory.affordable(per_step, device)} reference steps fit: use smaller depths, "
                    f"reference_factor, {name} or width", device)


def check_depths(depths) -> list[int]:
    try:
        depths = sorted(set(depths))
    except TypeError:
        raise ValueError(f"depths must be a list of positive integers; got {depths!r}") from None
    for L in depths:
        _checks.positive_int("depths", L)
    if len(depths) < 3:
        raise ValueError(f"depths must hold at least 3 distinct depths to fit a rate; got {depths}")
    return depths


def path_errors(H: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """||H_{k/L} - h_k|| for k = 0..L: the reference H on its grid of ``top`` steps, (top+1, ..., d), read every
    top/L steps, against the depth-L states h, (L+1, ..., d); shape (L+1, ...). Its max over k is the path error
    e_L = max_k ||H_{k/L} - h_k||, its last row the terminal error ||H_1 - h_L||."""
    top, L = H.shape[0] - 1, h.shape[0] - 1
    if L < 1 or top % L:
        raise ValueError(f"h must have L + 1 states with L dividing the reference's {top} steps; got {L + 1} states")
    return (H[:: top // L] - h).norm(dim=-1)


def path_error(H: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """e_L = max_k ||H_{k/L} - h_k||, the max over the layers of :func:`path_errors`: shape ``h.shape[1:-1]``
    (one error per ensemble member and input)."""
    return path_errors(H, h).amax(0)


def depth_errors(H: torch.Tensor, h0: torch.Tensor, depths: Sequence[int],
                 network: Callable[[int], ScaledResNet]) -> np.ndarray:
    """e_L = max_k ||H_{k/L} - h_k|| for each depth L of ``depths``, h the trajectory of ``network(L)`` from h0
    (no graph recorded), against the reference H on the grid of the largest depth: shape (K, E, n), on the CPU."""
    with torch.no_grad():
        return np.stack([path_error(H, network(L).trajectory(h0)).cpu().numpy() for L in depths])


def measure(limit: Limit, blk, outer, inner, h0, target, depths, factor) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
    """(path, terminal, gradient) errors, each (K, M), of the networks of ``depths`` on ``outer``/``inner``
    against the limit's reference (:func:`reference`) from the inputs h0 (M, 1, d) and targets y: the reference
    once, in the N steps of :func:`reference_grid` (the largest depth x ``factor`` when every depth divides it) and
    read on the grid of the depths' lcm, then every depth's network on the same path (of the hidden width
    :func:`hidden_of` the paths).

    ``blk`` may be a user's :class:`reslimit.CustomBlock`, with ``outer`` its
    :class:`reslimit.custom.BlockPaths` (smooth paths, or a Brownian one for its ``linear`` parameter) and
    ``inner`` None: the networks are then :class:`reslimit.custom.CustomResNet`, their adjoint autograd's."""
    width, samples = h0.shape[-1], h0.shape[0]
    grid, steps = reference_grid(depths, factor)
    H, P0 = reference(limit, blk, outer, inner, h0, target, grid, steps // grid)  # H: (grid+1, M, 1, d)
    path_err, term_err, grad_err = (np.empty((len(depths), samples)) for _ in range(3))
    for i, L in enumerate(depths):
        net = (CustomResNet(L, width, blk, beta=outer.natural_beta, paths=outer) if isinstance(blk, CustomBlock)
               else ScaledResNet(L, width, beta=outer.natural_beta, block=blk.name, activation=blk.activation,
                                 outer=outer, inner=inner, stream=True, hidden=hidden_of(blk, outer)))
        with torch.no_grad():
            h = net.trajectory(h0)
            p = net.adjoint(h0, h[-1] - target, every=L)
        diff = path_errors(H, h)[..., 0]  # (L+1, M)
        path_err[i] = diff.max(0).values.cpu().numpy()
        term_err[i] = diff[-1].cpu().numpy()
        grad_err[i] = (P0 - p[0]).norm(dim=-1)[:, 0].cpu().numpy()
    return path_err, term_err, grad_err
