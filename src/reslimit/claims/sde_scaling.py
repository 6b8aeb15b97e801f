"""The SDE scaling as written: weights N(0, 2/d) against the SDE with diffusion sqrt(2/d); strong rate -1/2.

Claim (Marion et al. 2022, Prop. 4, the SDE limit of res-1; the recurrence (3.4) and the SDE (3.5) as labelled and
derived in reslimit.studies.sde_scaling): h_{k+1} = h_k + L^(-1/2) V_{k+1} sigma(h_k) with entries of V_{k+1} i.i.d.
N(0, 2/d) is, on the same Brownian path, the Euler-Maruyama scheme of dH_t = sqrt(2/d) dB_t sigma(H_t), and
E max_k ||H_{k/L} - h_k|| ~ c L^(-1/2) (sigma = tanh, Lipschitz; non-commutative noise, so order 1/2 exactly).
The slope of log mean error in log L must be within 0.07 of -1/2 (bootstrap 95% interval shown); a control,
the same network against the SDE with diffusion sqrt(1/d), must not converge (slope > -0.2).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.sde_scaling import CONTROL_SLOPE, RATE, sde_scaling
from ..studies.sde_scaling import TOLERANCE as WITHIN  # the slope's
from ._verdict import Verdict

QUICK = dict(depths=[8, 16, 32, 64, 128], width=8, samples=32, reference_factor=32)
FULL = dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, samples=64, reference_factor=64)
THEORY = ("the documents' SDE scaling (3.4)–(3.5): weights N(0, 2/d) against dH = √(2/d) dB σ(H) on the same Brownian "
          "path, error ~ L^−½ (res-1 tanh); the √(1/d) diffusion does not converge (a control)")
TOLERANCE = "−½ ± 0.07; control slope > −0.2"


def check(out: Path, *, depths, width, samples, reference_factor) -> list[Verdict]:
    """The rate of (3.4) against (3.5) and the control; seed 0, res-1 (tanh), the study under ``out``."""
    r = sde_scaling(out, depths=depths, width=width, samples=samples, reference_factor=reference_factor, seed=0)
    m, u, c = r.rates["matched"], r.rates["unit"], r.rates["mismatched"]
    ok = abs(m.slope - RATE) <= WITHIN
    figure = str(Path(out) / "sde_scaling.png")
    print(f"(3.4) vs (3.5), weights N(0, 2/d), diffusion sqrt(2/d): slope {m.slope:.3f} [{m.ci_low:.3f}, "
          f"{m.ci_high:.3f}], theory -0.5 +- {WITHIN:g}: {'PASS' if ok else 'FAIL'}; std 1: slope {u.slope:.3f}; "
          f"error ratio (2/d vs 1/d) {r.constant_ratio:.3f}; control (2/d weights vs sqrt(1/d) diffusion) slope "
          f"{c.slope:.3f}: {'PASS' if c.slope > CONTROL_SLOPE else 'FAIL'}")
    return [Verdict(claim=f"res1 (tanh), weights N(0, 2/d) vs dH = sqrt(2/d) dB sigma(H): strong rate -1/2 "
                          f"(95% CI [{m.ci_low:.3f}, {m.ci_high:.3f}]; error 2/d over 1/d: {r.constant_ratio:.2f})",
                    source="(3.4)-(3.5), Prop. 4", theory=RATE, measured=m.slope, tolerance=WITHIN,
                    passed=bool(ok), figure=figure),
            Verdict(claim="control: weights N(0, 2/d) vs the diffusion sqrt(1/d) do not converge (slope > -0.2)",
                    source="(3.4)-(3.5) (control)", theory=f"> {CONTROL_SLOPE:g}", measured=c.slope,
                    tolerance="slope > -0.2", passed=bool(c.slope > CONTROL_SLOPE), figure=figure)]
