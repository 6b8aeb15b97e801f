"""Neural SDE (and the fBm-driven Young equation) on a weight path, solved with torchsde.

    dH_t = (std / sqrt(d)) dX_t g(H_t, W(t)),    H_0 = h_0,    t in [0, 1],

where X is the ``outer`` path (columns convention: dX_t is a d x d matrix acting on g). For a Brownian X
this is the Ito SDE that a scaled ResNet with i.i.d. Gaussian weights and beta = 1/2 discretises
(Marion et al. 2022, Prop. 4): the network *is* its Euler-Maruyama scheme on the grid k/L, with strong
order 1/2 (Kloeden & Platen 1992, Thm 10.2.2). For fractional Brownian X with H > 1/2 it is a Young
equation, the limit at beta = H, whose Euler scheme has order 2H - 1 (Neuenkirch & Nourdin 2007); its
reference is computed with torchsde's Heun scheme (a Stratonovich scheme, exact in the Young regime).
"""

from __future__ import annotations

import numpy as np
import torch
import torchsde

from . import _checks
from .blocks import get_block
from .paths import FractionalBrownian, WeightPath, check_limit_paths

Tensor = torch.Tensor
_CHUNK = 512  # grid increments read from the path at a time


class PathBrownian(torchsde.BaseBrownian):
    """A reslimit increments path handed to torchsde as its Brownian motion, on the grid k / steps.

    ``bm(ta, tb)`` returns X(tb) - X(ta) for grid times ta < tb, one (d*d)-vector per row of torchsde's
    2-D state: the ensemble member's increment repeated for each of its ``batch`` inputs, so that inputs
    of one member share their weights. Increments are read from the path ``_CHUNK`` grid steps at a time
    and cached, so a fixed-step solve costs one pass over the path.
    """

    __slots__ = ("path", "steps", "batch", "_start", "_values")
    levy_area_approximation = "none"

    def __init__(self, path: WeightPath, steps: int, batch: int):
        self.path, self.steps, self.batch = path, steps, batch
        self._start, self._values = -1, None

    shape = property(lambda self: (self.path.ensemble * self.batch, self.path.width**2))
    dtype = property(lambda self: self.path.dtype)
    device = property(lambda self: self.path.device)

    def _increment(self, i: int, j: int) -> Tensor:
        """X(j / steps) - X(i / steps), shape (E, d, d), from the cached chunk of grid values."""
        if self._values is None or not (self._start <= i and j < self._start + len(self._values)):
            self._start = i
            stop = min(self.steps, max(j, i + _CHUNK))
            self._values = self.path.evaluate(np.arange(i, stop + 1) / self.steps)
        return self._values[j - self._start] - self._values[i - self._start]

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        if tb is None or return_U or return_A:
            raise ValueError("PathBrownian gives increments bm(ta, tb) only, without space-time or Levy areas")
        i, j = (int(round(float(t) * self.steps)) for t in (ta, tb))
        E, d = self.path.ensemble, self.path.width
        dx = self._increment(i, j).reshape(E, 1, d * d)
        return dx.expand(E, self.batch, d * d).reshape(E * self.batch, d * d)

    def __repr__(self) -> str:
        return f"PathBrownian({self.path!r}, steps={self.steps}, batch={self.batch})"


class _TorchsdeTerm(torch.nn.Module):
    """torchsde's view of the equation: zero drift and g_prod(t, y, dX) = dX g(y, W(t)) / sqrt(d)."""

    noise_type = "general"

    def __init__(self, block, inner: WeightPath | None, width: int, ensemble: int, batch: int, sde_type: str):
        super().__init__()
        self.block, self.inner, self.sde_type = block, inner, sde_type
        self.shape = (ensemble, batch, width)

    def _W(self, t) -> Tensor | None:
        return None if self.inner is None else self.inner.evaluate(float(t)) / self.inner.width**0.5

    def f(self, t, y):
        return torch.zeros_like(y)

    def g_prod(self, t, y, v):
        E, n, d = self.shape
        g = self.block.g(y.view(E, n, d), self._W(t)).reshape(E * n, d, 1)
        return torch.bmm(v.view(E * n, d, d), g).view(E * n, d) / d**0.5

    def f_and_g_prod(self, t, y, v):
        return self.f(t, y), self.g_prod(t, y, v)


class NeuralSDE:
    """The continuous-depth limit dH = (1/sqrt d) dX_t g(H, W(t)) of a ResNet on an increments path.

    Args:
        block, activation: as for :class:`reslimit.ScaledResNet`.
        outer: a :class:`Brownian` path (Ito SDE) or a :class:`FractionalBrownian` one with hurst > 1/2
            (Young equation).
        inner: a smooth path for W(t) (res2, res3), or None.

    Example:
        >>> path = Brownian(16, ensemble=4, seed=0)
        >>> sde = NeuralSDE("res1", "tanh", outer=path)
        >>> H = sde.solve(h0, steps=2**14, every=2**4)    # H at t = k / 1024: (1025, 4, n, 16)
    """

    def __init__(self, block="res1", activation="tanh", *, outer: WeightPath, inner: WeightPath | None = None):
        self.block = get_block(block, activation)
        self.limit = "fbm" if isinstance(outer, FractionalBrownian) else "sde"
        check_limit_paths(self.limit, self.block, outer, inner)
        self.outer, self.inner = outer, inner

    def solve(self, h0, *, steps: int, every: int = 1) -> Tensor:
        """H at the times k * every / steps, k = 0..steps/every, by a fixed-step torchsde solve.

        Euler-Maruyama (Ito) for Brownian paths, Heun (Stratonovich, i.e. Young) for fBm, with step
        1/steps on the path's own grid. ``h0``: finite states of shape (E, n, d), or (n, d) for every ensemble
        member, as a tensor of the path's dtype and device or an array of numbers.
        Returns shape (steps/every + 1, E, n, d). Differentiable:
        autograd through the solver gives the limit's adjoint (run under torch.no_grad() when not needed).
        """
        steps = _checks.positive_int("steps", steps)
        every = _checks.positive_int("every", every)
        if steps % every:
            raise ValueError(f"every must divide steps={steps}; got {every}")
        E, d = self.outer.ensemble, self.outer.width
        h0 = _checks.state("h0", h0, ensemble=E, width=d, dtype=self.outer.dtype, device=self.outer.device,
                           owner="the path")
        n = h0.shape[1]
        sde_type = "ito" if self.limit == "sde" else "stratonovich"
        term = _TorchsdeTerm(self.block, self.inner, d, E, n, sde_type)
        bm = PathBrownian(self.outer, steps, n)
        ts = torch.arange(0, steps + 1, every, dtype=torch.float64) / steps
        ys = torchsde.sdeint(term, h0.reshape(E * n, d), ts.to(h0.device, h0.dtype), bm=bm, dt=1.0 / steps,
                             method="euler" if sde_type == "ito" else "heun")
        return ys.view(len(ts), E, n, d)
