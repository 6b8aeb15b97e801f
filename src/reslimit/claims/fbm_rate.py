"""fBm limit: a ResNet on fractional Brownian increments (H = 0.8, beta = H) converges at rate L^(1 - 2H).

Claim (Neuenkirch & Nourdin 2007: Euler for a Young equation has order 2H - 1): the slope is 1 - 2H = -0.6,
within 0.1, over depths 16..2048 at width 1. At larger widths the leading error term has a 1/width coefficient
and the pre-asymptotic slope is steeper: measured at widths 4 and 16 and shown, not judged.
"""

from __future__ import annotations

from pathlib import Path

from ._common import rate_claim
from ._verdict import Verdict

QUICK = dict(depths=[16, 32, 64, 128, 256, 512], samples=64)
FULL = dict(depths=[16, 32, 64, 128, 256, 512, 1024, 2048], samples=64)
THEORY = "fBm limit, H = 0.8, β = H: error ~ L^(1−2H), width 1 (Neuenkirch & Nourdin 2007)"
TOLERANCE = "−0.6 ± 0.1"


def check(out: Path, *, depths, samples) -> list[Verdict]:
    """The judged slope at width 1 (under ``out/width1``); widths 4 and 16 printed, not judged; seed 0."""
    common = dict(limit="fbm", hurst=0.8, block="res1", activation="tanh", depths=depths, samples=samples, seed=0)
    claim = rate_claim("fBm rate 1 - 2H (H = 0.8), width 1", "Neuenkirch & Nourdin (2007)", out / "width1",
                       width=1, **common)
    for width in (4, 16):
        shown = rate_claim(f"fBm, width {width} (pre-asymptotic)", "", out / f"width{width}", judged=False,
                           width=width, **common)
        print(f"  width {width}: slope {shown.measured:.3f} (steeper than {shown.theory:g}: the 1/width term)")
    return [claim]
