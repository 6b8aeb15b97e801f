"""Closed forms of the theory: critical betas, second-moment identities and growth curves.

The limits' rates and betas are in :mod:`reslimit.limits`, one record per limit.

Sources: Marion, Fermanian, Biau, Vert (2022), arXiv:2206.06929; Kloeden & Platen (1992);
Neuenkirch & Nourdin (2007).
"""

from __future__ import annotations

import math

import numpy as np

CRITICAL = {"iid": 0.5, "brownian": 0.5, "smooth": 1.0}  # first-order critical beta per init; fbm: H


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
    """c of the exact identity E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2)^L - 1, where it holds.

    ``params`` has the keys "init", "block" and "activation" of a scaling study.
    """
    if params["init"] not in ("iid", "brownian"):
        return None
    if params["block"] in ("res2", "res3") and params["activation"] == "relu":
        return 0.5
    if params["block"] == "res1" and params["activation"] == "identity":
        return 1.0
    return None


def growth(params: dict, beta: float, depths) -> tuple[np.ndarray, str]:
    """The theory's curve for the hidden ratio against L, or its order of growth, with a label.

    i.i.d./Brownian weights with res-3, res-2 + ReLU or res-1 + identity: sqrt(E ratio^2) =
    sqrt((1 + c alpha_L^2)^L - 1) exactly (c = 1/2 with ReLU(W h), 1 with the identity). Otherwise the
    first-order term alpha_L sum_k V_k g(h_0), of size L^(crit - beta) with crit = 1/2 (i.i.d.),
    1 (smooth), H (fBm): returned as the exponent, to be anchored to the data by the caller.
    ``params`` has the keys "init", "block", "activation" and "hurst" of a scaling study.
    """
    depths = np.asarray(depths, dtype=float)
    c = exact_c(params)
    if c is not None:
        return np.sqrt([second_moment(c, L**-beta, int(L)) for L in depths]), \
            rf"theory $\sqrt{{(1+{c:g}\alpha_L^2)^L-1}}$"
    crit = params["hurst"] if params["init"] == "fbm" else CRITICAL[params["init"]]  # first order
    return depths ** (crit - beta), rf"first order $\propto L^{{{crit - beta:+.2g}}}$"
