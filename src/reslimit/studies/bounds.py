"""Monte-Carlo checks of the theory's bounds at initialisation (``reslimit bounds``).

Source: Marion, Fermanian, Biau, Vert, "Scaling ResNets in the Large-depth Regime" (arXiv:2206.06929;
JMLR 26, 2025), Sections 3 (i.i.d. weights) and 4 (smooth weights). The paper's full text was not
available to this package's authors when this module was written, so every bound below is *derived here*
from the model, by the argument the paper's proofs use, and the derivation is written next to the check.
Where the paper's own constants may be sharper or differently stated (Prop. 2's and Prop. 3's
high-probability constants, the nonlinear-gradient bounds of Props. 5-6), this module checks the
derived statement only and says so. The checks, each a function returning rows:

``lemma1`` -- Lemma 1. res-1, h_{k+1} = h_k + alpha V_{k+1} sigma(h_k), entries of sqrt(d) V_k i.i.d.,
mean 0, variance 1 (gaussian or rademacher), sigma with a|x| <= |sigma(x)| <= b|x|:

    (1 + a^2 alpha^2)^L - 1  <=  E ||h_L - h_0||^2 / ||h_0||^2  <=  (1 + b^2 alpha^2)^L - 1.

Derivation: V_{k+1} is independent of h_k and E ||V x||^2 = ||x||^2, so the increments
alpha V_{k+1} sigma(h_k) are orthogonal martingale differences with E||.||^2 = alpha^2 E||sigma(h_k)||^2,
which lies in [a^2, b^2] alpha^2 E||h_k||^2; and E||h_{k+1}||^2 = E||h_k||^2 + alpha^2 E||sigma(h_k)||^2
gives E||h_k||^2 in [(1 + a^2 alpha^2)^k, (1 + b^2 alpha^2)^k] ||h_0||^2. Summing the geometric series
gives both ends. For leaky ReLU of slope s in (0, 1], a = s and b = 1; for the identity a = b = 1.

``prop2`` -- Prop. 2 (Markov). Under Lemma 1's upper assumption and L alpha^2 <= 1,
E ratio <= exp(b^2 L alpha^2) - 1 <= (e^{b^2} - 1) L alpha^2 (convexity of x -> e^x - 1 on
[0, b^2]), so by Markov's inequality, for every delta in (0, 1),

    P( ||h_L - h_0||^2 / ||h_0||^2 > (e^{b^2} - 1) L alpha^2 / delta )  <=  delta.

The constant (e^{b^2} - 1) is this derivation's; the paper's may differ (for b <= 1 it is <= 2 b^2).

``prop3`` -- Prop. 3 / Corollary 1(iii) at beta = 1/2 (alpha^2 L = 1): the ratio is non-degenerate
uniformly in L. Checked in expectation: by Lemma 1 and (1 + x/L)^L in [1 + x, e^x],

    a^2  <=  (1 + a^2/L)^L - 1  <=  E ||h_L - h_0||^2 / ||h_0||^2  <=  e^{b^2} - 1    for every L,

at several depths; the upper tail in probability is ``prop2`` at beta = 1/2. The paper's
high-probability *lower* bound (a concentration argument with its own constants) is not checked.

``prop5_6`` -- Props. 5-6 (gradients), res-1 with the identity activation and a loss gradient p_L that
does not depend on the weights: the backward recursion p_k = (I + alpha V_{k+1}^T) p_{k+1} has
V_{k+1}^T independent of p_{k+1} (a function of V_{k+2..L}), with E||V^T x||^2 = ||x||^2: the forward
argument of Lemma 1 with a = b = 1 applies verbatim, so

    E ||p_0 - p_L||^2 / ||p_L||^2  =  (1 + alpha^2)^L - 1      (an identity: lower = upper).

For nonlinear sigma the backward weights are not independent of p_{k+1} (through sigma'(h_j), j > k),
so no bound is derived here for them.

``corollary2`` -- Corollary 2 (gradients, Markov): the same as ``prop2`` for ||p_0 - p_L||^2 / ||p_L||^2
under ``prop5_6``'s assumptions, with b = 1: P(ratio > (e - 1) L alpha^2 / delta) <= delta if L alpha^2 <= 1.

``prop8`` -- Prop. 8 (smooth weights V_k = X(k/L) / sqrt(d), X a Gaussian process with a smooth kernel):
res-1 with |sigma(x)| <= b|x|. Pathwise (Gronwall): ||h_{k+1}|| <= (1 + alpha b ||V_{k+1}||_op) ||h_k||, so

    ||h_L - h_0|| / ||h_0||  <=  prod_k (1 + alpha b ||V_k||_op) - 1  <=  exp(b L^{1 - beta} max_t ||V(t)||_op) - 1

for every sample (checked exactly, no tolerance but rounding). Hence beta > 1: identity (-> 0, at rate
L^{1-beta}); beta = 1: bounded uniformly in L; beta < 1: the bound is vacuous and the ratio grows
(explosion). The regime is judged by the slope s of log(median ratio) against log L across depths:
"identity" if s <= (1 - beta)/2 (theory: 1 - beta, the first-order term L^{1-beta} int V sigma(h_0));
"bounded" if |s| <= 0.1 (theory: 0, the neural ODE's value plus O(1/L)); "explodes" if s >= (1 - beta)/2 > 0
and the median increases at every depth step. The explosion rule for beta < 1 is an empirical check of
the paper's claim (tanh saturates, so the growth seen is polynomial, of order L^{1-beta}).

``prop9`` -- Prop. 9: res-1 with the identity activation on smooth weights explodes for beta < 1:
h_L = prod_k (I + L^{-beta} V_k) h_0 ~ exp(L^{1-beta} int_0^1 V(t) dt) h_0, so log(||h_L|| / ||h_0||)
itself grows like a power of L (between L^{1-beta} asymptotically and L^{2(1-beta)} while
L^{1-beta} ||int V|| is small: the linear term has median 0, the quadratic one is positive). Judged
"explodes (exponentially)" if the median of log(||h_L|| / ||h_0||) is positive and increasing at every
depth step and the slope of its logarithm against log L is >= (1 - beta)/2 by two bootstrap SEs (at beta = 1,
where the threshold is 0 and the median tends to the neural ODE's value, a slope within noise of 0 is not growth).

Verdict rules. Monte-Carlo means: E independent ensemble members, one input each; SE = sample standard
deviation / sqrt(E); a bound [lower, upper] passes if lower - 4 SE <= mean <= upper + 4 SE. Tail
probabilities: the frequency f of exceedances over E samples passes if f <= delta + 4 sqrt(delta (1 - delta) / E).
Slopes: least squares of log statistic on log L; SE from 200 bootstrap resamples of the ensemble.
"""

from __future__ import annotations

import math
import time
from typing import Callable, NamedTuple

import numpy as np
import torch

from .. import _checks, store
from .._rng import normal, substream
from ..paths import IID, Smooth
from ..resnet import ScaledResNet, diverged

COLUMNS = ("check", "source", "quantity", "measured", "se", "lower", "upper", "passed", "verdict", "rule",
           "block", "activation", "init", "beta", "depth", "width", "samples", "delta", "seed", "seconds")
Z = 4.0  # standard errors of tolerance for Monte-Carlo means and frequencies
_BOOT = 200
_STREAM_BYTES = 256 * 2**20  # stream weights above this size


# ---------------------------------------------------------------------------------------------
# helpers

def envelope(activation: str) -> tuple[float, float]:
    """(a, b) with a|x| <= |sigma(x)| <= b|x| for the named activation (a = 0 when none holds)."""
    if activation == "identity":
        return 1.0, 1.0
    if activation in ("relu", "tanh"):
        return 0.0, 1.0
    if isinstance(activation, str) and activation.startswith("leaky_relu:"):
        s = abs(float(activation.split(":", 1)[1]))
        return min(s, 1.0), max(s, 1.0)
    if activation == "leaky_relu":
        return 0.01, 1.0
    raise ValueError(f"activation must be 'identity', 'relu', 'tanh' or 'leaky_relu:<slope>'; got {activation!r}")


def _net(depth, width, beta, activation, outer):
    big = depth * outer.ensemble * width**2 * 8 > _STREAM_BYTES
    return ScaledResNet(depth, width, beta=beta, block="res1", activation=activation, outer=outer, stream=big)


def _hidden_ratio_sq(depth, width, beta, activation, samples, seed, dist="gaussian", device="cpu"):
    """||h_L - h_0||^2 / ||h_0||^2 for ``samples`` independent networks (one input each); inf if overflowed."""
    outer = IID(width, samples, dist=dist, seed=substream(seed, "outer"), device=device)
    h0 = normal((samples, 1, width), seed, "inputs", device=device)
    with torch.no_grad():
        hL = _net(depth, width, beta, activation, outer)(h0)
    r = (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).flatten()
    r[diverged(hL).flatten()] = math.inf
    return r.cpu().numpy()


def _grad_ratio_sq(depth, width, beta, samples, seed, device="cpu"):
    """||p_0 - p_L||^2 / ||p_L||^2, res-1 identity, p_L ~ N(0, I) drawn independently of the weights."""
    outer = IID(width, samples, seed=substream(seed, "outer"), device=device)
    h0 = normal((samples, 1, width), seed, "inputs", device=device)
    pL = normal((samples, 1, width), seed, "targets", device=device)
    with torch.no_grad():
        p = _net(depth, width, beta, "identity", outer).adjoint(h0, pL, every=depth)
    p0 = p[0]
    r = (((p0 - pL) ** 2).sum(-1) / (pL**2).sum(-1)).flatten()
    r[diverged(p0).flatten()] = math.inf
    return r.cpu().numpy()


def _mean_se(x):
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return math.inf, math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _within(mean, se, lower, upper):
    if not math.isfinite(mean):
        return False
    tol = Z * (se if math.isfinite(se) else 0.0)
    return (lower is None or mean >= lower - tol) and (upper is None or mean <= upper + tol)


def _row(check, source, quantity, measured, se, lower, upper, passed, verdict, rule, **params) -> dict:
    row = {"check": check, "source": source, "quantity": quantity, "measured": measured, "se": se,
           "lower": lower, "upper": upper, "passed": bool(passed), "verdict": verdict, "rule": rule}
    row |= {"block": "res1", "activation": "", "init": "", "beta": "", "depth": "", "width": "", "samples": "",
            "delta": "", "seed": "", "seconds": ""}
    row |= {k: v for k, v in params.items() if v is not None}
    return {k: row[k] for k in COLUMNS}


def _check_common(depth, width, samples, seed):
    _checks.positive_int("depth", depth)
    _checks.positive_int("width", width)
    _checks.positive_int("samples", samples, minimum=2)
    _checks.seed("seed", seed)


def _slope(depths, stat_fn, values, seed):
    """Least-squares slope of log stat_fn(values[i]) on log L, with a bootstrap SE over the samples axis."""
    x = np.log(np.asarray(depths, dtype=np.float64))

    def fit(v):
        s = np.array([stat_fn(row) for row in v])
        if np.any(~np.isfinite(s)) or np.any(s <= 0):
            return math.nan, s
        return float(np.polyfit(x, np.log(s), 1)[0]), s

    slope, stats = fit(values)
    rng = np.random.default_rng(substream(seed, "bootstrap"))
    n = values.shape[1]
    boots = [fit(values[:, rng.integers(0, n, n)])[0] for _ in range(_BOOT)]
    boots = np.asarray(boots)
    se = float(np.nanstd(boots, ddof=1)) if np.isfinite(boots).sum() > 1 else math.nan
    return slope, se, stats


# ---------------------------------------------------------------------------------------------
# i.i.d. weights: Lemma 1, Props. 2-3

def lemma1(*, depth=64, beta=0.5, activation="leaky_relu:0.5", a=None, b=None, dist="gaussian", width=8,
           samples=2000, seed=0, device="cpu") -> list[dict]:
    """Lemma 1: (1 + a^2 alpha^2)^L - 1 <= E||h_L - h_0||^2/||h_0||^2 <= (1 + b^2 alpha^2)^L - 1 (res-1, i.i.d.).

    ``a``, ``b`` default to the activation's envelope (:func:`envelope`); passing others tests a claimed
    bound (a wrong one must fail). Verdict: lower - 4 SE <= mean <= upper + 4 SE.
    """
    _check_common(depth, width, samples, seed)
    a0, b0 = envelope(activation)
    a, b = (a0 if a is None else a), (b0 if b is None else b)
    t = time.perf_counter()
    r = _hidden_ratio_sq(depth, width, beta, activation, samples, seed, dist, device=device)
    mean, se = _mean_se(r)
    alpha = depth**-beta
    lower, upper = (1 + a**2 * alpha**2) ** depth - 1, (1 + b**2 * alpha**2) ** depth - 1
    ok = _within(mean, se, lower, upper)
    return [_row("lemma1", "Lemma 1", "E||h_L-h_0||^2/||h_0||^2", mean, se, lower, upper, ok,
                 "within" if ok else "outside", f"(1+a^2 a_L^2)^L-1 <= mean <= (1+b^2 a_L^2)^L-1 within {Z:g} SE; "
                 f"a={a:g}, b={b:g}", activation=activation, init=f"iid-{dist}", beta=beta, depth=depth,
                 width=width, samples=samples, seed=seed, seconds=round(time.perf_counter() - t, 3))]


def _markov(check, source, quantity, r, depth, beta, delta, b, samples):
    alpha2L = depth ** (1 - 2 * beta)
    if alpha2L > 1 + 1e-12:
        raise ValueError(f"beta must give L alpha_L^2 <= 1 (beta >= 1/2); got beta={beta!r}, depth={depth!r}")
    thresh = math.expm1(b**2) * alpha2L / delta
    freq = float(np.mean(r > thresh))
    se = math.sqrt(delta * (1 - delta) / samples)
    ok = freq <= delta + Z * se
    return _row(check, source, f"P({quantity} > (e^(b^2)-1) L a_L^2/delta), threshold {thresh:.4g}", freq, se, 0.0,
                delta, ok, "within" if ok else "outside",
                f"frequency <= delta + {Z:g} sqrt(delta(1-delta)/n); b={b:g}", beta=beta, depth=depth, delta=delta,
                samples=samples)


def prop2(*, depth=64, beta=0.75, delta=0.1, activation="leaky_relu:0.5", b=None, width=8, samples=2000,
          seed=0, device="cpu") -> list[dict]:
    """Prop. 2 (Markov), L alpha^2 <= 1: P(||h_L-h_0||^2/||h_0||^2 > (e^{b^2}-1) L alpha^2/delta) <= delta."""
    _check_common(depth, width, samples, seed)
    _checks.real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    b = envelope(activation)[1] if b is None else b
    t = time.perf_counter()
    r = _hidden_ratio_sq(depth, width, beta, activation, samples, seed, device=device)
    row = _markov("prop2", "Prop. 2", "||h_L-h_0||^2/||h_0||^2", r, depth, beta, delta, b, samples)
    return [row | {"activation": activation, "init": "iid-gaussian", "width": width, "seed": seed,
                   "seconds": round(time.perf_counter() - t, 3)}]


def prop3(*, depths=(16, 64, 256), activation="leaky_relu:0.5", a=None, b=None, width=8, samples=2000,
          seed=0, device="cpu") -> list[dict]:
    """Prop. 3 / Cor. 1(iii), beta = 1/2: a^2 <= (1+a^2/L)^L - 1 <= E ratio <= e^{b^2} - 1 at every depth.

    One row per depth; verdict lower - 4 SE <= mean <= upper + 4 SE.
    """
    a0, b0 = envelope(activation)
    a, b = (a0 if a is None else a), (b0 if b is None else b)
    rows = []
    for i, L in enumerate(depths):
        _check_common(L, width, samples, seed)
        t = time.perf_counter()
        r = _hidden_ratio_sq(L, width, 0.5, activation, samples, seed + 31 * (i + 1), device=device)
        mean, se = _mean_se(r)
        lower, upper = (1 + a**2 / L) ** L - 1, math.expm1(b**2)
        ok = _within(mean, se, lower, upper)
        rows.append(_row("prop3", "Prop. 3 / Cor. 1(iii)", "E||h_L-h_0||^2/||h_0||^2 at beta=1/2", mean, se, lower,
                         upper, ok, "non-degenerate" if ok else "outside",
                         f"(1+a^2/L)^L-1 <= mean <= e^(b^2)-1 within {Z:g} SE; a={a:g}, b={b:g}",
                         activation=activation, init="iid-gaussian", beta=0.5, depth=L, width=width,
                         samples=samples, seed=seed + 31 * (i + 1), seconds=round(time.perf_counter() - t, 3)))
    return rows


# ---------------------------------------------------------------------------------------------
# gradients: Props. 5-6, Corollary 2

def prop5_6(*, depth=64, beta=0.5, width=8, samples=2000, seed=0, claimed=None, device="cpu") -> list[dict]:
    """Props. 5-6 (res-1, identity): E||p_0 - p_L||^2/||p_L||^2 = (1 + alpha^2)^L - 1 for p_L independent of V.

    ``claimed`` replaces the right-hand side (a wrong value must fail). Verdict: |mean - value| <= 4 SE.
    """
    _check_common(depth, width, samples, seed)
    t = time.perf_counter()
    r = _grad_ratio_sq(depth, width, beta, samples, seed, device=device)
    mean, se = _mean_se(r)
    value = (1 + depth ** (-2 * beta)) ** depth - 1 if claimed is None else claimed
    ok = _within(mean, se, value, value)
    return [_row("prop5_6", "Props. 5-6", "E||p_0-p_L||^2/||p_L||^2", mean, se, value, value, ok,
                 "equal" if ok else "different", f"|mean - ((1+a_L^2)^L-1)| <= {Z:g} SE",
                 activation="identity", init="iid-gaussian", beta=beta, depth=depth, width=width, samples=samples,
                 seed=seed, seconds=round(time.perf_counter() - t, 3))]


def corollary2(*, depth=64, beta=0.75, delta=0.1, b=1.0, width=8, samples=2000, seed=0, device="cpu") -> list[dict]:
    """Corollary 2 (Markov for gradients), L alpha^2 <= 1.

    P(||p_0-p_L||^2/||p_L||^2 > (e-1) L alpha^2/delta) <= delta.
    """
    _check_common(depth, width, samples, seed)
    _checks.real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    t = time.perf_counter()
    r = _grad_ratio_sq(depth, width, beta, samples, seed, device=device)
    row = _markov("corollary2", "Corollary 2", "||p_0-p_L||^2/||p_L||^2", r, depth, beta, delta, b, samples)
    return [row | {"activation": "identity", "init": "iid-gaussian", "width": width, "seed": seed,
                   "seconds": round(time.perf_counter() - t, 3)}]


# ---------------------------------------------------------------------------------------------
# smooth weights: Props. 8-9

def _smooth_runs(depths, beta, activation, width, samples, seed, lengthscale, gronwall=True, device="cpu"):
    """Ratios ||h_L - h_0||/||h_0||, log(||h_L||/||h_0||) and the Gronwall bound, shape (len(depths), samples).

    One smooth path per ensemble member, the same at every depth (weights(L)[k] = X((k+1)/L)/sqrt(d)).
    """
    outer = Smooth(width, samples, lengthscale=lengthscale, seed=substream(seed, "outer"), device=device)
    h0 = normal((samples, 1, width), seed, "inputs", device=device)
    b = envelope(activation)[1]
    ratio, lognorm, gron = [], [], []
    with torch.no_grad():
        for L in depths:
            net = _net(L, width, beta, activation, outer)
            hL = net(h0)
            bad = diverged(hL).flatten()
            r = ((hL - h0).norm(dim=-1) / h0.norm(dim=-1)).flatten()
            ln = torch.log(hL.norm(dim=-1) / h0.norm(dim=-1)).flatten()
            r[bad], ln[bad] = math.inf, math.inf
            # log prod_k (1 + alpha b ||V_k||_op), accumulated over the weight chunks
            logprod = torch.zeros(samples, dtype=torch.float64)
            for _, V, _ in net.weight_chunks() if gronwall else ():
                logprod += torch.log1p(net.alpha * b * torch.linalg.matrix_norm(V.detach(), ord=2)).sum(0)
            ratio.append(r.cpu().numpy())
            lognorm.append(ln.cpu().numpy())
            gron.append(torch.expm1(logprod).cpu().numpy())
    return np.array(ratio), np.array(lognorm), np.array(gron)


def prop8(*, beta=1.0, depths=(16, 64, 256, 1024), activation="tanh", width=8, samples=200, lengthscale=0.1,
          seed=0, device="cpu") -> list[dict]:
    """Prop. 8, smooth weights, res-1: two rows, the pathwise Gronwall bound and the regime of the ratio.

    Regime by the slope s of log median ||h_L - h_0||/||h_0|| against log L: beta > 1 "identity" if
    s <= (1-beta)/2; beta = 1 "bounded" if |s| <= 0.1; beta < 1 "explodes" if s >= (1-beta)/2 and the
    median increases at every step. The Gronwall row passes if ratio <= prod(1 + alpha b ||V_k||) - 1
    (times 1 + 1e-9 for rounding) for every sample and depth.
    """
    depths = [_checks.positive_int("depths", L) for L in depths]
    if len(depths) < 2 or sorted(set(depths)) != depths:
        raise ValueError(f"depths must be at least two increasing integers; got {depths!r}")
    _check_common(depths[0], width, samples, seed)
    t = time.perf_counter()
    ratio, _, gron = _smooth_runs(depths, beta, activation, width, samples, seed, lengthscale, device=device)
    seconds = round(time.perf_counter() - t, 3)
    common = {"activation": activation, "init": f"smooth(l={lengthscale:g})", "beta": beta,
                  "depth": "/".join(map(str, depths)), "width": width, "samples": samples, "seed": seed,
                  "seconds": seconds}
    finite = np.isfinite(ratio)  # an overflowed sample cannot be compared (its bound overflows too)
    worst = float(np.max(ratio[finite] / gron[finite])) if finite.any() else math.nan
    rows = [_row("prop8", "Prop. 8", "max over samples, L of ratio / Gronwall bound", worst, 0.0, None, 1.0,
                 worst <= 1 + 1e-9, "holds" if worst <= 1 + 1e-9 else "violated",
                 "||h_L-h_0||/||h_0|| <= prod_k(1+a_L b||V_k||_op)-1 for every sample"
                 + (f" ({int((~finite).sum())} overflowed sample-depths not compared)" if not finite.all() else ""),
                 **common)]
    slope, se, med = _slope(depths, np.median, ratio, seed)
    increasing = bool(np.all(np.diff(med) > 0))
    if beta > 1:
        lower, upper, want = None, (1 - beta) / 2, "identity"
        ok = math.isfinite(slope) and slope <= upper
    elif beta == 1:
        lower, upper, want = -0.1, 0.1, "bounded"
        ok = math.isfinite(slope) and abs(slope) <= 0.1
    else:
        lower, upper, want = (1 - beta) / 2, None, "explodes"
        ok = (math.isfinite(slope) and slope >= lower and increasing) or bool(np.isinf(med[-1]))
    verdict = want if ok else f"not {want}"
    rule = {"identity": "slope <= (1-beta)/2 (theory 1-beta)", "bounded": "|slope| <= 0.1 (theory 0)",
            "explodes": "slope >= (1-beta)/2 and median increasing (or overflow)"}[want]
    rows.append(_row("prop8", "Prop. 8", "slope of log median ||h_L-h_0||/||h_0|| vs log L", slope, se, lower, upper,
                     ok, verdict, rule + f"; medians {', '.join(f'{m:.4g}' for m in med)}", **common))
    return rows


def prop9(*, beta=0.5, depths=(16, 64, 256, 1024), width=8, samples=200, lengthscale=0.1, seed=0,
          device="cpu") -> list[dict]:
    """Prop. 9: res-1, identity activation, smooth weights, beta < 1: log(||h_L||/||h_0||) grows like a power of L.

    Verdict "explodes" if the median of log(||h_L||/||h_0||) is positive and increasing at every depth step
    and the slope of its logarithm against log L is >= (1 - beta)/2 by two bootstrap SEs (or a sample
    overflowed at the deepest L). The margin keeps beta = 1, where the median tends to a constant and the
    threshold is 0, from being called exploding by a slope of a standard error or so.
    """
    depths = [_checks.positive_int("depths", L) for L in depths]
    if len(depths) < 2 or sorted(set(depths)) != depths:
        raise ValueError(f"depths must be at least two increasing integers; got {depths!r}")
    _check_common(depths[0], width, samples, seed)
    t = time.perf_counter()
    _, lognorm, _ = _smooth_runs(depths, beta, "identity", width, samples, seed, lengthscale, gronwall=False,
                                 device=device)
    slope, se, med = _slope(depths, np.median, lognorm, seed)
    margin = 2 * se if math.isfinite(se) else 0.0
    ok = (math.isfinite(slope) and slope - margin >= (1 - beta) / 2 and bool(np.all(med > 0))
          and bool(np.all(np.diff(med) > 0))) or bool(np.isinf(med[-1]))
    return [_row("prop9", "Prop. 9", "slope of log median log(||h_L||/||h_0||) vs log L", slope, se,
                 (1 - beta) / 2, None, ok, "explodes" if ok else "does not explode",
                 "slope - 2 SE >= (1-beta)/2, medians positive and increasing (theory 1-beta to 2(1-beta)); medians "
                 + ", ".join(f"{m:.4g}" for m in med),
                 activation="identity", init=f"smooth(l={lengthscale:g})", beta=beta, depth="/".join(map(str, depths)),
                 width=width, samples=samples, seed=seed, seconds=round(time.perf_counter() - t, 3))]


# ---------------------------------------------------------------------------------------------
# the study

class Check(NamedTuple):
    """One planned check: ``function(**kwargs)`` (its seed among the kwargs) returns rows.

    A control (``control=True``) is a case the rule must reject: its rows are recorded as passed when the
    function's verdict fails, and the other way round (:func:`run_check`).
    """

    function: Callable[..., list[dict]]
    kwargs: dict
    control: bool = False


def plan(quick: bool = True) -> dict[str, list[Check]]:
    """The one plan of the bound checks: for each bound, the checks with their sizes and seeds.

    Keyed by the bound's claim in ``reslimit.claims`` (``lemma1``, ``prop2``, ``prop3``, ``prop5_6``, ``prop8``,
    ``prop9``); ``bounds`` runs them all, ``reslimit report`` each as one claim, so both measure the same
    numbers. Quick: i.i.d. width 8, 4000 samples, depth 64; smooth width 8, 200 samples, depths 16..1024.
    Full: width 16, 20000 samples, depth 256; smooth width 16, 500 samples, depths 16..4096.
    """
    iid = {"width": 8, "samples": 4000} if quick else {"width": 16, "samples": 20000}
    smooth = {"width": 8, "samples": 200, "depths": (16, 64, 256, 1024)} if quick else \
        {"width": 16, "samples": 500, "depths": (16, 64, 256, 1024, 4096)}
    L = 64 if quick else 256
    depths = (16, 64, 256) if quick else (16, 64, 256, 1024)
    lemma = [(0.5, "leaky_relu:0.5", "gaussian"), (0.3, "leaky_relu:0.5", "rademacher"), (0.5, "identity", "gaussian"),
             (0.5, "leaky_relu:0.8", "rademacher")]
    return {
        "lemma1": [Check(lemma1, dict(depth=L, beta=beta, activation=act, dist=dist, seed=100 + i, **iid))
                   for i, (beta, act, dist) in enumerate(lemma)],
        "prop2": [Check(prop2, dict(depth=L, beta=beta, delta=delta, activation="leaky_relu:0.5", seed=200 + i, **iid))
                  for i, (beta, delta) in enumerate([(0.5, 0.1), (0.5, 0.5), (0.75, 0.1), (0.75, 0.5)])],
        "prop3": [Check(prop3, dict(depths=depths, activation="leaky_relu:0.5", seed=300, **iid)),
                  Check(prop3, dict(depths=depths, activation="identity", seed=310, **iid)),
                  Check(prop2, dict(depth=depths[-1], beta=0.5, delta=0.1, activation="leaky_relu:0.5", seed=320,
                                    **iid))],
        "prop5_6": [Check(prop5_6, dict(depth=L, beta=beta, seed=400 + i, **iid))
                    for i, beta in enumerate((0.5, 0.75, 1.0))]
                   + [Check(corollary2, dict(depth=L, beta=beta, delta=0.1, seed=410 + i, **iid))
                      for i, beta in enumerate((0.5, 0.75))],
        "prop8": [Check(prop8, dict(beta=beta, activation="tanh", seed=800 + i, **smooth))
                  for i, beta in enumerate((1.5, 1.25, 1.0, 0.75, 0.5))],
        "prop9": [Check(prop9, dict(beta=beta, seed=900 + i, **smooth)) for i, beta in enumerate((0.5, 0.75))]
                 + [Check(prop9, dict(beta=1.0, seed=910, **smooth), control=True)],  # the neural ODE regime
    }


def run_check(check: Check, seed: int = 0, device="cpu") -> list[dict]:
    """The rows of one planned check, its seed moved to (planned seed + 1000 seed) mod 2^63, computed on ``device``.

    A control's rows have ``passed`` negated, "control: " before the rule and "(control)" after the source.
    """
    kwargs = check.kwargs | {"seed": (check.kwargs["seed"] + 1000 * seed) % 2**63, "device": device}
    rows = check.function(**kwargs)
    if check.control:
        rows = [r | {"passed": not r["passed"], "rule": f"control: {r['rule']}", "source": f"{r['source']} (control)"}
                for r in rows]
    return rows


def bounds(out, *, quick=True, seed=0, progress=True, device="cpu") -> BoundsResult:
    """Run every check of :func:`plan`, write out/results.csv, out/manifest.json and out/bounds.png; return the rows
    as a :class:`BoundsResult` (a list, with the params and ``.plot()``).

    One row per judged quantity (see the module docstring for every statement and verdict rule); ``seed`` = 0
    gives the numbers of ``reslimit report`` (see :func:`run_check`). ``out`` is locked while it runs (another
    process writing it is refused: store.Busy); ``out`` holding another study (a manifest with other parameters)
    is refused before anything is computed. The checks run res-1 blocks, on the torch loop: the manifest's
    "engine" is "torch"; ``device`` ("cpu", "cuda"...) is where they run, kept in the params.
    """
    seed = _checks.seed("seed", seed)
    params = {"study": "bounds", "quick": bool(quick), "seed": seed, "device": str(_checks.device("device", device))}
    with store.writing(out) as out:
        store.prepare(out, params)
        rows: list[dict] = []
        for check in (c for checks in plan(quick).values() for c in checks):
            new = run_check(check, seed, params["device"])
            rows += new
            if progress:
                for r in new:
                    print(f"[bounds] {r['check']:<10} {r['source']:<22} beta={r['beta']!s:<5} L={r['depth']!s:<16} "
                          f"measured {_fmt(r['measured'])} (se {_fmt(r['se'])}) in [{_fmt(r['lower'])}, "
                          f"{_fmt(r['upper'])}]: {'PASS' if r['passed'] else 'FAIL'} ({r['verdict']})", flush=True)
        store.write_rows(out / "results.csv", rows)
        result = BoundsResult(rows, params)
        result.plot(out / "bounds.png")
        store.write_manifest(out, params, engine="torch", passed=result.passed, n_checks=len(rows),
                             failed=[f"{r['check']} beta={r['beta']} L={r['depth']}" for r in rows if not r["passed"]])
    return result


def _fmt(x) -> str:
    if x is None or x == "":
        return "-"
    return f"{x:.4g}"


def figure(rows: list[dict], path=None):
    """One panel per check: :func:`reslimit.plots.bounds_figure` (the measured value with a +-2 SE bar beside its
    bound(s)); saved as ``path`` (PNG, and PDF beside it) when given."""
    from ..plots import bounds_figure

    return bounds_figure(rows, path)


class BoundsResult(list):
    """The rows of ``reslimit bounds`` (a list of dicts, one per judged quantity), with its params and ``.plot()``.

    Attributes:
        params: {"study": "bounds", "quick": ..., "seed": ...}, as in the manifest.
        passed: whether every check passed.
    """

    def __init__(self, rows, params: dict):
        super().__init__(rows)
        self.params = params
        self.passed = all(r["passed"] for r in rows)

    def plot(self, path=None):
        """One panel per check, the measured value beside its bound(s): :func:`figure`."""
        return figure(self, path)
