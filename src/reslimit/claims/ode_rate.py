"""ODE limit: a ResNet on smooth (Lipschitz) weights with beta = 1 converges to the neural ODE at rate 1/L.

Claim (Marion et al. 2022, Prop. 7; Euler's order 1): the slope of log mean max_k ||H_{k/L} - h_k|| in log L
is -1, within 0.05, over depths 8..1024, for res-3 (ReLU) and res-2 (tanh); the adjoint's slope is shown too.
"""

from __future__ import annotations

from pathlib import Path

from ._common import rate_claim
from ._verdict import Verdict

QUICK = dict(depths=[8, 16, 32, 64, 128], width=8, samples=16)
FULL = dict(depths=[8, 16, 32, 64, 128, 256, 512, 1024], width=16, samples=64)
THEORY = "ODE limit, smooth weights, β = 1: error ~ L^−1 (res-3 ReLU, res-2 tanh) (Marion et al. 2022, Prop. 7)"
TOLERANCE = "−1 ± 0.05"


def check(out: Path, *, depths, width, samples) -> list[Verdict]:
    """The path-error slope of res-3 (ReLU) and res-2 (tanh) against -1, seed 0; each study under ``out/BLOCK``."""
    return [rate_claim(f"ODE rate -1, {block} ({act})", "Prop. 7 (Lipschitz weights, beta = 1)", out / block,
                       limit="ode", block=block, activation=act, depths=depths, width=width, samples=samples, seed=0)
            for block, act in (("res3", "relu"), ("res2", "tanh"))]
