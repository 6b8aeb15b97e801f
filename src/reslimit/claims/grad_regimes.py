"""I.i.d. weights: the gradients' critical beta is 1/2 (the gradient panel of Figure 1), judged, not only printed.

Claim (Marion et al. 2022, Cor. 2 and Figure 1, right): with alpha_L = L^-beta and i.i.d. N(0, 1/d) weights,
the median of ||p_0 - p_L|| / ||p_L|| (p_L the gradient of a squared-error linear read-out against a random
target) vanishes with L for beta > 1/2, explodes for beta < 1/2 and stays put at 1/2 (by Prop. 6,
E||p_0 - p_L||^2/||p_L||^2 is within [(1 + L^-2beta/2)^L - 1, (1 + L^-2beta)^L - 1], which tends to 0, to
infinity or stays in [e^(1/2) - 1, e - 1] accordingly). Measured as the beta where the slope of
log median gradient ratio in log L changes sign (interpolated on a grid of betas), for res-3 (ReLU) and
res-1 (leaky ReLU 0.75, inside Hypothesis 4): passed when within 0.05 of 1/2.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..studies.scaling import scaling
from ._verdict import Verdict

QUICK = dict(depths=[30, 300], ensemble=20, samples=4)
FULL = dict(depths=[10, 32, 100, 316, 1000], ensemble=50, samples=10)  # Figures 1, 2: depths 10..1000
THEORY = ("the gradients' critical β = ½ on i.i.d. weights (res-3 ReLU, res-1 leaky ReLU 0.75) (Marion et al. 2022, "
          "Fig. 1 right), judged")
TOLERANCE = "½ ± 0.05"

BETAS = [0.3 + 0.04 * i for i in range(11)]
BLOCKS = (("res3", "relu"), ("res1", "leaky_relu:0.75"))
WITHIN = 0.05  # the tolerance on the critical beta


def check(out: Path, *, depths, ensemble, samples) -> list[Verdict]:
    """The gradient critical beta of each block of :data:`BLOCKS` on betas 0.30, 0.34, ..., 0.70, width 40, seed 0.

    Each study under ``out/BLOCK``; its figure (hidden and gradient ratios against L, theory beside) there.
    """
    verdicts = []
    for block, act in BLOCKS:
        folder = out / block
        scaling(folder, init="iid", block=block, activation=act, betas=BETAS, width=40, seed=0, depths=depths,
                ensemble=ensemble, samples=samples)
        manifest = json.loads((folder / "manifest.json").read_text())
        measured, theory = manifest["critical_beta_grad"], manifest["critical_beta_theory"]
        passed = measured is not None and abs(measured - theory) <= WITHIN
        print(f"gradients, {block} ({act}): critical beta {measured if measured is None else round(measured, 3)}, "
              f"theory {theory:g} +- {WITHIN:g} (hidden ratio: {manifest['critical_beta']}): "
              f"{'PASS' if passed else 'FAIL'}")
        verdicts.append(Verdict(claim=f"iid weights, {block} ({act}): critical beta of ||p_0 - p_L||/||p_L|| = 1/2",
                                source="Cor. 2, Figure 1 (gradients)", theory=theory, measured=measured,
                                tolerance=WITHIN, passed=passed, figure=str(folder / "scaling.png")))
    return verdicts
