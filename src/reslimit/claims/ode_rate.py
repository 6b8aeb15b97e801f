"""ODE limit: a ResNet on smooth (Lipschitz) weights with beta = 1 converges to the neural ODE at rate 1/L.

Claim (Marion et al. 2022, Prop. 7; Euler's order 1): the slope of log mean max_k ||H_{k/L} - h_k|| in log L
is -1, within 0.05, over depths 8..1024, for res-3 (ReLU) and res-2 (tanh); the adjoint's slope is shown too.
"""

from __future__ import annotations

from pathlib import Path

from .common import rate_claim


def check(out: Path, *, depths, width, samples) -> list[dict]:
    """The path-error slope of res-3 (ReLU) and res-2 (tanh) against -1, seed 0; each study under ``out/BLOCK``."""
    return [rate_claim(f"ODE rate -1, {block} ({act})", "Prop. 7 (Lipschitz weights, beta = 1)", out / block,
                       limit="ode", block=block, activation=act, depths=depths, width=width, samples=samples, seed=0)
            for block, act in (("res3", "relu"), ("res2", "tanh"))]
