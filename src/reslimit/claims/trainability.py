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

from ..studies.trainability import trainability

CHANCE_BOUND = 0.3  # below it, a 10-class network has not trained
TRAINED = 0.9


def check(out: Path, **size) -> list[dict]:
    """Run the trainability study under ``out`` (``size``: its hursts, betas, depth, lrs, epochs); seed 0."""
    result = trainability(out, seed=0, workers=2, **size)  # one torch thread per worker: 2 cores, no contention
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
            claims.append({"claim": f"trainability, res3 (relu), L = {result.params['depth']}, H = {h:.3g}, {what}",
                           "source": "Section 5, Figure 9", "theory": theory,
                           "measured": None if math.isnan(worst) else worst,
                           "tolerance": 0.0, "passed": bool(passed), "figure": figure})
    return claims
