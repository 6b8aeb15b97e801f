"""Dropout in the residual branch: the exact second moment, and training on the digits with it.

Claims (derived in reslimit/studies/dropout.py; dropout after Srivastava et al. 2014, here on the branch
g(h_k, W_{k+1}) with inverted scaling 1/q, q the keep probability):

- on i.i.d. Gaussian weights, in training mode, E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2 / q)^L - 1 exactly
  (c = 1/2 res-3 ReLU, 1 res-1 identity): the Monte-Carlo mean within 4 SE over the ensemble members, beta = 1/2;
- res-3 on the digits (SGD, lr 0.05, beta = 1/2): with dropout 0.1 the test accuracy after training (evaluation
  mode) is at least that without dropout minus 0.03, for every seed run, and both at least 0.8. What we found:
  at depth 16, width 16, 4 epochs, seeds 0-2, the accuracies with and without dropout 0.1 differed by 0.002-0.006
  (0.3: up to 0.014); dropout neither helps nor hurts measurably at these sizes, so no claim of a gain is made.
"""

from __future__ import annotations

from pathlib import Path

from .. import plots, store
from ..studies.dropout import train_digits
from ..studies.stochastic_depth import second_moment
from ._verdict import Verdict

QUICK = dict(depths=[16, 64], drops=[0.1, 0.5], ensemble=256, inputs=8, train_depth=8, width=16, epochs=3, seeds=[0])
FULL = dict(depths=[16, 64, 256], drops=[0.1, 0.3, 0.5], ensemble=1024, inputs=8, train_depth=16, width=16, epochs=4,
            seeds=[0, 1, 2, 3])
THEORY = ("dropout in the residual branch (keep q, inverted): E‖h_L − h_0‖²/‖h_0‖² = (1 + c α²/q)^L − 1; digits "
          "accuracy with dropout 0.1 ≥ without − 0.03")
TOLERANCE = "4 SE; thresholds"

TRAIN_DROPOUT, MARGIN, FLOOR = 0.1, 0.03, 0.8


def check(out: Path, *, depths, drops, ensemble, inputs, train_depth, width, epochs, seeds) -> list[Verdict]:
    """The second moments at ``depths`` for each dropout in ``drops`` (``ensemble`` networks x ``inputs``), and
    training on the digits with and without dropout 0.1 for each of ``seeds``. Rows in ``out/*.csv``, figure
    ``out/dropout.png``."""
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "dropout.png"
    rows = [second_moment(block=b, activation=a, beta=0.5, depth=L, ensemble=ensemble, inputs=inputs, dropout=p)
            for b, a in (("res3", "relu"), ("res1", "identity")) for p in drops for L in depths]
    runs = [train_digits(dropout=p, seed=s, depth=train_depth, width=width, epochs=epochs)
            for s in seeds for p in (None, TRAIN_DROPOUT)]
    store.write_rows(out / "second_moment.csv", rows)
    store.write_rows(out / "training.csv", [{k: v for k, v in r.items() if k != "accuracies"} for r in runs])
    plots.dropout_figure(rows, runs, figure)
    source = "dropout (Srivastava et al. 2014) in the residual branch; derived in reslimit/studies/dropout.py"
    claims = []
    for r in rows:
        passed = abs(r["z"]) <= 4
        print(f"{r['block']} ({r['activation']}), q = {1 - r['dropout']:g}, L = {r['depth']}: measured "
              f"{r['measured']:.5g} (SE {r['se']:.3g}), theory {r['theory']:.5g}: {'PASS' if passed else 'FAIL'}")
        claims.append(Verdict(claim=f"training mode: E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2 / q)^L - 1, "
                                    f"{r['block']} ({r['activation']}, c = {r['c']:g}), q = {1 - r['dropout']:g}, "
                                    f"beta = 1/2, L = {r['depth']}, {r['ensemble']} x {r['inputs']} samples",
                              source=source, theory=r["theory"], measured=r["measured"],
                              tolerance=f"4 SE = {4 * r['se']:.3g}", passed=passed, figure=str(figure)))
    pairs = [(plain, drop) for plain, drop in zip(runs[::2], runs[1::2])]
    worst = min(drop["final"] - plain["final"] for plain, drop in pairs)
    lowest = min(r["final"] for r in runs)
    passed = worst >= -MARGIN and lowest >= FLOOR
    print(f"digits, dropout {TRAIN_DROPOUT:g} vs none: accuracies {[(p['final'], d['final']) for p, d in pairs]}; "
          f"worst difference {worst:.3f}, lowest {lowest:.3f}: {'PASS' if passed else 'FAIL'}")
    claims.append(Verdict(claim=f"res-3 on the digits (depth {train_depth}, width {width}, {epochs} epochs, SGD lr "
                                f"0.05, seeds {list(seeds)}): test accuracy with dropout {TRAIN_DROPOUT:g} >= "
                                f"without - {MARGIN:g}, both >= {FLOOR:g} (measured: min over seeds of the difference; "
                                f"lowest accuracy {lowest:.3f})",
                          source=source, theory=f">= -{MARGIN:g}", measured=worst, tolerance=MARGIN, passed=passed,
                          figure=str(figure)))
    return claims
