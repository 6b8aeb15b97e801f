"""Critical learning periods: blurred inputs in the first T epochs, then clean ones (the course's last part).

Claims (reslimit.studies.critical_periods; res-3 ReLU, i.i.d. weights, beta = 1/2, depth 16, width 32, SGD
lr 0.05 on scikit-learn's digits, the training images blurred 2 x 2; every accuracy on the clean test set):

1. while the deficit lasts, the network is worse than the clean control at the same epoch: the cost
   control - blurred is positive in every seed, and its mean over seeds exceeds 4 standard errors;
2. the deficit leaves a lasting cost (a critical period): after R = 20 clean epochs the network stays below
   the control trained as many epochs, positive in every seed, mean over seeds > 4 standard errors, for the
   longest deficits measured (T >= 20 epochs).

Measured at full sizes but not claimed: the lasting cost of shorter deficits (T = 5, 10), of the order of a
point, whose spread over seeds reaches zero (it is reported in the CSV and the figure with its standard error).
Critical periods as in Achille, Rovere, Soatto, "Critical learning periods in deep networks", ICLR 2019.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..studies.critical_periods import critical_periods

SOURCE = "critical learning periods (Achille et al. 2019), the course on initialization and training"
CLAIMED = 20  # the shortest deficit whose lasting cost is claimed (claim 2)


def check(out: Path, *, deficits, recovery, seeds) -> list[dict]:
    """Both claims for every deficit T (claim 2 for T >= CLAIMED); rows in ``out/critical_periods.csv``, the
    summary in ``out/critical_periods_summary.csv``, figure ``out/critical_periods.png``."""
    result = critical_periods(deficits=deficits, recovery=recovery, seeds=seeds)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("critical_periods", result.rows), ("critical_periods_summary", result.summary())):
        with open(out / f"{name}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    result.plot(out)
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
            claims.append({"claim": f"a blurred-input deficit of T = {s['deficit']} epochs costs test accuracy "
                                    f"{what}: control - blurred > 0 in every seed, mean > 4 SE ({n} seeds)",
                           "source": SOURCE, "theory": "> 0 in every seed", "measured": cost,
                           "tolerance": f"4 SE = {4 * se:.3g}; positive in {positive}/{n} seeds", "passed": passed,
                           "figure": figure})
    return claims
