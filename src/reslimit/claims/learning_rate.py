"""SGD: the largest learning rate that trains grows like L^(2 beta - 1): slope 0 at beta = 1/2, 1 at beta = 1.

Claim (derived in reslimit/studies/learning_rate.py from the gradient of V_{k+1}, alpha p_{k+1} g_k^T: one SGD
step moves h_L by about lr alpha^2 L, so a depth-independent step needs lr proportional to L^(2 beta - 1)): for
res-1 tanh on the synthetic regression task with frozen input and output layers, the largest lr of a geometric
grid (factor 2^(1/2)) that still trains, "trains" meaning not diverged and the test loss below the untrained
network's after two epochs (the step-size edge: reslimit/studies/learning_rate.py says why not "halved"),
has a least-squares slope in log L within the grid's resolution of 2 beta - 1 (tolerance log r sum_{x_i > 0} x_i
/ sum x_i^2, x_i = log L_i centred: the largest slope error the grid's rounding gives).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..studies.learning_rate import learning_rate
from ._verdict import Verdict

QUICK = dict(depths=[16, 32, 64, 128, 256], epochs=2)
FULL = dict(depths=[16, 32, 64, 128, 256, 512, 1024], epochs=3)
THEORY = ("largest SGD lr that trains (the test loss below the untrained one after 2 epochs: the step-size edge) "
          "~ L^(2β−1) (slope 0 at β = ½, 1 at β = 1; derived in `reslimit/studies/learning_rate.py`)")
TOLERANCE = "± grid resolution (0.15 quick)"


def check(out: Path, *, depths, epochs) -> list[Verdict]:
    """Run the learning-rate study under ``out`` at ``depths`` for ``epochs`` (its default betas); one verdict per
    beta."""
    # one torch thread per worker: 2 cores, no contention
    result = learning_rate(out, seed=0, workers=2, depths=depths, epochs=epochs)
    claims = []
    for beta in result.params["betas"]:
        measured, theory = result.slope[beta], result.theory[beta]
        passed = not math.isnan(measured) and abs(measured - theory) <= result.tolerance
        print(f"beta = {beta:g}: largest lr {[None if v is None else round(v, 3) for v in result.largest[beta]]} at "
              f"depths {result.params['depths']}; slope {measured:.3f}, theory {theory:g} +- "
              f"{result.tolerance:.3f}: {'PASS' if passed else 'FAIL'}")
        claims.append(Verdict(claim=f"largest SGD learning rate against L, {result.params['block']} "
                                    f"({result.params['activation']}), beta = {beta:g}: slope 2 beta - 1",
                              source="reslimit/studies/learning_rate.py (derived)", theory=theory,
                              measured=None if math.isnan(measured) else measured, tolerance=result.tolerance,
                              passed=bool(passed), figure=str(out / "learning_rate.png")))
    return claims
