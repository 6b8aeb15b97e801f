"""Prop. 9: res-1 with the identity activation on smooth weights explodes for beta < 1.

Claim (Marion et al. 2022, Prop. 9): h_L = prod_k (I + L^-beta V_k) h_0 ~ exp(L^{1-beta} int V) h_0, so the
median of log(||h_L|| / ||h_0||) is positive, increases with L, and the slope of its logarithm against log L
is >= (1 - beta)/2 (theory between 1 - beta and 2(1 - beta) pre-asymptotically), at beta = 1/2 and 3/4.
Control: at beta = 1 the same rule must report no explosion (that row is expected to be False and is
recorded as passed when it is).
"""

from __future__ import annotations

from pathlib import Path

from .common import bound_claims


def check(out: Path, *, checks) -> list[dict]:
    """The planned checks of Prop. 9 (``plan(quick)["prop9"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop9.csv``, figure ``out/prop9.png``.
    """
    return bound_claims(checks, out, "prop9")
