"""Closed forms of the theory: critical betas, second-moment identities and growth curves.

The limits' rates and betas are in :mod:`reslimit.limits`, one record per limit.

Sources: Marion, Fermanian, Biau, Vert (2022), arXiv:2206.06929; Kloeden & Platen (1992);
Neuenkirch & Nourdin (2007).
"""

from __future__ import annotations

import math

import numpy as np

# c = E||g(h)||^2 / ||h||^2 of the blocks where it is a constant (ReLU(W h) with Gaussian W: 1/2; the identity: 1)
SECOND_MOMENT_C = {("res1", "identity"): 1.0, ("res2", "relu"): 0.5, ("res3", "relu"): 0.5}


def second_moment(c: float, alpha: float, depth: int) -> float:
    """E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2)^L - 1 for i.i.d. weights (c = 1/2 res-3, 1 res-1 id).

    Computed as expm1(L log1p(c alpha^2)); ``inf`` past the float range.
    """
    try:
        return math.expm1(depth * math.log1p(c * alpha**2))
    except OverflowError:
        return math.inf


def critical_theory(block: str, activation: str, hurst: float) -> float | None:
    """The critical beta for fBm weights: H for res-1; max(H, 1/2) with ReLU inner blocks; else None.

    The argument is in :mod:`reslimit.studies.phase`'s docstring.
    """
    if block == "res1":
        return hurst
    if activation == "relu":
        return max(hurst, 0.5)
    return None


def exact_c(params: dict) -> float | None:
    """c of the exact identity E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2)^L - 1, where it holds: weights with
    independent centred layers (``params["exact"]``, a path's ``exact_second_moment``) and a block of
    :data:`SECOND_MOMENT_C` (``params["block"]``, ``params["activation"]``); else None."""
    return SECOND_MOMENT_C.get((params["block"], params["activation"])) if params["exact"] else None


def growth(params: dict, beta: float, depths) -> tuple[np.ndarray, str]:
    """The theory's curve for the hidden ratio against L, or its order of growth, with a label.

    i.i.d./Brownian weights with res-3, res-2 + ReLU or res-1 + identity: sqrt(E ratio^2) =
    sqrt((1 + c alpha_L^2)^L - 1) exactly (c = 1/2 with ReLU(W h), 1 with the identity). Otherwise the
    first-order term alpha_L sum_k V_k g(h_0), of size L^(crit - beta) with crit = ``params["first_order"]``
    (the path's natural beta: 1/2 i.i.d., 1 smooth, H fBm): returned as the exponent, to be anchored to the
    data by the caller. ``params`` has the keys "exact", "first_order", "block" and "activation"
    (:func:`reslimit.studies.scaling.theory_params` adds the first two to a scaling study's params).
    """
    depths = np.asarray(depths, dtype=float)
    c = exact_c(params)
    if c is not None:
        return np.sqrt([second_moment(c, L**-beta, int(L)) for L in depths]), \
            rf"theory $\sqrt{{(1+{c:g}\alpha_L^2)^L-1}}$"
    crit = params["first_order"]
    return depths ** (crit - beta), rf"first order $\propto L^{{{crit - beta:+.2g}}}$"
