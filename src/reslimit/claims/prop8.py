"""Prop. 8: smooth weights V_k = X(k/L)/sqrt(d): identity for beta > 1, bounded at beta = 1, growth for beta < 1.

Claim (Marion et al. 2022, Prop. 8; derived in reslimit.studies.bounds): for res-1 with |sigma(x)| <= b|x|
(tanh) the pathwise Gronwall bound ||h_L - h_0|| / ||h_0|| <= prod_k (1 + alpha_L b ||V_k||_op) - 1 holds for
every sample; and the slope s of log median ||h_L - h_0|| / ||h_0|| against log L is <= (1 - beta)/2 for
beta = 3/2 (identity; theory 1 - beta), |s| <= 0.1 at beta = 1 (bounded; theory 0), >= (1 - beta)/2 with a
median increasing in L at beta = 1/2 (explosion).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop8"])
FULL = dict(checks=plan(False)["prop8"])
THEORY = ("Prop. 8, smooth weights, res-1 tanh: the pathwise Gronwall bound on every sample; slope of the median "
          "‖h_L − h_0‖/‖h_0‖ in log L ≤ (1 − β)/2 at β = 3/2 (identity), ≈ 0 at β = 1 (bounded), ≥ (1 − β)/2 at "
          "β = ½ (explosion) (bounds derived in `reslimit/studies/bounds.py`)")
TOLERANCE = "bound; |slope| ≤ 0.1 at β = 1"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Prop. 8 (``plan(quick)["prop8"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop8.csv``, figure ``out/prop8.png``.
    """
    return bound_claims(checks, out, "prop8")
