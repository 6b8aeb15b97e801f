"""fBm weights: below the initialisation's critical line the network does not train; at or above it, it does.

Claim (Marion, Fermanian, Biau, Vert 2022, Section 5 and Figure 9): for res-3 ReLU with fBm weights of Hurst
index H (outer and inner), the best test accuracy on digits over a small grid of SGD learning rates is that of a
network that does not train (every lr diverged, or accuracy < 0.3, chance being 0.1) for beta well below the
critical line beta_c = max(H, 1/2) of the initialisation's phase diagram (beta <= beta_c - 1 / log10 L, where
the initial hidden state is blown up by L^(beta_c - beta) >= 10: reslimit.studies.trainability), and at least
90% for beta >= beta_c. Two verdicts per H: the largest best accuracy of the cells well below the line (< 0.3),
the smallest of the cells at or above it (>= 0.9). Cells in between are shown, not judged.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..studies.trainability import trainability
from ._verdict import Verdict

QUICK = dict(hursts=[0.2, 0.4, 0.6, 0.8], betas=np.linspace(0, 1, 9).tolist(), depth=128, lrs=[0.01, 0.1, 1.0],
             epochs=3)
# Figure 9's depth
FULL = dict(hursts=np.linspace(0.1, 0.9, 9).tolist(), betas=np.linspace(0, 1.2, 13).tolist(), depth=1000,
            lrs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0], epochs=5)
THEORY = ("fBm init (res-3, digits, SGD, best over lrs): no training (accuracy < 0.3 or diverged) for "
          "β ≤ β_c − 1/log₁₀L, ≥ 90% for β ≥ β_c = max(H, ½) (Marion et al. 2022, Sec. 5, Fig. 9)")
TOLERANCE = "thresholds"

CHANCE_BOUND = 0.3  # below it, a 10-class network has not trained
TRAINED = 0.9


def check(out: Path, *, hursts, betas, depth, lrs, epochs) -> list[Verdict]:
    """Run the trainability study under ``out``: ``hursts`` x ``betas`` at ``depth``, the best of ``lrs`` after
    ``epochs``; seed 0."""
    # one torch thread per worker: 2 cores, no contention
    result = trainability(out, seed=0, workers=2, hursts=hursts, betas=betas, depth=depth, lrs=lrs, epochs=epochs)
    figure = str(out / "trainability.png")
    claims = []
    for i, h in enumerate(result.params["hursts"]):
        line = result.line[h]
        below = [b for j, b in enumerate(result.best[i]) if result.params["betas"][j] <= line - result.margin]
        above = [b for j, b in enumerate(result.best[i]) if result.params["betas"][j] >= line]
        for side, cells, theory in (("below", below, f"< {CHANCE_BOUND} or diverged"), ("above", above,
                                                                                          f">= {TRAINED}")):
            if not cells:
                continue
            if side == "below":
                worst = max((0.0 if math.isnan(b) else b for b in cells))
                passed = worst < CHANCE_BOUND
                what = f"beta <= {line:g} - {result.margin:.3f}: no training"
            else:
                worst = math.nan if any(math.isnan(b) for b in cells) else min(cells)
                passed = worst >= TRAINED
                what = f"beta >= {line:g}: trains"
            print(f"H = {h:.3g}, {what}: {'largest' if side == 'below' else 'smallest'} best accuracy of "
                  f"{len(cells)} cells {worst:.3f}, theory {theory}: {'PASS' if passed else 'FAIL'}")
            claims.append(Verdict(claim=f"trainability, res3 (relu), L = {result.params['depth']}, H = {h:.3g}, "
                                        f"{what}",
                                  source="Section 5, Figure 9", theory=theory,
                                  measured=None if math.isnan(worst) else worst,
                                  tolerance=0.0, passed=bool(passed), figure=figure))
    return claims
