"""Neural SDE (and the fBm-driven Young equation) on a weight path, solved with torchsde.

    dH_t = (std / sqrt(M)) dX_t g(H_t, W(t)),    H_0 = h_0,    t in [0, 1],

where X is the ``outer`` path (columns convention: dX_t is a d x M matrix acting on g in R^M; M the hidden width,
d by default). For a Brownian X
this is the Ito SDE that a scaled ResNet with i.i.d. Gaussian weights and beta = 1/2 discretises
(Marion et al. 2022, Prop. 4): the network *is* its Euler-Maruyama scheme on the grid k/L, with strong
order 1/2 (Kloeden & Platen 1992, Thm 10.2.2). For fractional Brownian X with H > 1/2 it is a Young
equation, the limit at beta = H, whose Euler scheme has order 2H - 1 (Neuenkirch & Nourdin 2007); its
reference is computed with torchsde's Heun scheme (a Stratonovich scheme, exact in the Young regime).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchsde

from . import _checks
from ._types import ActivationSpec, Device, States, Times
from .continuous import ContinuousLimit, solver_steps
from .paths import WeightPath

Tensor = torch.Tensor
_CHUNK = 512  # grid increments read from the path at a time
METHODS = {"ito": "euler", "stratonovich": "heun"}  # the default scheme for the outer path's sde_type


class PathBrownian(torchsde.BaseBrownian):
    """A reslimit increments path handed to torchsde as its Brownian motion, on the grid k / steps.

    ``bm(ta, tb)`` returns X(tb) - X(ta) for grid times ta < tb, one (d*M)-vector per row of torchsde's
    2-D state: the ensemble member's increment repeated for each of its ``batch`` inputs, so that inputs
    of one member share their weights. Increments are read from the path ``_CHUNK`` grid steps at a time
    and cached, so a fixed-step solve costs one pass over the path.
    """

    __slots__ = ("path", "steps", "batch", "_start", "_values")
    _values: Tensor | None  # the cached chunk of grid values, from index _start
    levy_area_approximation = "none"

    def __init__(self, path: WeightPath, steps: int, batch: int):
        self.path, self.steps, self.batch = path, steps, batch
        self._start, self._values = -1, None

    shape = property(lambda self: (self.path.ensemble * self.batch, self.path.width * self.path.cols))
    dtype = property(lambda self: self.path.dtype)
    device = property(lambda self: self.path.device)

    def _increment(self, i: int, j: int) -> Tensor:
        """X(j / steps) - X(i / steps), shape (E, d, M), from the cached chunk of grid values."""
        if self._values is None or not (self._start <= i and j < self._start + len(self._values)):
            self._start = i
            stop = min(self.steps, max(j, i + _CHUNK))
            self._values = self.path.evaluate(np.arange(i, stop + 1) / self.steps)
        return self._values[j - self._start] - self._values[i - self._start]

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        if tb is None or return_U or return_A:
            raise ValueError("PathBrownian gives increments bm(ta, tb) only, without space-time or Levy areas")
        i, j = (int(round(float(t) * self.steps)) for t in (ta, tb))
        E, size = self.path.ensemble, self.path.width * self.path.cols
        dx = self._increment(i, j).reshape(E, 1, size)
        return dx.expand(E, self.batch, size).reshape(E * self.batch, size)

    def __repr__(self) -> str:
        return f"PathBrownian({self.path!r}, steps={self.steps}, batch={self.batch})"


class _TorchsdeTerm(torch.nn.Module):
    """torchsde's view of the equation on ``batch`` inputs: zero drift and g_prod(t, y, dX) = the limit's
    ``field``, on torchsde's 2-D states (E * batch, d) and increments (E * batch, d * M)."""

    noise_type = "general"

    def __init__(self, limit: NeuralSDE, batch: int):
        super().__init__()
        self.limit, self.batch, self.sde_type = limit, batch, limit.outer.sde_type

    def f(self, t, y):
        return torch.zeros_like(y)

    def g_prod(self, t, y, v):
        E, n, d, M = self.limit.ensemble, self.batch, self.limit.width, self.limit.hidden
        return self.limit.field(t, y.view(E, n, d), v.view(E, n, d, M)).view(E * n, d)

    def f_and_g_prod(self, t, y, v):
        return self.f(t, y), self.g_prod(t, y, v)


class NeuralSDE(ContinuousLimit):
    """The continuous-depth limit dH = (1/sqrt M) dX_t g(H, W(t)) of a ResNet on an increments path.

    Args:
        block, activation, outer, inner, device: as for :class:`reslimit.ScaledResNet` (activation None: the
            block's default); ``outer`` a :class:`Brownian` path (Ito SDE) or a :class:`FractionalBrownian` one
            with hurst > 1/2 (Young equation), ``inner`` a smooth path for W(t) (res2, res3) or None.
        hidden: M, the hidden width (``outer`` d x M, ``inner`` M x d); None: M = d.
        steps: N, the fixed step 1/N on the path's own grid k/N (or give it to :meth:`solve`).
        method: torchsde's fixed-step method; None for the scheme of the path's ``sde_type`` (:data:`METHODS`):
            Euler-Maruyama ("euler") for the Ito SDE of a Brownian path, Heun ("heun") for the Stratonovich (Young)
            equation of an fBm one.
        scale: a function t -> s(t) multiplying the diffusion, dH = s(t) dX_t g(H, W(t)) / sqrt(d), read at the
            left end of each step (Ito). With stochastic depth (``ScaledResNet(..., survival=p)``, beta = 1/2 on a
            Brownian path) the evaluation-mode network is the Euler-Maruyama scheme of this SDE with s = p, and
            the training-mode network tends in law to it with s = sqrt(p) (:mod:`reslimit.studies.stochastic_depth`).
            None: s = 1.

    Example:
        >>> path = Brownian(16, ensemble=4, seed=0)
        >>> sde = NeuralSDE(block="res1", activation="tanh", outer=path, steps=2**14)
        >>> H = sde.trajectory(h0, every=2**4)    # H at t = k / 1024: (1025, 4, n, 16)
        >>> H1 = sde(h0, [0.5, 1.0])              # sde.solve: (2, 4, n, 16)
    """

    limits = ("sde", "fbm")

    def __init__(self, *, block: str = "res1", activation: ActivationSpec | None = None, outer: WeightPath,
                 inner: WeightPath | None = None, steps: int | None = None, method: str | None = None,
                 device: Device | None = None, scale: Callable[[float], float] | None = None,
                 hidden: int | None = None):
        super().__init__(block=block, activation=activation, outer=outer, inner=inner, steps=steps, device=device,
                         scale=scale, hidden=hidden)
        if self.outer.sde_type not in METHODS:
            raise ValueError(f"outer must set sde_type to one of {', '.join(map(repr, METHODS))}; "
                             f"{type(self.outer).__name__} sets {self.outer.sde_type!r}")
        self.method = METHODS[self.outer.sde_type] if method is None else _checks.choice(
            "method", method, ("euler", "heun", "midpoint", "reversible_heun"))

    def field(self, t: float | Tensor, h: Tensor, dx: Tensor) -> Tensor:
        """The diffusion applied to an increment, s(t) dX g(h, W(t)) / sqrt(M), for states h of shape (E, n, d) and
        one increment dX per state, (E, n, d, M)."""
        E, n, d = h.shape
        M = self.hidden
        g = self.block.g(h, self.inner_weights(float(t))).reshape(E * n, M, 1)
        out = torch.bmm(dx.reshape(E * n, d, M), g).view(E, n, d) / M**0.5
        return self.scaled(out, float(t))

    def solve(self, h0: States, ts: Times | None = None, *, steps: int | None = None,
              every: int | None = None) -> Tensor:
        """H at the times ``ts``, from H(0) = ``h0``, by a fixed-step torchsde solve: (len(ts), E, n, d).

        The step is 1/steps on the path's own grid (``steps`` here or given to the constructor), and ``ts``
        (finite, strictly increasing, in [0, 1]) must lie on the grid k/steps; when ts[0] > 0 the solve still
        starts from h0 at t = 0. Without ``ts``: the times k * every / steps, k = 0..steps/every (``every``,
        default 1, divides ``steps``). ``h0``: finite states of shape (E, n, d), or (n, d) for every ensemble
        member, as a tensor of the path's dtype and device or an array of numbers. Differentiable: autograd
        through the solver gives the limit's adjoint (run under torch.no_grad() when not needed).
        """
        steps = self.steps if steps is None else solver_steps(steps)
        if steps is None:
            raise ValueError("steps must be given (NeuralSDE(..., steps=N) or solve(..., steps=N)): the fixed step "
                             "1/N of the solve")
        E, d, dtype, device = self.ensemble, self.width, self.dtype, self.device
        if ts is None:
            ts = _checks.every_times(steps, 1 if every is None else every, dtype, device)
        elif every is not None:
            raise ValueError("give ts or every, not both")
        else:
            ts = _checks.times("ts", ts, dtype=dtype, device=device)
            _checks.on_grid("ts", ts, steps, f"the solve (steps={steps})")
        h0 = _checks.state("h0", h0, ensemble=E, width=d, dtype=dtype, device=device, owner="the path")
        n = h0.shape[1]
        self._require_states(len(ts) + 1, h0)
        late = bool(ts[0] > 0)  # then solve from t = 0 and drop H(0)
        ts = torch.cat([ts.new_zeros(1), ts]) if late else ts
        bm = PathBrownian(self.outer, steps, n)
        ys = torchsde.sdeint(_TorchsdeTerm(self, n), h0.reshape(E * n, d), ts, bm=bm, dt=1.0 / steps,
                             method=self.method)
        ys = ys.view(len(ts), E, n, d)
        return ys[1:] if late else ys
