"""Smooth weights: the critical beta is 1 (identity above, explosion below).

Claim (Marion et al. 2022, Prop. 8 and Figures 4-5): with weights V_k = V(k/L) read from a smooth Gaussian
process path, the median of ||h_L - h_0|| / ||h_0|| stops depending on L at beta = 1. Measured as the
beta where the slope of log median ratio in log L changes sign between the depths: within 0.05.
"""

from __future__ import annotations

from pathlib import Path

from ._common import regime_claims
from ._verdict import Verdict

QUICK = dict(depths=[30, 300], ensemble=20, samples=4)
FULL = dict(depths=[10, 32, 100, 316, 1000], ensemble=50, samples=10)  # Figures 1, 2: depths 10..1000
THEORY = "smooth weights: critical β = 1 (res-1 tanh, res-3 ReLU) (Marion et al. 2022, Prop. 8, Fig. 2)"
TOLERANCE = "1 ± 0.05"


def check(out: Path, *, depths, ensemble, samples) -> list[Verdict]:
    """Critical beta of res-1 (tanh) and res-3 (ReLU) on betas 0.70, 0.75, ..., 1.30; each under ``out/BLOCK``."""
    return regime_claims(out, "smooth", "1", "Prop. 8, Figures 4-5", [0.7 + 0.05 * i for i in range(13)],
                         (("res1", "tanh"), ("res3", "relu")), depths=depths, ensemble=ensemble, samples=samples)
