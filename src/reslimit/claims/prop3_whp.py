"""Prop. 3 (i), (ii) and Corollary 1 (iii) as written: high-probability bounds on ||h_L - h_0||^2 / ||h_0||^2.

Claim (the paper's Prop. 3 and Corollary 1 (iii), with their constants; res-1 under Hypotheses 1-2: entries of
sqrt(d) V_k i.i.d. symmetric, unit variance, s^2-sub-Gaussian, ||h||^2/2 <= E||g(h)||^2 <= ||h||^2 and
E||g(h)||^8 <= C ||h||^8; here Gaussian V (s = 1) and leaky ReLU of slope 0.75 (C = 1)). With R the ratio:

- Prop. 3 (i): if d >= 64 and alpha_L^2 <= 2 / ((sqrt(C) s^4 + 4 sqrt(C) + 16 s^4) d), then for every delta in
  (0, 1) such that 2 L exp(-d / (64 alpha_L^2 s^2)) <= delta / 11, with probability >= 1 - delta,
  R > exp(3 L alpha_L^2 / 8 - sqrt(11 L alpha_L^2 / (d delta))) - 1.
- Prop. 3 (ii): if alpha_L^2 <= 1 / (sqrt(C) (d + 128 s^4)), then for every delta in (0, 1), with probability
  >= 1 - delta, R < exp(L alpha_L^2 + sqrt(5 L alpha_L^2 / (d delta))) + 1.
- Corollary 1 (iii): if alpha_L = L^-1/2, d >= 64 and L >= (sqrt(C) s^4 / 2 + 2 sqrt(C) + 8 s^4) d + 96 sqrt(C) s^4,
  then for every delta in (0, 1) such that 2 L exp(-L d / (64 s^2)) <= delta / 11, with probability
  >= 1 - delta, exp(3/8 - sqrt(22 / (d delta))) - 1 < R < exp(1 + sqrt(10 / (d delta))) + 1.

Checked as exceedance frequencies over n samples at d = 64 and 128, delta = 0.1 and 0.5, each passing when
frequency <= delta + 4 sqrt(delta (1 - delta) / n). At C = s = 1 the conditions read alpha^2 <= 2/(21 d)
(1/672 at d = 64, 1/1344 at d = 128), alpha^2 <= 1/(d + 128) and L >= 10.5 d + 96 (768, 1440); every
written condition holds at the sizes checked (none relaxed): (i) at the largest admitted alpha^2 with
L alpha^2 = 4 (d = 64) and 2 (d = 128), (ii) at alpha^2 = 1/(d + 128) with L alpha^2 = 2, the corollary at
L = 768 and 1440. The network is simulated in its exact law at d numbers per layer
(reslimit.studies.bounds.res1_gaussian_states). Vacuous sides, reported in the rows: (i)'s lower bound is
positive only if L alpha^2 > 78.2 / (d delta) (so only at delta = 0.5 here), and Corollary 1 (iii)'s lower
bound only if d delta > 156.4, never at d <= 128, so its upper side is what is checked.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..plots import whp_figure
from ..studies.bounds import Check, plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop3_whp"])
FULL = dict(checks=plan(False)["prop3_whp"])
THEORY = ("Prop. 3 (i), (ii) and Cor. 1 (iii) as written: P(‖h_L − h_0‖²/‖h_0‖² beyond each bound) ≤ δ at "
          "d = 64, 128 under every written condition (C = s = 1, α² ≤ 1/672 at d = 64, 2L exp(−d/(64 α² s²)) ≤ δ/11)")
TOLERANCE = "exceedance frequency ≤ δ + 4 binomial SE"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks (``plan(quick)["prop3_whp"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop3_whp.csv`` (drawn one panel per row in ``out/prop3_whp.png``); the claims' figure is
    ``out/prop3_whp_detail.png`` (:func:`reslimit.plots.whp_figure`).
    """
    detail = []
    checks = [Check(c.function, c.kwargs | {"detail": detail}, c.control) for c in checks]
    claims = bound_claims(checks, out, "prop3_whp")
    whp_figure(detail, out / "prop3_whp_detail.png")
    return [replace(c, figure=str(out / "prop3_whp_detail.png")) for c in claims]
