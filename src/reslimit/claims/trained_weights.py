"""Weights after training (Marion et al. 2022, Figure 8): a smooth initialization stays smooth, an i.i.d. one rough.

Claim (Marion, Fermanian, Biau, Vert 2022, arXiv:2206.06929, Sec. 5 and Figure 8): res-3 (ReLU) trained on
digits (Adam, lr = 0.01 L^(beta - 1), reslimit.studies.trained) from (smooth V, beta = 1), (i.i.d. V,
beta = 1), (i.i.d. V, beta = 1/2). The Hölder exponent (reslimit.regularity) of the trained V is 1 for the
smooth initialization, and so is that of the change V(trained) - V(init): gradient steps on a network whose
forward states h_k are a smooth function of k/L give gradients alpha_L p_{k+1} g_k^T smooth in k. For the
i.i.d. initializations it stays 1/2: the random walk of the initial weights dominates the change. Each
measured exponent (capped at 1) must lie within 4 bootstrap SEs of the theory's (the SE of the raw exponent,
over resampled columns), and the trained network's test accuracy must be at least twice chance (2/10).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.trained import weights_study
from ._verdict import Verdict

QUICK = dict(depth=256, width=16, epochs=10)
FULL = dict(depth=1000, width=16, epochs=20)  # Figure 8: depth 1000
THEORY = ("trained weights (res-3 on digits, Adam, lr = 0.01 L^(β−1)): Hölder exponent of trained V and of its change "
          "1 from a smooth init (β = 1), ½ from an i.i.d. init (β = 1, ½) (Marion et al. 2022, Fig. 8)")
TOLERANCE = "± 4 bootstrap SE"

SOURCE = "Marion et al. 2022, Sec. 5, Fig. 8"


def check(out: Path, *, depth, width, epochs) -> list[Verdict]:
    """Train the three settings at ``depth`` (seed 0); one verdict per exponent judged, figure
    ``out/trained_weights.png``, rows ``out/weights.csv``."""
    rows = weights_study(out, depth=depth, width=width, epochs=epochs)
    verdicts = []
    for row in rows:
        theory = 1.0 if row["init"] == "smooth" else 0.5
        judged = ("after", "change") if row["init"] == "smooth" else ("after",)
        for which in judged:
            tolerance = 4 * row[f"{which}_se"]
            trained = row["status"] == "ok" and row["accuracy_after"] >= 0.2
            passed = bool(abs(row[f"{which}_exponent"] - theory) <= tolerance and trained)
            what = "trained V" if which == "after" else "V(trained) - V(init)"
            verdicts.append(Verdict(
                claim=f"Hölder exponent of {what}, {row['init']} init, beta={row['beta']:g}, res-3, L={depth}, "
                      f"d={width}", source=SOURCE, theory=theory, measured=row[f"{which}_exponent"],
                tolerance=tolerance, passed=passed, figure=str(out / "trained_weights.png"),
                note=f"raw exponent {row[f'{which}_raw']:.3f} [{row[f'{which}_ci_low']:.3f}, "
                     f"{row[f'{which}_ci_high']:.3f}] (before training {row['before_raw']:.3f}); "
                     f"||V_after - V_before|| / ||V_before|| = {row['relative_change']:.3g}; test accuracy "
                     f"{row['accuracy_before']:.3f} -> {row['accuracy_after']:.3f} (chance 0.1); Adam, "
                     f"lr {row['lr']:.3g}, {row['epochs']} epochs"))
            print(f"{verdicts[-1].claim}: {verdicts[-1].measured:.3f}, theory {theory:g} +- {tolerance:.3f}: "
                  f"{'PASS' if passed else 'FAIL'} ({verdicts[-1].note})")
    return verdicts
