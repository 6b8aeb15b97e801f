"""Critical learning periods: blurred inputs in the first T epochs, then clean ones (the course's last part).

Claims (reslimit.studies.critical_periods; res-3 ReLU, i.i.d. weights, beta = 1/2, depth 16, width 32, SGD
lr 0.05 on scikit-learn's digits, the training images blurred 2 x 2; every accuracy on the clean test set):

1. while the deficit lasts, the network is worse than the clean control at the same epoch: the cost
   control - blurred is positive in every seed, and its mean over seeds exceeds 4 standard errors;
2. the deficit leaves a lasting cost (a critical period): after R clean epochs (10 at quick sizes, 20 at full)
   the network stays below the control trained as many epochs, positive in every seed, mean over seeds > 4
   standard errors, for the longest deficits measured (T >= 20 epochs).

Measured at full sizes but not claimed: the lasting cost of shorter deficits (T = 5, 10), of the order of a
point, whose spread over seeds reaches zero (it is reported in the CSV and the figure with its standard error);
and early dropout (dropout 1/2 in the residual branches for the first T epochs, then none, against none
throughout: ``deficit="dropout"`` of the study), whose effect on digits was within one standard error of zero
in a first measurement (4 seeds: +0.3 +- 0.3 points after T = 10, -0.07 +- 0.17 after T = 20), written to
early_dropout.csv and early_dropout.png beside the claims. Critical periods as in Achille, Rovere, Soatto,
"Critical learning periods in deep networks", ICLR 2019; early dropout as in Liu et al., "Dropout reduces
underfitting", ICML 2023.
"""

from __future__ import annotations

from pathlib import Path

from .. import store
from ..studies.critical_periods import critical_periods
from ._verdict import Verdict

QUICK = dict(deficits=[20], recovery=10, seeds=[0, 1, 2, 3], dropout_deficits=[])
FULL = dict(deficits=[5, 10, 20, 40], recovery=20, seeds=list(range(8)), dropout_deficits=[5, 10, 20])
THEORY = ("critical periods: blurred digits for the first T epochs cost clean test accuracy while the deficit lasts, "
          "and (T ≥ 20) after 20 clean epochs too, in every seed")
TOLERANCE = "cost > 0 in every seed and > 4 SE"

SOURCE = "critical learning periods (Achille et al. 2019), the course on initialization and training"
CLAIMED = 20  # the shortest deficit whose lasting cost is claimed (claim 2)


def check(out: Path, *, deficits, recovery, seeds, dropout_deficits=()) -> list[Verdict]:
    """Both claims for every deficit T (claim 2 for T >= CLAIMED); rows in ``out/critical_periods.csv``, the
    summary in ``out/critical_periods_summary.csv``, figure ``out/critical_periods.png``. With
    ``dropout_deficits``, early dropout is measured too (no claim): early_dropout.csv, early_dropout.png."""
    out.mkdir(parents=True, exist_ok=True)
    if dropout_deficits:
        _write(out, "early_dropout", critical_periods(deficits=dropout_deficits, recovery=recovery, seeds=seeds,
                                                      deficit="dropout"))
    result = critical_periods(deficits=deficits, recovery=recovery, seeds=seeds)
    _write(out, "critical_periods", result)
    figure = str(out / "critical_periods.png")
    claims = []
    for s in result.summary():
        for name, what in (("during", "while the deficit lasts (epoch T)"),
                           ("after", f"{recovery} clean epochs after it (epoch T + {recovery})")):
            if name == "after" and s["deficit"] < CLAIMED:
                continue
            cost, se, positive, n = s[f"cost_{name}"], s[f"se_{name}"], s[f"positive_{name}"], s["seeds"]
            passed = positive == n and cost > 4 * se
            print(f"T = {s['deficit']}, {name}: cost {cost:.4f} (SE {se:.4f}) > 0 in {positive}/{n} seeds: "
                  f"{'PASS' if passed else 'FAIL'}")
            claims.append(Verdict(claim=f"a blurred-input deficit of T = {s['deficit']} epochs costs test accuracy "
                                        f"{what}: control - blurred > 0 in every seed, mean > 4 SE ({n} seeds)",
                                  source=SOURCE, theory="> 0 in every seed", measured=cost,
                                  tolerance=f"4 SE = {4 * se:.3g}; positive in {positive}/{n} seeds", passed=passed,
                                  figure=figure))
    return claims


def _write(out: Path, name: str, result) -> None:
    """``out/NAME.csv`` (the rows), ``out/NAME_summary.csv`` and the figure of ``result``."""
    for stem, rows in ((name, result.rows), (f"{name}_summary", result.summary())):
        store.write_rows(out / f"{stem}.csv", rows)
    result.plot(out)
