"""Prop. 6, Prop. 5 and Corollary 2 (iii) as written, for nonlinear blocks: the gradients' bounds.

Claim (Marion et al. 2022, Props. 5-6 and Cor. 2 under Hypotheses 1-4; derived in reslimit.studies.bounds):
for p_L ~ N(0, I_d) independent of the weights (Hypothesis 3) and a block with
||q||^2/2 <= E||(dg/dh) q||^2 <= ||q||^2 (Hypothesis 4: res-1 and res-2 with 1/sqrt(2) <= sigma' <= 1, e.g.
leaky ReLU 0.75 and 0.8; res-3 with ReLU, exactly 1/2),
(1 + alpha_L^2/2)^L - 1 <= E||p_0 - p_L||^2/||p_L||^2 <= (1 + alpha_L^2)^L - 1 (within 4 SE; res-3 equals
the lower end); for L alpha_L^2 <= 1, P(||p_0 - p_L||^2/||p_L||^2 > 2 L alpha_L^2/delta) <= delta; and at
beta = 1/2, e^(1/2) - 1 <= E||p_0 - p_L||^2/||p_L||^2 <= e^4 - 1 (Cor. 2 (iii)). Two controls must fail:
res-1 with tanh (sigma' -> 0 breaks Hypothesis 4 and the lower end), and Cor. 2 (iii) at L = 2 for res-3,
whose exact (1 + 1/4)^2 - 1 = 0.5625 is below e^(1/2) - 1 = 0.6487: the corollary's lower end is the
L -> infinity limit of Prop. 6's (1 + 1/(2L))^L - 1, not a bound at finite L.
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop6_nonlinear"])
FULL = dict(checks=plan(False)["prop6_nonlinear"])
THEORY = ("Props. 5–6 and Cor. 2 (iii) as written for nonlinear blocks (res-1 leaky ReLU 0.75, res-2 leaky ReLU "
          "0.8, res-3 ReLU: (1 + α²/2)^L − 1 exactly): e^½ − 1 ≤ E‖p_0 − p_L‖²/‖p_L‖² ≤ e⁴ − 1 at β = ½; controls: "
          "tanh, and Cor. 2 (iii) at L = 2 (its lower end is the L → ∞ value)")
TOLERANCE = "± 4 SE"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks (``plan(quick)["prop6_nonlinear"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop6_nonlinear.csv``, figure ``out/prop6_nonlinear.png``.
    """
    return bound_claims(checks, out, "prop6_nonlinear")
