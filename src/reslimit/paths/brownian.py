"""Matrix Brownian motion, exact at any finite set of times, the same path whatever is queried."""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks
from .._rng import KeyedNormal, mixes
from .._types import Device, DType
from .base import WeightPath

_MIDPOINT, _LEAF = 1, 2  # key tags


class Brownian(WeightPath):
    """A d x d (width x cols) matrix Brownian motion B (independent standard Brownian entries) times ``std``.

    weights(L)[k] = sqrt(L) * std * (B((k+1)/L) - B(k/L)) / sqrt(cols) (cols = d unless given), so each weight has
    the law of
    an i.i.d. Gaussian initialisation, and the depth-L network with alpha_L = L^-1/2 is the Euler scheme
    of the neural SDE dH = (std / sqrt(d)) dB_t g(H).

    The path is a virtual Brownian tree (the construction of diffrax's VirtualBrownianTree, exact here):
    B(1) ~ N(0, I); the value at each dyadic midpoint of level j is drawn from the Brownian bridge
    between its two neighbours of level j - 1, with a normal keyed by (seed, level, index). A time t is
    located by descending the tree until t is a dyadic point, or down to ``levels``; inside a leaf of
    width 2^-levels, B(t) is the bridge value at t keyed by the leaf. Every value is thus a function of
    (seed, t) alone: weights(L) and weights(mL) come from one path for any L and m, in any query order,
    and the law at any finite set of times is exactly Brownian as long as no two queried times share a
    leaf (times 2^-levels apart).

    Cost: a dyadic depth L = 2^j draws about 2L nodes; another depth about L * (levels - log2 L).

    Example:
        >>> path = Brownian(16, ensemble=4, seed=3)
        >>> V = path.weights(1000)                    # (1000, 4, 16, 16)
        >>> dB = path.evaluate(0.25, 0.5)             # increment over [1/4, 1/2], (4, 16, 16)
    """

    name = "brownian"

    kind = "increments"
    natural_beta = 0.5
    limit = "sde"
    sde_type = "ito"
    exact_second_moment = True  # its weights(L) are i.i.d. Gaussian, whatever L

    def __init__(self, width: int, ensemble: int = 1, *, seed: int = 0, std: float = 1.0, levels: int = 30,
                 dtype: DType = torch.float64, device: Device = "cpu", cols: int | None = None):
        super().__init__(width, ensemble, seed=seed, std=std, dtype=dtype, device=device, cols=cols)
        self._levels = _checks.positive_int("levels", levels)
        if self._levels > 52:
            raise ValueError(f"levels must be an integer in [1, 52]; got {levels!r}")
        self._draw = KeyedNormal(self.shape, self.dtype, self.device)

    levels = property(lambda self: self._levels, doc="Depth of the dyadic tree: leaves are 2^-levels wide.")

    def _repr_args(self) -> dict:
        return super()._repr_args() | {"levels": self._levels}

    def _cost(self, count: int, depth: int | None) -> tuple[int, int]:
        """A dyadic depth (a run of >= 3 grid points): about 3 (count + 1) values and 2 (count + 1) draws (the
        run, its parents and midpoints); other times: about 10 (count + 1) values (the descent's known points
        and new bridge values, up to 3 per time each) and (count + 1) (levels + 3 - log2 count) draws.
        Measured peaks (d = 64, E = 4, L = 1024 and 1000): 2.1 and 8 times the weights."""
        n = count + 1 if depth else count
        if depth and depth & (depth - 1) == 0 and n > 2:
            return 3 * n * self._value_bytes, 2 * n
        return 10 * n * self._value_bytes, n * max(3, self._levels + 3 - n.bit_length())

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        x = self._values(np.arange(start, stop + 1, dtype=np.float64) / depth)
        return torch.diff(x, dim=0).mul_(depth**0.5 / self.cols**0.5)

    def _nodes(self, level: int, index: np.ndarray, tag: int = _MIDPOINT) -> torch.Tensor:
        return self._draw.draw(mixes(self.seed, tag, level, last=index))

    def _values(self, times: np.ndarray) -> torch.Tensor:
        """std * B at ``times``; a contiguous run of a dyadic grid is refined by interleaving."""
        for level in range(self._levels + 1):
            scaled = times * 2.0**level
            if np.all(scaled == np.floor(scaled)):
                if len(times) > 2 and np.all(np.diff(scaled) == 1):
                    return self._grid(level, int(scaled[0]), int(scaled[-1])).mul_(self.std)
                break
        return self._descend(times).mul_(self.std)

    def _midpoints(self, level: int, left: torch.Tensor, right: torch.Tensor, odd: np.ndarray) -> torch.Tensor:
        """Bridge values at the odd points of ``level`` between their neighbours of level - 1."""
        return (left + right).mul_(0.5).add_(self._nodes(level, odd), alpha=2.0 ** (-(level + 1) / 2))

    def _grid(self, level: int, i0: int, i1: int) -> torch.Tensor:
        """B at k / 2^level for k = i0..i1 (i1 > i0): the parents' run, interleaved with midpoints."""
        if level == 0:
            return torch.stack([torch.zeros(self.shape, dtype=self.dtype, device=self.device),
                                self._nodes(0, np.array([1]))[0]])[i0 : i1 + 1]
        p0, p1 = i0 // 2, (i1 + 1) // 2
        parent = self._grid(level - 1, p0, p1)
        full = torch.empty((2 * len(parent) - 1, *self.shape), dtype=self.dtype, device=self.device)
        full[0::2] = parent
        full[1::2] = self._midpoints(level, parent[:-1], parent[1:], 2 * np.arange(p0, p1) + 1)
        return full[i0 - 2 * p0 : i1 - 2 * p0 + 1]

    def _descend(self, times: np.ndarray) -> torch.Tensor:
        """B at any ``times``: descend the dyadic tree level by level, all times at once."""
        out = torch.empty((len(times), *self.shape), dtype=self.dtype, device=self.device)
        grid_idx = np.array([0, 1], dtype=np.int64)  # points of the current level known so far
        grid_val = torch.stack([torch.zeros(self.shape, dtype=self.dtype, device=self.device),
                                self._nodes(0, np.array([1]))[0]])

        def at(points: np.ndarray) -> torch.Tensor:  # values of the current level at integer points
            return grid_val[torch.from_numpy(np.searchsorted(grid_idx, points)).to(self.device)]

        pending = np.arange(len(times))
        for level in range(self._levels + 1):
            scaled = times[pending] * 2.0**level  # exact: a power-of-two scaling
            on_grid = scaled == np.floor(scaled)
            if on_grid.any():
                out[torch.from_numpy(pending[on_grid]).to(self.device)] = at(scaled[on_grid].astype(np.int64))
                pending, scaled = pending[~on_grid], scaled[~on_grid]
            if len(pending) == 0:
                break
            left = np.floor(scaled).astype(np.int64)
            if level == self._levels:  # bridge inside the leaf [a, b] = [left, left+1] * 2^-level
                a, b = at(left), at(left + 1)
                frac = torch.as_tensor(scaled - left, dtype=self.dtype, device=self.device)[:, None, None, None]
                sd = torch.sqrt(frac * (1 - frac) * 2.0**-level)
                rows = torch.from_numpy(pending).to(self.device)
                out[rows] = a + frac * (b - a) + sd * self._nodes(level, left, _LEAF)
                break
            # next level: the endpoints of every pending interval; odd ones are new bridge midpoints
            need = np.unique(np.concatenate([2 * left, 2 * left + 1, 2 * left + 2]))
            odd, even = need[need % 2 == 1], need[need % 2 == 0]
            new_val = torch.empty((len(need), *self.shape), dtype=self.dtype, device=self.device)
            is_odd = torch.from_numpy(need % 2 == 1).to(self.device)
            new_val[is_odd] = self._midpoints(level + 1, at((odd - 1) // 2), at((odd + 1) // 2), odd)
            new_val[~is_odd] = at(even // 2)
            grid_idx, grid_val = need, new_val
        return out.mul_(self.std)
