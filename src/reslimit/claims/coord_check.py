"""The coordinate check across depth: under the depth rule, the change of h_L after t steps does not depend on L.

Claim (derived in reslimit/depth_rule.py and reslimit/studies/coord_check.py: one step moves h_L through the L
blocks by lr L alpha_L^2 with SGD and lr L alpha_L with Adam): the rms change of h_L that the blocks' weights make
after t = 1, 3, 10 steps (res-3, width 32, on the digits, the input and output layers trained at lr0) has a
slope in log2 L within 0.1 of 0 at every t under the rule lr = lr0 (L / L0)^gamma, and within 0.1 of -gamma at
t = 1 without it (the first-order arithmetic: L^(1/2) for Adam at beta = 1/2 on iid weights, L^-1 for SGD at
beta = 1 on smooth weights). Later steps without the rule are shown, not judged: the first-order term no
longer is the whole change once the weights have moved.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..studies.coord_check import coord_check
from ._verdict import Verdict

SETTINGS = {"adam_iid": dict(optimizer="adam", beta=0.5, init="iid", lr0=2.0**-8),
            "sgd_smooth": dict(optimizer="sgd", beta=1.0, init="smooth", lr0=2.0**-4)}
QUICK = dict(depths=[8, 16, 32, 64, 128], seeds=4)
FULL = dict(depths=[8, 16, 32, 64, 128, 256, 512], seeds=8)
THEORY = ("rms change of h_L by the blocks after t steps ~ L^0 under lr = lr0 (L/L0)^γ, L^−γ without it at "
          "t = 1 (derived in `reslimit/depth_rule.py`)")
TOLERANCE = "± 0.1"
BAND = 0.1


def check(out: Path, *, depths, seeds) -> list[Verdict]:
    """One coordinate check per setting of :data:`SETTINGS` under ``out/<name>`` (steps 1, 3, 10, seed 0); a
    verdict per step count under the rule and one at t = 1 without it."""
    claims = []
    for name, s in SETTINGS.items():
        result = coord_check(out / name, depths=depths, seeds=seeds, steps=[1, 3, 10], seed=0, progress=False, **s)
        for rule, steps in (("depth", (1, 3, 10)), ("none", (1,))):
            for t in steps:
                slope = result.slope["dh", rule, t]
                measured, theory = slope["slope"], slope["theory"]
                passed = math.isfinite(measured) and abs(measured - theory) <= BAND
                note = f"95% interval [{slope['ci_low']:.3f}, {slope['ci_high']:.3f}] over {seeds} seeds"
                print(f"{name}, rule {rule}, t = {t}: slope {measured:.3f} ({note}), theory {theory:g} +- {BAND}: "
                      f"{'PASS' if passed else 'FAIL'}")
                claims.append(Verdict(
                    claim=f"slope of log2(rms change of h_L by the blocks after {t} step{'s' if t > 1 else ''}) on "
                          f"log2(L), rule {rule}: {s['optimizer']}, beta = {s['beta']:g}, {s['init']} weights, "
                          f"res-3, d = 32, lr0 = {s['lr0']:g}",
                    source="reslimit/depth_rule.py (derived; muP's coordinate check)", theory=theory,
                    measured=measured if math.isfinite(measured) else None, tolerance=BAND, passed=bool(passed),
                    figure=str(out / name / "coord_check.png"), note=note))
    return claims
