"""The exact second-moment identity of a scaled ResNet on i.i.d. weights.

Claim (Marion et al. 2022, proof of Lemma 1): when the entries of sqrt(d) V_k (and sqrt(d) W_k) are
i.i.d., symmetric, of variance 1 and independent of h_0,
E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha_L^2)^L - 1 exactly, with c = 1/2 for res-3 (ReLU) and c = 1 for
res-1 with the identity. The Monte-Carlo mean over an ensemble of networks must be within 4 standard errors
(over the ensemble members) of the right side, at beta = 1/2 and 1. beta = 1/4 is left out: there the ratio is
near log-normal at large L, its sample mean skewed low and its SE too small (see reslimit.demo).
"""

from __future__ import annotations

from pathlib import Path

from ..demo import plot, run_demo, write_csv
from ._verdict import Verdict

QUICK = dict(depths=(4, 16, 64), ensemble=64)
FULL = dict(depths=(4, 16, 64, 256, 1024), ensemble=256)
THEORY = "E‖h_L − h_0‖²/‖h_0‖² = (1 + c α²)^L − 1, i.i.d. weights, c = ½ (res-3) or 1 (res-1, identity)"
TOLERANCE = "exact, ± 4 SE"


def check(out: Path, *, depths, ensemble) -> list[Verdict]:
    """One claim per block, beta and depth of :func:`reslimit.demo.run_demo` (width 16, 8 inputs, seed 0).

    Rows in ``out/second_moment.csv``, figure ``out/second_moment.png``.
    """
    rows = run_demo(blocks=(("res3", "relu"), ("res1", "identity")), betas=(0.5, 1.0), width=16, inputs=8,
                    seed=0, depths=depths, ensemble=ensemble)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "second_moment.csv")
    plot(rows, out / "second_moment.png")
    claims = []
    for r in rows:
        print(f"{r['block']} ({r['activation']}), beta={r['beta']:g}, L={r['depth']}: measured {r['measured']:.5g} "
              f"(SE {r['se']:.3g}), theory {r['theory']:.5g}, z = {r['z']:.2f}: {r['verdict'].upper()}")
        claims.append(Verdict(claim=f"E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2)^L - 1, {r['block']} "
                                    f"({r['activation']}, c = {r['c']:g}), beta = {r['beta']:g}, L = {r['depth']}, "
                                    f"{r['ensemble']} x {r['inputs']} samples",
                              source="exact identity (proof of Lemma 1)", theory=r["theory"], measured=r["measured"],
                              tolerance=f"4 SE = {4 * r['se']:.3g}", passed=r["verdict"] == "pass",
                              figure=str(out / "second_moment.png")))
    return claims
