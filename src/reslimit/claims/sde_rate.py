"""SDE limit: a ResNet on Brownian (i.i.d. Gaussian) weights with beta = 1/2 converges to the neural SDE at 1/sqrt(L).

Claim (Marion et al. 2022, Prop. 4; Euler-Maruyama's strong order 1/2, Kloeden & Platen 1992): the slope of
log mean max_k ||H_{k/L} - h_k|| in log L is -1/2, within 0.07, over depths 16..1024, res-1 (tanh), width 16.
"""

from __future__ import annotations

from pathlib import Path

from ._common import rate_claim
from ._verdict import Verdict

QUICK = dict(depths=[16, 32, 64, 128, 256], width=8, samples=32)
FULL = dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, samples=64)
THEORY = ("SDE limit, Brownian weights, β = ½: error ~ L^−½ (res-1 tanh) (Marion et al. 2022, Prop. 4; Kloeden & "
          "Platen 1992)")
TOLERANCE = "−½ ± 0.07"


def check(out: Path, *, depths, width, samples) -> list[Verdict]:
    """The path-error slope of res-1 (tanh) against -1/2, seed 0; the study under ``out``."""
    return [rate_claim("SDE rate -1/2, res1 (tanh)", "Prop. 4 (i.i.d. weights, beta = 1/2)", out,
                       limit="sde", block="res1", activation="tanh", depths=depths, width=width, samples=samples,
                       seed=0)]
