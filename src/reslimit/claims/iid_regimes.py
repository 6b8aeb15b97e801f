"""I.i.d. weights: the critical beta is 1/2 (identity above, explosion below), for the hidden states and gradients.

Claim (Marion et al. 2022, Prop. 3 and Figure 1): with alpha_L = L^-beta and i.i.d. N(0, 1/d) weights, the
median of ||h_L - h_0|| / ||h_0|| stops depending on L at beta = 1/2. Measured as the beta where the slope
of log median ratio in log L changes sign between the depths (interpolated on a grid of betas): within 0.05.
"""

from __future__ import annotations

from pathlib import Path

from ._common import regime_claims
from ._verdict import Verdict

QUICK = dict(depths=[30, 300], ensemble=20, samples=4)
FULL = dict(depths=[10, 32, 100, 316, 1000], ensemble=50, samples=10)  # Figures 1, 2: depths 10..1000
THEORY = "i.i.d. weights: critical β = ½ (res-3 ReLU, res-1 tanh) (Marion et al. 2022, Prop. 3, Fig. 1)"
TOLERANCE = "½ ± 0.05"


def check(out: Path, *, depths, ensemble, samples) -> list[Verdict]:
    """Critical beta of res-3 (ReLU) and res-1 (tanh) on betas 0.30, 0.34, ..., 0.70; each under ``out/BLOCK``."""
    return regime_claims(out, "iid", "1/2", "Prop. 3, Figure 1", [0.3 + 0.04 * i for i in range(11)],
                         (("res3", "relu"), ("res1", "tanh")), depths=depths, ensemble=ensemble, samples=samples)
