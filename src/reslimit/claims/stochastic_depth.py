"""Stochastic depth: expected depth, the exact second moment, and the limits of the network with its survival p(t).

Claims (derived in reslimit/studies/stochastic_depth.py; stochastic depth after Huang et al. 2016, the
course's exercise on its expected depth), for block k kept with probability p_k = 1 - (k/L)(1 - p_L):

- the mean number of blocks a training-mode pass keeps (counted from the network's masks) is
  sum_k p_k = L - (1 - p_L)(L + 1)/2 ((3L - 1)/4 at p_L = 1/2), within 4 standard errors;
- on i.i.d. Gaussian weights, E||h_L - h_0||^2 / ||h_0||^2 = prod_k (1 + p_k c alpha^2) - 1 in training mode and
  prod_k (1 + p_k^2 c alpha^2) - 1 in evaluation mode (c = 1/2 res-3 ReLU, 1 res-1 identity), exactly: the
  Monte-Carlo mean within 4 SE over the ensemble members, at beta = 1/2;
- smooth weights, beta = 1: the evaluation-mode network converges to dH/dt = p(t) V(t) g(H, W(t)) solved on the
  same path at slope -1 (Euler), the training-mode network to the same ODE at slope -1/2 (the masks' law of
  large numbers); Brownian weights, beta = 1/2: the evaluation-mode network converges to
  dH = p(t) dB_t g(H) / sqrt(d) on the same path at slope -1/2 (Euler-Maruyama), while the training-mode
  network has no limit on the path (the masks add a fluctuation of quadratic variation int p (1 - p)): its
  error against that SDE keeps slope 0 (a control); its limit is in law, dH = sqrt(p(t)) dW g(H) / sqrt(d): for
  res-1 with the identity, E||h_L - h_0||^2 / ||h_0||^2 at L = 64 (quick) is within 4 SE (plus the exact O(1/L)
  gap) of that SDE's exp(int p) - 1 and more than 4 SE from the p(t)-SDE's exp(int p^2) - 1, and the other way
  round in evaluation mode.
"""

from __future__ import annotations

from pathlib import Path

from .. import plots, store
from ..studies import stochastic_depth as sd
from ._verdict import Verdict

QUICK = dict(depths=[10, 20, 100], passes=20, batch=64, moment_depths=[16, 64], ensemble=256, inputs=8,
             ode_depths=[8, 16, 32, 64, 128], sde_depths=[8, 16, 32, 64, 128], width=8, samples=32)
FULL = dict(depths=[10, 100, 1000], passes=100, batch=64, moment_depths=[16, 64, 256], ensemble=1024, inputs=8,
            ode_depths=[8, 16, 32, 64, 128, 256, 512], sde_depths=[16, 32, 64, 128, 256, 512, 1024], width=16,
            samples=64)
THEORY = ("stochastic depth: expected depth L − (1 − p_L)(L + 1)/2; E‖h_L − h_0‖²/‖h_0‖² = ∏(1 + p_k c α²) − 1 "
          "(training), ∏(1 + p_k² c α²) − 1 (evaluation); evaluation network → p(t)-ODE slope −1, p(t)-SDE slope −½; "
          "masked network → ODE slope −½, SDE only in law (√p(t) diffusion, by its second moment; pathwise slope 0 as "
          "a control)")
TOLERANCE = "4 SE; ± 0.07 / 0.1 / 0.15"

P_L = 0.5


def _verdict(claim: str, theory, measured, tolerance, passed: bool, figure: Path) -> Verdict:
    print(f"{claim}: measured {measured:.6g}, theory {theory}, tolerance {tolerance}: {'PASS' if passed else 'FAIL'}")
    return Verdict(claim=claim, source="stochastic depth (Huang et al. 2016); derived in "
                                       "reslimit/studies/stochastic_depth.py", theory=theory,
                   measured=measured, tolerance=tolerance, passed=bool(passed), figure=str(figure))


def check(out: Path, *, depths, passes, batch, moment_depths, ensemble, inputs, ode_depths, sde_depths, width,
          samples) -> list[Verdict]:
    """The expected depth at ``depths`` (``passes`` passes of ``batch`` inputs), the second moments at
    ``moment_depths`` (``ensemble`` networks x ``inputs``), the ODE and SDE rates over ``ode_depths`` and
    ``sde_depths`` (``samples`` paths of width ``width``); p_L = 1/2, seed 0. Rows in ``out/*.csv``, figure
    ``out/stochastic_depth.png``."""
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "stochastic_depth.png"
    depth_rows = [sd.expected_depth_mc(L, P_L, passes=passes, batch=batch) for L in depths]

    def moments(block, activation):
        return [sd.second_moment(block=block, activation=activation, beta=0.5, depth=L, ensemble=ensemble,
                                 inputs=inputs, survival=P_L, mode=mode)
                for mode in ("train", "eval") for L in moment_depths]

    relu = moments("res3", "relu")
    identity = moments("res1", "identity")  # g(h) = h: the block whose limit in law has a closed second moment
    moment_rows = relu + identity
    limits = {"ode": sd.limit_errors("ode", depths=ode_depths, width=width, samples=samples, p_L=P_L),
              "sde": sd.limit_errors("sde", depths=sde_depths, width=width, samples=samples, p_L=P_L)}
    store.write_rows(out / "expected_depth.csv", depth_rows)
    store.write_rows(out / "second_moment.csv", moment_rows)
    store.write_rows(out / "limits.csv", [{"limit": name, "mode": mode, "depth": L, "mean_error": float(e.mean())}
                                          for name, r in limits.items() for mode in ("eval", "train")
                                          for L, e in zip(r["depths"], r[mode])])
    plots.stochastic_depth_figure(depth_rows, moment_rows, limits, figure)
    claims = []
    for r in depth_rows:
        tol = 4 * r["se"]
        claims.append(_verdict(f"expected depth sum_k p_k = L - (1 - p_L)(L + 1)/2, p_L = {P_L:g}, L = {r['depth']} "
                               f"({r['samples']} masked passes x inputs; net.expected_depth() = {r['method']:g})",
                               r["theory"], r["measured"], f"4 SE = {tol:.3g}",
                               abs(r["measured"] - r["theory"]) <= tol and abs(r["method"] - r["theory"]) < 1e-9,
                               figure))
    for r in moment_rows:
        formula = "prod_k (1 + p_k c alpha^2) - 1" if r["mode"] == "train" else "prod_k (1 + p_k^2 c alpha^2) - 1"
        claims.append(_verdict(f"{r['mode']} mode: E||h_L - h_0||^2/||h_0||^2 = {formula}, {r['block']} "
                               f"({r['activation']}, c = {r['c']:g}), beta = 1/2, p_L = {P_L:g}, L = {r['depth']}, "
                               f"{r['ensemble']} x {r['inputs']} samples", r["theory"], r["measured"],
                               f"4 SE = {4 * r['se']:.3g}", abs(r["z"]) <= 4, figure))
    top = max(moment_depths)
    for r in (r for r in identity if r["depth"] == top):
        limit, gap = sd.sde_second_moment(P_L, r["mode"]), abs(sd.sde_second_moment(P_L, r["mode"]) - r["theory"])
        other = sd.sde_second_moment(P_L, "eval" if r["mode"] == "train" else "train")
        s = "sqrt(p(t))" if r["mode"] == "train" else "p(t)"
        tol = 4 * r["se"] + gap
        claims.append(_verdict(f"{r['mode']} mode, res1 (identity), beta = 1/2, L = {top}: second moment tends to that "
                               f"of the SDE with diffusion {s}, exp(int s^2) - 1 (and stays more than 4 SE from the "
                               f"other SDE's {other:.4g})", limit, r["measured"],
                               f"4 SE + the exact O(1/L) gap {gap:.3g} = {tol:.3g}",
                               abs(r["measured"] - limit) <= tol and abs(r["measured"] - other) > 4 * r["se"], figure))
    names = {("ode", "eval"): ("evaluation-mode res3 (ReLU), smooth weights, beta = 1, vs dH/dt = p(t) V g: slope -1",
                               0.07),
             ("ode", "train"): ("training-mode (masked) res3 (ReLU), smooth weights, beta = 1, vs the same ODE: "
                                "slope -1/2 (masks' fluctuation)", 0.1),
             ("sde", "eval"): ("evaluation-mode res1 (tanh), Brownian weights, beta = 1/2, vs dH = p(t) dB g/sqrt(d): "
                               "slope -1/2", 0.07),
             ("sde", "train"): ("control: training-mode res1 (tanh), Brownian weights, beta = 1/2, vs the same SDE on "
                                "the same path: no pathwise limit, slope 0", 0.15)}
    for (name, mode), (text, tol) in names.items():
        r = limits[name]
        rate, theory_slope = r[f"{mode}_rate"], r["theory"][0 if mode == "eval" else 1]
        claims.append(_verdict(f"{text}, d = {width}, {samples} samples, L = {r['depths'][0]}..{r['depths'][-1]} "
                               f"(bootstrap 95% [{rate.ci_low:.3f}, {rate.ci_high:.3f}])", theory_slope, rate.slope,
                               tol, abs(rate.slope - theory_slope) <= tol, figure))
    return claims
