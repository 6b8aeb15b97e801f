"""I.i.d. weights: the critical beta is 1/2 (identity above, explosion below), for the hidden states and gradients.

Claim (Marion et al. 2022, Prop. 3 and Figure 1): with alpha_L = L^-beta and i.i.d. N(0, 1/d) weights, the
median of ||h_L - h_0|| / ||h_0|| stops depending on L at beta = 1/2. Measured as the beta where the slope
of log median ratio in log L changes sign between the depths (interpolated on a grid of betas): within 0.05.
"""

from __future__ import annotations

from pathlib import Path

from .common import regime_claims


def check(out: Path, *, depths, ensemble, samples) -> list[dict]:
    """Critical beta of res-3 (ReLU) and res-1 (tanh) on betas 0.30, 0.34, ..., 0.70; each under ``out/BLOCK``."""
    return regime_claims(out, "iid", "1/2", "Prop. 3, Figure 1", [0.3 + 0.04 * i for i in range(11)],
                         (("res3", "relu"), ("res1", "tanh")), depths=depths, ensemble=ensemble, samples=samples)
