"""Closed forms of the theory: the second-moment identity and the growth curves of the hidden ratio.

A block's own constants (its second moment c, its critical beta) are facts of the block
(:meth:`reslimit.blocks.Block.second_moment`, :meth:`reslimit.blocks.Block.critical_beta`); the limits' rates
and betas are in :mod:`reslimit.limits`, one record per limit.

Sources: Marion, Fermanian, Biau, Vert (2022), arXiv:2206.06929; Kloeden & Platen (1992);
Neuenkirch & Nourdin (2007).
"""

from __future__ import annotations

import math

import numpy as np

from .blocks import get_block


def second_moment(c: float, alpha: float, depth: int) -> float:
    """E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2)^L - 1 for i.i.d. weights (c: the block's ``second_moment()``).

    Computed as expm1(L log1p(c alpha^2)); ``inf`` past the float range.
    """
    try:
        return math.expm1(depth * math.log1p(c * alpha**2))
    except OverflowError:
        return math.inf


def growth(params: dict, beta: float, depths) -> tuple[np.ndarray, str]:
    """The theory's curve for the hidden ratio against L, or its order of growth, with a label.

    Weights with independent centred layers (``params["exact"]``, a path's ``exact_second_moment``) and a block
    whose c = E||g(h)||^2 / ||h||^2 is a constant (``get_block(params["block"], params["activation"])
    .second_moment()``: 1/2 with ReLU(W h), 1 with the identity): sqrt(E ratio^2) = sqrt((1 + c alpha_L^2)^L - 1)
    exactly. Otherwise the first-order term alpha_L sum_k V_k g(h_0), of size L^(crit - beta) with crit =
    ``params["first_order"]`` (the path's natural beta: 1/2 i.i.d., 1 smooth, H fBm): returned as the exponent,
    to be anchored to the data by the caller. ``params`` has the keys "exact", "first_order", "block" and
    "activation" (:func:`reslimit.studies.scaling.theory_params` adds the first two to a scaling study's params).
    """
    depths = np.asarray(depths, dtype=float)
    c = get_block(params["block"], params["activation"]).second_moment() if params["exact"] else None
    if c is not None:
        return np.sqrt([second_moment(c, L**-beta, int(L)) for L in depths]), \
            rf"theory $\sqrt{{(1+{c:g}\alpha_L^2)^L-1}}$"
    crit = params["first_order"]
    return depths ** (crit - beta), rf"first order $\propto L^{{{crit - beta:+.2g}}}$"
