"""The continuous limits of a scaled ResNet: one record per limit holds everything the package knows of it.

    ode   dH/dt = V(t) g(H, W(t))            smooth V, beta = 1        error O(L^-1)       (Euler, order 1)
    sde   dH_t = dB_t g(H_t, W(t)) / sqrt(d)  Brownian V, beta = 1/2    error O(L^-1/2)     (Euler-Maruyama)
    fbm   dH_t = dB^H_t g(H_t, W(t)) / sqrt(d)  fBm V, H > 1/2, beta = H  error O(L^(1-2H))  (Young, order 2H-1)

(Marion et al. 2022, Props. 4 and 7; Kloeden & Platen 1992, Thm 10.2.2; Neuenkirch & Nourdin 2007.) The
record gives the outer path class that drives the limit (whose ``natural_beta`` is the beta), the rate, the
tolerance of the comparator's verdict, the solver class and the reference solve (method, refinement factor,
the memory its backpropagation keeps). The comparator (:mod:`reslimit.compare`) and the studies read it and
nothing else; a new limit is one more record here (and its solver, a :class:`reslimit.continuous.ContinuousLimit`
naming it in its ``limits``, if neither NeuralODE nor NeuralSDE solves it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from . import _checks
from ._types import Device, DType
from .continuous import ContinuousLimit
from .ode import NeuralODE
from .paths import PATHS, WeightPath, make_path
from .sde import NeuralSDE


@dataclass(frozen=True)
class Limit:
    """One continuous limit.

    Attributes:
        name: its key in :data:`LIMITS`.
        path: the key of :data:`reslimit.paths.PATHS` of the outer path that drives it by default.
        options: the path options (of :func:`reslimit.converge`) that path takes, e.g. ("hurst", "resolution").
        solver: the :class:`ContinuousLimit` whose ``solve(h0, ts)`` integrates it (NeuralODE or NeuralSDE).
        method: the solver's method for the reference solve (fixed step).
        reference_factor: default refinement of the reference grid over the largest depth.
        reference_bytes: bytes the reference's backpropagation keeps per solver step, per sample and per entry
            of a d x d weight, in units of the dtype's size (measured peaks at d = 16, rounded up; x 2 with W).
        tolerance: |fitted slope - rate| allowed for a pass.
        equation: the limit's equation, for reports.
    """

    name: str
    path: str
    options: tuple[str, ...]
    solver: type[ContinuousLimit]
    method: str
    reference_factor: int
    reference_bytes: int
    tolerance: float
    equation: str
    _rate: Callable[..., float]  # hurst (a float for fbm, None elsewhere) -> the rate

    def rate(self, hurst: float | None = None) -> float:
        """The slope of log(error) in log(L) of the network against this limit (a function of H for fbm)."""
        if "hurst" in self.options:
            hurst = _checks.real("hurst", hurst, low=0.5, high=1.0, low_open=True, high_open=True)
        return self._rate(hurst)

    def beta(self, hurst: float | None = None) -> float:
        """The beta of alpha_L = L^-beta at which the network has this limit: the path's ``natural_beta``."""
        if "hurst" in self.options:  # fBm: beta = H
            return _checks.real("hurst", hurst, low=0.5, high=1.0, low_open=True, high_open=True)
        return cast(float, PATHS[self.path].natural_beta)  # a class attribute where the limit takes no hurst

    def make_path(self, width: int, ensemble: int, *, seed: int, dtype: DType, device: Device = "cpu",
                  hidden: int | None = None, **options) -> WeightPath:
        """The outer path of this limit, given the options it takes (others are ignored): d x d, or d x M for a
        hidden width ``hidden`` = M (the inner path is then M x d)."""
        taken = {k: options[k] for k in self.options if k in options}
        cols = None if hidden is None else _checks.positive_int("hidden", hidden)
        return make_path(self.path, width, ensemble, seed=seed, dtype=dtype, device=device, cols=cols, **taken)


LIMITS: dict[str, Limit] = {
    "ode": Limit("ode", "smooth", ("lengthscale",), NeuralODE, "rk4", 2, 8, 0.05,
                 "dH/dt = V(t) g(H, W(t))", lambda hurst: -1.0),
    "sde": Limit("sde", "brownian", (), NeuralSDE, "euler", 64, 2, 0.07,
                 "dH_t = dB_t g(H_t, W(t)) / sqrt(d)", lambda hurst: -0.5),
    "fbm": Limit("fbm", "fbm", ("hurst", "resolution"), NeuralSDE, "heun", 8, 8, 0.1,
                 "dH_t = dB^H_t g(H_t, W(t)) / sqrt(d)", lambda hurst: 1.0 - 2.0 * hurst),
}


def get_limit(name: str) -> Limit:
    """The record of the limit called ``name`` ("ode", "sde" or "fbm"), or a ValueError listing them."""
    return LIMITS[_checks.choice("limit", name, tuple(LIMITS))]
