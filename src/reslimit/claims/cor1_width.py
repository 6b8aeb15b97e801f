"""Corollary 1 (ii)'s condition d >= 9: the explosion below beta = 1/2 measured for widths d from 2 to 64.

Statement (the paper's Corollary 1 (ii)): under Hypotheses 1-2, if alpha_L = L^-beta with beta < 1/2 and d >= 9,
then ||h_L - h_0|| / ||h_0|| -> infinity in probability as L -> infinity. Measured at beta = 1/4, res-1 with the
identity on Gaussian weights, depths 16..4096, widths 2, 3, 4, 6, 8, 9, 16, 32, 64: the fraction p of samples
with ||h_L|| > ||h_0||. What holds under 9 (derived in reslimit.studies.bounds.corollary1_width): the log-norm
drifts by alpha^2 (1 - 2/d) per layer with spread 2 alpha / sqrt(d), so for every d >= 3 the ratio explodes
in probability (verdict: p increasing, p >= 0.9 at L = 4096); at d = 2 the drift vanishes and p stays near
1/2 (verdict: p <= 0.75 at every depth). Claim: "explodes" for each d >= 3, "no explosion" at d = 2 -- the
condition d >= 9 is sufficient, not necessary, for this block and law.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..plots import width_explosion_figure
from ..studies.bounds import Check, plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["cor1_width"])
FULL = dict(checks=plan(False)["cor1_width"])
THEORY = ("Cor. 1 (ii) across widths, β = ¼, d = 2..64: explosion for every d ≥ 3, none at d = 2 (d ≥ 9 is "
          "sufficient, not necessary)")
TOLERANCE = "log-norm drift α²(1 − 2/d)"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks (``plan(quick)["cor1_width"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/cor1_width.csv`` (drawn one panel per row in ``out/cor1_width.png``); the claims' figure is
    ``out/cor1_width_detail.png`` (:func:`reslimit.plots.width_explosion_figure`).
    """
    detail = {}
    checks = [Check(c.function, c.kwargs | {"detail": detail}, c.control) for c in checks]
    claims = bound_claims(checks, out, "cor1_width")
    width_explosion_figure(detail, out / "cor1_width_detail.png")
    return [replace(c, figure=str(out / "cor1_width_detail.png")) for c in claims]
