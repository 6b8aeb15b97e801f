"""The exact second-moment identity of res-3 at every hidden width M: the same c = 1/2 for M = d/4, d and 4d.

Claim (Marion et al. 2022, proof of Lemma 1, with the hidden width of reslimit.blocks): with V_k d x M of i.i.d.
centred entries of variance 1/M and W_k M x d of i.i.d. symmetric entries of variance 1/d, independent of each
other and of h_0, E||V ReLU(W h)||^2 = d E[ReLU(z)^2] = ||h||^2 / 2 for every M (z = (W h)_i, of variance
||h||^2 / d), so E||h_L - h_0||^2 / ||h_0||^2 = (1 + alpha_L^2 / 2)^L - 1 exactly, whatever M. The Monte-Carlo mean
over an ensemble of networks (i.i.d. Gaussian weights, beta = 1/2, width d = 16) must be within 4 standard errors
(over the ensemble members, whose inputs share their weights) of the right side, for M = 4, 16 and 64.
"""

from __future__ import annotations

from pathlib import Path

from .. import store
from ..plots import hidden_width_figure
from ..simulate import simulate
from ._verdict import Verdict

QUICK = dict(depths=(4, 16, 64), ensemble=64)
FULL = dict(depths=(4, 16, 64, 256, 1024), ensemble=256)
THEORY = "E‖h_L − h_0‖²/‖h_0‖² = (1 + α²/2)^L − 1 for res-3 at every hidden width M (V of variance 1/M, W 1/d)"
TOLERANCE = "exact, ± 4 SE"
WIDTH = 16
HIDDEN = (WIDTH // 4, WIDTH, 4 * WIDTH)


def check(out: Path, *, depths, ensemble) -> list[Verdict]:
    """One claim per hidden width M of ``HIDDEN`` and depth: :func:`reslimit.simulate` of res-3 on i.i.d. weights,
    width 16, beta 1/2, ``ensemble`` draws x 8 inputs, seed 0. Rows in ``out/hidden_width.csv``."""
    rows, claims = [], []
    for M in HIDDEN:
        for L in depths:
            run = simulate(block="res3", init="iid", depth=L, width=WIDTH, hidden=M, beta=0.5, ensemble=ensemble,
                           samples=8, seed=0)
            mean, se, theory = run.statistics["mean_sq"], run.statistics["se_sq"], run.theory
            passed = bool(abs(mean - theory) <= 4 * se)
            rows.append({"hidden": M, "depth": L, "c": run.c, "measured": mean, "se": se, "theory": theory,
                         "z": (mean - theory) / se, "passed": passed})
            print(f"res-3, d={WIDTH}, M={M}, L={L}: measured {mean:.5g} (SE {se:.3g}), theory {theory:.5g}, "
                  f"z = {(mean - theory) / se:.2f}: {'PASS' if passed else 'FAIL'}")
            claims.append(Verdict(claim=f"E||h_L - h_0||^2/||h_0||^2 = (1 + alpha^2/2)^L - 1, res-3 (ReLU), d = "
                                        f"{WIDTH}, hidden M = {M}, beta = 1/2, L = {L}, {ensemble} x 8 samples",
                                  source="exact identity (proof of Lemma 1), V of variance 1/M, W of variance 1/d",
                                  theory=theory, measured=mean, tolerance=f"4 SE = {4 * se:.3g}", passed=passed,
                                  figure=str(out / "hidden_width.png")))
    out.mkdir(parents=True, exist_ok=True)
    store.write_rows(out / "hidden_width.csv", rows)
    hidden_width_figure(rows, out)
    return claims
