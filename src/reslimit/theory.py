"""Closed forms of the theory: rates, critical betas, second-moment identities and bounds.

Sources: Marion, Fermanian, Biau, Vert (2022), arXiv:2206.06929; Kloeden & Platen (1992);
Neuenkirch & Nourdin (2007).
"""

from __future__ import annotations

import math

LIMITS = ("ode", "sde", "fbm")


def rate(limit: str, hurst: float | None = None) -> float:
    """Slope of log(error) in log(L) for the network against its limit.

    ode (Lipschitz weights, beta = 1): -1, the Euler scheme's order 1.
    sde (i.i.d. / Brownian weights, beta = 1/2): -1/2, Euler-Maruyama's strong order 1/2.
    fbm (fBm increments, beta = H > 1/2): 1 - 2H, Euler's order 2H - 1 for Young equations.
    """
    if limit == "ode":
        return -1.0
    if limit == "sde":
        return -0.5
    if limit == "fbm":
        if hurst is None or not 0.5 < hurst < 1:
            raise ValueError(f"hurst must be in (1/2, 1) for the fbm rate; got {hurst!r}")
        return 1.0 - 2.0 * hurst
    raise ValueError(f"limit must be one of {', '.join(repr(k) for k in LIMITS)}; got {limit!r}")


def natural_beta(limit: str, hurst: float | None = None) -> float:
    """The beta of alpha_L = L^-beta at which the network has this limit: 1, 1/2 or H."""
    rate(limit, hurst)  # validates limit and hurst
    return {"ode": 1.0, "sde": 0.5, "fbm": hurst}[limit]


def second_moment(c: float, alpha: float, depth: int) -> float:
    """E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2)^L - 1 for i.i.d. weights (c = 1/2 res-3, 1 res-1 id).

    Computed as expm1(L log1p(c alpha^2)); ``inf`` past the float range.
    """
    try:
        return math.expm1(depth * math.log1p(c * alpha**2))
    except OverflowError:
        return math.inf
