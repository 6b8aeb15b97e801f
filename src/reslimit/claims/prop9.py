"""Prop. 9 as written: res-1, identity, smooth weights: max_k ||h_k - h_0|| / ||h_0|| -> infinity for beta < 1.

Claim (the paper's Prop. 9): for h_{k+1} = h_k + L^-beta V_{k+1} h_k with V_k = V(k/L), V Lipschitz and bounded
(Hypothesis 5) and V(0)^T with a positive eigenvalue, beta in (0, 1): max_k ||h_k - h_0|| / ||h_0|| -> infinity
as L -> infinity (its logarithm of order L^{1-beta}). The eigenvalue condition is imposed: V(t) = X(t)/sqrt(d) for
a Gaussian-process X (reslimit.paths.Smooth), keeping the members whose V(0) has a real positive eigenvalue.
Checked: the median of log(1 + max_k ratio) is positive, increases with L, and the slope of its logarithm
against log L is >= (1 - beta)/2 by two bootstrap SEs (theory 1 - beta), at beta = 1/2 and 3/4. Controls (rows
recorded as passed when the rule says "does not explode"): beta = 1 (the neural ODE), and the condition
violated, V(t) = -W(t) W(t)^T / 2 (negative semi-definite: max_k ratio <= 2 at every L).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..plots import max_increment_figure
from ..studies.bounds import Check, plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop9"])
FULL = dict(checks=plan(False)["prop9"])
THEORY = ("Prop. 9 as written: max_k ‖h_k − h_0‖/‖h_0‖ explodes for β < 1 with V(0)'s real positive eigenvalue "
          "imposed; controls β = 1 and the condition violated")
TOLERANCE = "slope − 2 SE ≥ (1 − β)/2"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Prop. 9 (``plan(quick)["prop9"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop9.csv`` (one panel per row in ``out/prop9.png``); the claims' figure is
    ``out/prop9_detail.png`` (:func:`reslimit.plots.max_increment_figure`).
    """
    detail = []
    checks = [Check(c.function, c.kwargs | {"detail": detail}, c.control) for c in checks]
    claims = bound_claims(checks, out, "prop9")
    max_increment_figure(detail, out / "prop9_detail.png")
    return [replace(c, figure=str(out / "prop9_detail.png")) for c in claims]
