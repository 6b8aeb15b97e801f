"""Prop. 2: when L alpha_L^2 <= 1, ||h_L - h_0||^2 / ||h_0||^2 is small with high probability (Markov).

Claim (Marion et al. 2022, Prop. 2, constant derived in reslimit.studies.bounds from Lemma 1 and Markov's
inequality): for res-1 with |sigma(x)| <= b|x| on i.i.d. weights and L alpha_L^2 <= 1,
P(||h_L - h_0||^2 / ||h_0||^2 > (e^{b^2} - 1) L alpha_L^2 / delta) <= delta. The observed frequency must be
<= delta + 4 sqrt(delta (1 - delta) / n), at beta = 1/2 and 3/4, delta = 0.1 and 0.5.
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop2"])
FULL = dict(checks=plan(False)["prop2"])
THEORY = ("Prop. 2: P(‖h_L − h_0‖²/‖h_0‖² > (e^(b²) − 1) Lα²/δ) ≤ δ when Lα² ≤ 1, res-1 on i.i.d. weights "
          "(bound derived in `reslimit/studies/bounds.py`)")
TOLERANCE = "frequency ≤ δ + 4 binomial SE"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Prop. 2 (``plan(quick)["prop2"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop2.csv``, figure ``out/prop2.png``.
    """
    return bound_claims(checks, out, "prop2")
