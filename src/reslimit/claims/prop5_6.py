"""Props. 5-6 and Corollary 2: the gradients p_k = dLoss/dh_k obey the forward pass's bounds.

Claim (Marion et al. 2022, Props. 5-6, Cor. 2; derived in reslimit.studies.bounds for res-1 with the identity
activation and a loss gradient p_L independent of the weights, where the backward recursion
p_k = (I + alpha V_{k+1}^T) p_{k+1} has the forward law): E||p_0 - p_L||^2 / ||p_L||^2 = (1 + alpha_L^2)^L - 1
(within 4 SE), and for L alpha_L^2 <= 1, P(ratio > (e - 1) L alpha_L^2 / delta) <= delta. The nonlinear
case (leaky ReLU, tanh) is not checked: the backward weights then depend on p_{k+1}.
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop5_6"])
FULL = dict(checks=plan(False)["prop5_6"])
THEORY = ("Props. 5–6 / Cor. 2, res-1 with the identity: E‖p_0 − p_L‖²/‖p_L‖² = (1 + α²)^L − 1, and "
          "P(ratio > (e − 1) Lα²/δ) ≤ δ when Lα² ≤ 1 (bounds derived in `reslimit/studies/bounds.py`)")
TOLERANCE = "± 4 SE; frequency ≤ δ + 4 binomial SE"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Props. 5-6 and Corollary 2 (``plan(quick)["prop5_6"]`` of reslimit.studies.bounds).

    One claim per row; rows in ``out/prop5_6.csv``, figure ``out/prop5_6.png``.
    """
    return bound_claims(checks, out, "prop5_6")
