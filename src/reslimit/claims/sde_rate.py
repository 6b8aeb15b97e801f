"""SDE limit: a ResNet on Brownian (i.i.d. Gaussian) weights with beta = 1/2 converges to the neural SDE at 1/sqrt(L).

Claim (Marion et al. 2022, Prop. 4; Euler-Maruyama's strong order 1/2, Kloeden & Platen 1992): the slope of
log mean max_k ||H_{k/L} - h_k|| in log L is -1/2, within 0.07, over depths 16..1024, res-1 (tanh), width 16.
"""

from __future__ import annotations

from pathlib import Path

from .common import rate_claim


def check(out: Path, *, depths, width, samples) -> list[dict]:
    """The path-error slope of res-1 (tanh) against -1/2, seed 0; the study under ``out``."""
    return [rate_claim("SDE rate -1/2, res1 (tanh)", "Prop. 4 (i.i.d. weights, beta = 1/2)", out,
                       limit="sde", block="res1", activation="tanh", depths=depths, width=width, samples=samples,
                       seed=0)]
