"""The depth rule transfers the best learning rate across depth; without it the best rate moves as L^gamma.

Claim (derived in reslimit/depth_rule.py: one step moves the output through the L blocks by lr L alpha_L^2 with
SGD and lr L alpha_L with Adam): on the digits (res-3, width 32, iid weights for Adam at beta = 1/2, smooth
weights for SGD at beta = 1), the best lr0 of a log grid, refined in log lr0 (reslimit/studies/transfer.py),
has a slope in log2 L of

- gamma = beta - 1 = -1/2 (Adam) and 2 beta - 1 = +1 (SGD) without the rule, where the blocks alone learn (input
  and output layers frozen: the setting of the arithmetic), within 0.2;
- 0 with the rule lr = lr0 (L / L0)^gamma on the blocks' weights: its 95% bootstrap interval over seeds inside
  [-0.2, 0.2] (the note says whether it holds 0: a finite-depth bias of a few hundredths is expected), with the
  layers frozen and, for Adam, with the input and output layers trained at lr0 as ``reslimit train`` does.
A best lr0 on the grid's edge fails the claim (the slope would be the grid's).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..studies.transfer import transfer
from ._verdict import Verdict

SETTINGS = {  # name: the network and optimizer, the lr0 grid's exponents of 2, the rules measured
    "adam_iid": dict(optimizer="adam", beta=0.5, init="iid", layers="frozen", octaves=(-11, -1),
                     rules=("none", "depth")),
    "sgd_smooth": dict(optimizer="sgd", beta=1.0, init="smooth", layers="frozen", octaves=(-2, 8),
                       rules=("none", "depth")),
    "adam_iid_trained": dict(optimizer="adam", beta=0.5, init="iid", layers="trained", octaves=(-11, -1),
                             rules=("depth",)),
}
QUICK = dict(depths=[8, 32, 128], per_octave=1, seeds=3, epochs=2)
FULL = dict(depths=[8, 16, 32, 64, 128, 256], per_octave=1, seeds=5, epochs=5)
THEORY = ("best lr0 ~ L^γ without the rule (γ = β − 1 Adam, 2β − 1 SGD; input and output layers frozen), L^0 "
          "with lr = lr0 (L/L0)^γ on the blocks (derived in `reslimit/depth_rule.py`)")
TOLERANCE = "± 0.2 (rule: the 95% interval inside ± 0.2)"
BAND = 0.2


def check(out: Path, *, depths, per_octave, seeds, epochs) -> list[Verdict]:
    """One transfer study per setting of :data:`SETTINGS` under ``out/<name>`` (res-3, width 32, digits, base
    depth the smallest, seed 0), lr0 on 2^(k / per_octave) over the setting's octaves; a verdict per rule."""
    claims = []
    for name, s in SETTINGS.items():
        lo, hi = s["octaves"]
        lr0s = [2.0 ** (k / per_octave) for k in range(lo * per_octave, hi * per_octave + 1)]
        result = transfer(out / name, depths=depths, lr0s=lr0s, seeds=seeds, epochs=epochs, optimizer=s["optimizer"],
                          beta=s["beta"], init=s["init"], layers=s["layers"], rules=list(s["rules"]), seed=0,
                          progress=False)
        for rule in s["rules"]:
            slope, edges = result.slope[rule], [b for b in result.best[rule] if b["edge"]]
            measured, lo_ci, hi_ci = slope["slope"], slope["ci_low"], slope["ci_high"]
            theory = slope["theory"] if rule == "depth" else result.gamma
            finite = math.isfinite(measured) and not edges
            if rule == "depth":
                passed = finite and math.isfinite(lo_ci) and -BAND <= lo_ci and hi_ci <= BAND
                note = (f"95% interval [{lo_ci:.3f}, {hi_ci:.3f}] "
                        f"{'holds' if lo_ci <= 0.0 <= hi_ci else 'does not hold'} 0")
            else:
                passed = finite and abs(measured - theory) <= BAND
                note = f"95% interval [{lo_ci:.3f}, {hi_ci:.3f}]"
            if edges:
                note += "; best lr0 on the grid's edge at L = " + ", ".join(str(b["depth"]) for b in edges)
            best = ", ".join(f"{b['lr0']:.3g}" for b in result.best[rule])
            print(f"{name}, rule {rule}: best lr0 {best} at L = {depths}; slope {measured:.3f} ({note}), theory "
                  f"{theory:g} +- {BAND}: {'PASS' if passed else 'FAIL'}")
            layers = "input/output layers frozen" if s["layers"] == "frozen" else "input/output layers at lr0"
            claims.append(Verdict(
                claim=f"slope of log2(best lr0) on log2(L), rule {rule}: {s['optimizer']}, beta = {s['beta']:g}, "
                      f"{s['init']} weights, res-3, d = 32, {layers}, {epochs} epochs on the digits, {seeds} seeds",
                source="reslimit/depth_rule.py (derived; depth-muP)", theory=theory,
                measured=measured if math.isfinite(measured) else None,
                tolerance=f"95% interval inside ± {BAND}" if rule == "depth" else BAND, passed=bool(passed),
                figure=str(out / name / "transfer.png"), note=note))
    return claims
