"""The base of the continuous limits: one module, one convention, as for the network.

    ode   dH/dt = s(t) V(t) g(H, W(t)),             V(t) = X(t) / sqrt(M)     (:class:`reslimit.ode.NeuralODE`)
    sde   dH_t = s(t) dX_t g(H_t, W(t)) / sqrt(M),  X Brownian or fBm         (:class:`reslimit.sde.NeuralSDE`)

for t in [0, 1], H_0 = h_0, X the ``outer`` path (d x M), W(t) = X_inner(t) / sqrt(d) the ``inner`` one (M x d;
res-2, res-3), M the hidden width (``hidden``; M = d unless given, and always for res-1), g
the block's map and s = 1 without ``scale``. A limit takes the keywords of :class:`reslimit.ScaledResNet`, with
its defaults (block "res1", activation None: the block's ``default_activation``), and answers the same
``solve(h0, ts)``: H at the times ts, shape (len(ts), E, n, d); calling it is solving it. Each subclass names
its vector field ``field`` and the limits (keys of :data:`reslimit.limits.LIMITS`) it solves, ``limits``: the
``limit`` of the outer paths it takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch

from . import _checks, _memory
from ._types import ActivationSpec, Device, States, Times
from .blocks import get_block
from .paths import WeightPath, check_limit_paths
from .paths.base import OnPaths

Tensor = torch.Tensor


class ContinuousLimit(OnPaths):
    """A continuous-depth limit of a scaled ResNet on weight paths (see the module's docstring).

    Args:
        block, activation, outer, inner, device: as for :class:`reslimit.ScaledResNet` (outer and inner are
            required to drive a limit: ``outer`` a path of one of ``limits``, ``inner`` a smooth one for res-2 and
            res-3); ``net.to(device)`` moves the paths too.
        hidden: M, the hidden width of res-2 and res-3, as for :class:`reslimit.ScaledResNet`: ``outer`` must then
            be d x M (``cols=M``) and ``inner`` M x d; None: M = d, square paths.
        steps: N, a fixed step 1/N and the grid k/N of :meth:`trajectory`; None where the solver chooses.
        scale: a function t -> s(t) multiplying the right-hand side; None: s = 1.
    """

    limits: ClassVar[tuple[str, ...]] = ()
    _where: Tensor  # a buffer: the module's device and dtype

    def __init__(self, *, block: str = "res1", activation: ActivationSpec | None = None, outer: WeightPath,
                 inner: WeightPath | None = None, steps: int | None = None, device: Device | None = None,
                 scale: Callable[[float], float] | None = None, hidden: int | None = None):
        super().__init__()
        self.block = get_block(block, activation)
        drives = getattr(outer, "limit", None)  # a path of another limit is refused for the first of ours
        check_limit_paths(drives if drives in self.limits else self.limits[0], self.block, outer, inner)
        self.hidden = _checks.hidden(hidden, outer.width, self.block)
        if outer.cols != self.hidden:
            raise ValueError(f"outer must be width x hidden = {outer.width} x {self.hidden} "
                             f"(hidden={hidden!r}); got {outer.width} x {outer.cols}")
        self.outer, self.inner = outer.to(device), None if inner is None else inner.to(device)
        self.steps = None if steps is None else solver_steps(steps)
        if scale is not None and not callable(scale):
            raise ValueError(f"scale must be a callable t -> s(t) or None; got {scale!r}")
        self.scale = scale
        self._track_paths()

    width = property(lambda self: self.outer.width)

    def extra_repr(self) -> str:
        return f"block={self.block!r}, outer={self.outer!r}, inner={self.inner!r}, steps={self.steps}"

    def scaled(self, field: Tensor, t: float) -> Tensor:
        """s(t) ``field`` (``field`` itself without ``scale``); a ValueError naming scale if s(t) is not a finite
        real (the solvers would step to NaN times)."""
        if self.scale is None:
            return field
        value = self.scale(t)
        try:
            s = float(value)
        except (TypeError, ValueError):
            s = math.nan
        if not math.isfinite(s):
            raise ValueError(f"scale must return a finite real s(t); got scale({t!r}) = {value!r}")
        return field * s

    def inner_weights(self, t: float) -> Tensor | None:
        """W(t) = X_inner(t) / sqrt(d), shape (E, M, d); None without inner weights (res-1)."""
        return None if self.inner is None else self.inner.evaluate(t) / self.inner.cols**0.5

    def _require_states(self, count: int, h0: Tensor) -> None:
        """Refuse, before the solve, ``count`` states H of the shape of h0 (E, n, d) that would not fit in memory
        (twice: the solver's list of states and their stack)."""
        E, n, d = h0.shape
        _memory.require(2 * count * E * n * d * h0.element_size(), "the states H at the times ts (2 x len(ts) x "
                        "ensemble x batch x width)", f"len(ts)={count} with batch={n}",
                        "ask for fewer times (a larger every) or a smaller batch", h0.device)

    def forward(self, h0: States, ts: Times) -> Tensor:
        """:meth:`solve`: ``limit(h0, ts)`` is ``limit.solve(h0, ts)``."""
        return self.solve(h0, ts)

    def solve(self, h0: States, ts: Times) -> Tensor:
        """H at the times ``ts`` from H(0) = ``h0``: shape (len(ts), E, n, d), as ``ScaledResNet.solve``."""
        raise NotImplementedError

    def trajectory(self, h0: States, every: int = 1) -> Tensor:
        """H at the times k * every / steps, k = 0..steps/every (``every`` divides ``steps``), as :meth:`solve`."""
        if self.steps is None:
            raise ValueError(f"steps must be given ({type(self).__name__}(..., steps=N)) for a trajectory on the "
                             "grid k/N")
        return self.solve(h0, _checks.every_times(self.steps, every, self.dtype, self.device))


def solver_steps(steps) -> int:
    """``steps`` as the number N of steps of a fixed-step solve, a positive integer; a ValueError naming steps when
    the solve would take more than :data:`reslimit._memory.MAX_STEPS` of them (each a few Python calls)."""
    steps = _checks.positive_int("steps", steps)
    _memory.require_steps(steps, "the fixed-step solve (a solver step a step)", f"steps={steps}",
                          "use fewer steps (a coarser fixed step 1/steps)")
    return steps
