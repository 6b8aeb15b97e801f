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

``prop3`` -- Lemma 1 at beta = 1/2 (alpha^2 L = 1), the expectation band behind Prop. 3 / Corollary 1 (iii):
the ratio is non-degenerate uniformly in L. By Lemma 1 and (1 + x/L)^L in [1 + x, e^x],

    a^2  <=  (1 + a^2/L)^L - 1  <=  E ||h_L - h_0||^2 / ||h_0||^2  <=  e^{b^2} - 1    for every L,

at several depths; the upper tail in probability is ``prop2`` at beta = 1/2. The high-probability
statements themselves, with their constants, are ``prop3_whp``.

``prop3_whp`` -- Prop. 3 (i), (ii) and Corollary 1 (iii) as written (constants C, s, conditions d >= 64, the
bounds on alpha_L^2 and L, 2 L exp(-d / (64 alpha_L^2 s^2)) <= delta / 11): exceedance frequencies against
delta, at d = 64 and 128, on res-1 drawn in its exact law (:func:`res1_gaussian_states`). Statements in its
docstring. ``corollary1_width`` -- Corollary 1 (ii)'s d >= 9 measured: beta = 1/4, d = 2..64; explosion in
probability for every d >= 3, none at d = 2 (derivation in its docstring).

``prop5_6`` -- Props. 5-6 (gradients), res-1 with the identity activation and a loss gradient p_L that
does not depend on the weights: the backward recursion p_k = (I + alpha V_{k+1}^T) p_{k+1} has
V_{k+1}^T independent of p_{k+1} (a function of V_{k+2..L}), with E||V^T x||^2 = ||x||^2: the forward
argument of Lemma 1 with a = b = 1 applies verbatim, so

    E ||p_0 - p_L||^2 / ||p_L||^2  =  (1 + alpha^2)^L - 1      (an identity: lower = upper).

For nonlinear sigma the backward weights are not independent of p_{k+1} (through sigma'(h_j), j > k),
so this backward argument fails; the forward one of ``prop6`` below (q_{k+1} = (dh_{k+1}/dh_k) q_k) does not.

``corollary2`` -- Corollary 2 (gradients, Markov): the same as ``prop2`` for ||p_0 - p_L||^2 / ||p_L||^2
under ``prop5_6``'s assumptions, with b = 1: P(ratio > (e - 1) L alpha^2 / delta) <= delta if L alpha^2 <= 1.

``lemma1_blocks``, ``prop6``, ``corollary2_iii``, ``markov_document`` -- the statements as written, with the
constants 1/2 and 1 of Hypotheses 2 and 4 (||x||^2/2 <= E||g(x)||^2 <= ||x||^2, the same for dg/dh, see
:meth:`reslimit.blocks.Block.hypotheses`), for res-2 / res-3 blocks and nonlinear gradients: Lemma 1 and Prop. 6,
(1 + alpha^2/2)^L - 1 <= E ratio <= (1 + alpha^2)^L - 1 (res-3: the lower end, exactly); Props. 2 and 5,
P(ratio > 2 L alpha^2/delta) <= delta; Cor. 2 (iii), e^(1/2) - 1 <= E||p_0 - p_L||^2/||p_L||^2 <= e^4 - 1 at
beta = 1/2, whose lower end holds only as L -> infinity. Derivations in their docstrings.

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

``prop9`` -- Prop. 9 as written: res-1 with the identity activation on smooth weights, V(0)^T with a positive
eigenvalue (imposed: members without a real positive eigenvalue of V(0) are dropped), beta in (0, 1):
max_k ||h_k - h_0|| / ||h_0|| -> infinity, its logarithm of order L^{1-beta} (the component of h_k on V(0)'s
left eigenvector grows like (1 + alpha lambda)^k over the first layers). Judged "explodes" if the median of
log(1 + max_k ratio) is positive and increasing at every depth step and the slope of its logarithm against
log L is >= (1 - beta)/2 by two bootstrap SEs; at beta = 1 (the neural ODE) and with the condition violated
(V = -W W^T / 2, negative semi-definite: max_k ratio <= 2) the same rule must say it does not explode.

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
from ..blocks import get_activation, get_block
from ..paths import IID, Smooth
from ..resnet import ScaledResNet, diverged
from .protocol import Kind, claimed, figures

KIND = Kind("bounds", "`reslimit bounds --out DIR` (reslimit.studies.bounds.bounds)",
            plot=lambda rows, params: figure(rows), files=figures("bounds"))  # one panel per check
COLUMNS = ("check", "source", "quantity", "measured", "se", "lower", "upper", "passed", "verdict", "rule",
           "block", "activation", "init", "beta", "depth", "width", "samples", "delta", "seed", "seconds")
Z = 4.0  # standard errors of tolerance for Monte-Carlo means and frequencies
_BOOT = 200
_STREAM_BYTES = 256 * 2**20  # stream weights above this size


# ---------------------------------------------------------------------------------------------
# helpers

def envelope(activation: str) -> tuple[float, float]:
    """(a, b) with a|x| <= |sigma(x)| <= b|x| for the named activation (a = 0 when none holds): its ``envelope``."""
    known = get_activation(activation).envelope if isinstance(activation, str) else None
    if known is None:
        raise ValueError(f"activation must be 'identity', 'relu', 'tanh' or 'leaky_relu:<slope>'; got {activation!r}")
    return known


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
    """Lemma 1 at beta = 1/2: a^2 <= (1+a^2/L)^L - 1 <= E ratio <= e^{b^2} - 1 at every depth (non-degenerate in L).

    The expectation band behind Prop. 3 / Corollary 1 (iii), not their high-probability statements (those are
    :func:`prop3_whp`). One row per depth; verdict lower - 4 SE <= mean <= upper + 4 SE.
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
        rows.append(_row("prop3", "Lemma 1 at beta=1/2 (in expectation)", "E||h_L-h_0||^2/||h_0||^2 at beta=1/2", mean,
                         se, lower, upper, ok, "non-degenerate" if ok else "outside",
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
# the statements as written with the constants 1/2 and 1: res-2 / res-3 blocks, nonlinear gradients
# (whether Hypotheses 2 and 4 hold is the block's fact: Block.hypotheses)

_HYP = 0.5  # Hypotheses 2 and 4: ||x||^2 / 2 <= E||.||^2 <= ||x||^2


def _block_ratios(depth, width, beta, block, activation, samples, seed, device="cpu"):
    """||h_L - h_0||^2/||h_0||^2 and ||p_0 - p_L||^2/||p_L||^2 for ``samples`` independent networks (one input each).

    Entries of sqrt(d) V_k and sqrt(d) W_k i.i.d. N(0, 1) (Hypothesis 1), h_0 ~ N(0, I_d), and p_L ~ N(0, I_d)
    drawn independently of the weights (Hypothesis 3: p_L/||p_L|| is centred with covariance I_d/d given h_L).
    """
    outer = IID(width, samples, seed=substream(seed, "outer"), device=device)
    has_inner = get_block(block, activation).inner
    inner = IID(width, samples, seed=substream(seed, "inner"), device=device) if has_inner else None
    h0 = normal((samples, 1, width), seed, "inputs", device=device)
    pL = normal((samples, 1, width), seed, "targets", device=device)
    big = depth * samples * width**2 * 8 * (1 if inner is None else 2) > _STREAM_BYTES
    net = ScaledResNet(depth, width, beta=beta, block=block, activation=activation, outer=outer, inner=inner,
                       stream=big)
    seen = {}

    def grad_output(hL):  # p_L does not depend on h_L: one pass gives both ratios
        seen["hL"] = hL.clone()
        return pL

    with torch.no_grad():
        p0 = net.adjoint(h0, grad_output, every=depth)[0]
    hL = seen["hL"]
    rh = (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).flatten()
    rg = (((p0 - pL) ** 2).sum(-1) / (pL**2).sum(-1)).flatten()
    rh[diverged(hL).flatten()] = math.inf
    rg[diverged(p0).flatten()] = math.inf
    return rh.cpu().numpy(), rg.cpu().numpy()


def statement_band(depth: int, beta: float, bound: str = "document") -> tuple[float | None, float | None]:
    """The band [lower, upper] on E ratio of Lemma 1 / Prop. 6 as written, alpha = L^-beta.

    "document": [(1 + alpha^2/2)^L - 1, (1 + alpha^2)^L - 1]; "exact": lower = upper = (1 + alpha^2/2)^L - 1
    (res-3); "upper": [None, (1 + alpha^2)^L - 1]; "corollary2": [e^(1/2) - 1, e^4 - 1] (beta = 1/2).
    """
    a2 = depth ** (-2.0 * beta)
    low, up = (1 + _HYP * a2) ** depth - 1, (1 + a2) ** depth - 1
    bands = {"document": (low, up), "exact": (low, low), "upper": (None, up),
             "corollary2": (math.expm1(0.5), math.expm1(4.0))}
    return bands[_checks.choice("bound", bound, tuple(bands))]


_BOUND_RULES = {"document": "(1+a_L^2/2)^L-1 <= mean <= (1+a_L^2)^L-1", "exact": "|mean - ((1+a_L^2/2)^L-1)| small",
                "upper": "mean <= (1+a_L^2)^L-1", "corollary2": "e^(1/2)-1 <= mean <= e^4-1"}


def _statement(check, source, quantity, which, *, depth, beta, block, activation, bound, claimed, width, samples,
               seed, device):
    _check_common(depth, width, samples, seed)
    if bound == "corollary2" and beta != 0.5:
        raise ValueError(f"beta must be 1/2 for Corollary 2 (iii); got {beta!r}")
    holds, why = get_block(block, activation).hypotheses()
    t = time.perf_counter()
    rh, rg = _block_ratios(depth, width, beta, block, activation, samples, seed, device)
    mean, se = _mean_se(rh if which == "hidden" else rg)
    lower, upper = statement_band(depth, beta, bound) if claimed is None else claimed
    ok = _within(mean, se, lower, upper)
    return [_row(check, source, quantity, mean, se, lower, upper, ok, "within" if ok else "outside",
                 f"{_BOUND_RULES[bound]} within {Z:g} SE; hypotheses {'hold' if holds else 'FAIL'}: {why}",
                 block=block, activation=activation, init="iid-gaussian", beta=beta, depth=depth, width=width,
                 samples=samples, seed=seed, seconds=round(time.perf_counter() - t, 3))]


def lemma1_blocks(*, depth=64, beta=0.5, block="res3", activation="relu", bound="document", claimed=None, width=8,
                  samples=2000, seed=0, device="cpu") -> list[dict]:
    """Lemma 1 as written, any block: (1 + alpha^2/2)^L - 1 <= E||h_L - h_0||^2/||h_0||^2 <= (1 + alpha^2)^L - 1.

    Under Hypotheses 1-2 (the block's ``hypotheses()``). Derivation (as for res-1): V_{k+1} is independent of h_k
    and of theta_{k+1}, so E||h_{k+1}||^2 = E||h_k||^2 + alpha^2 E||g(h_k, theta_{k+1})||^2, and Hypothesis 2 puts
    the last term in [1/2, 1] alpha^2 E||h_k||^2. res-3 sits on the lower end: E ratio = (1 + alpha^2/2)^L - 1
    exactly (``bound="exact"``). res-2 with tanh (a = 0) breaks the lower end (E tanh(x)^2 < 1/2) but keeps
    the upper one (|tanh x| <= |x|: ``bound="upper"``). ``claimed`` = (lower, upper) replaces the band (a
    wrong one must fail). Verdict: lower - 4 SE <= mean <= upper + 4 SE.
    """
    return _statement("lemma1_blocks", f"Lemma 1 ({block})", "E||h_L-h_0||^2/||h_0||^2", "hidden", depth=depth,
                      beta=beta, block=block, activation=activation, bound=bound, claimed=claimed, width=width,
                      samples=samples, seed=seed, device=device)


def prop6(*, depth=64, beta=0.5, block="res1", activation="leaky_relu:0.75", bound="document", claimed=None,
          width=8, samples=2000, seed=0, device="cpu") -> list[dict]:
    """Prop. 6 as written: (1 + alpha^2/2)^L - 1 <= E||p_0 - p_L||^2/||p_L||^2 <= (1 + alpha^2)^L - 1.

    Under Hypotheses 1-4 (the block's ``hypotheses()``; Hypothesis 3 by p_L ~ N(0, I_d) independent of the
    weights).
    Derivation: with q_k(z) = (dh_k/dh_0) z, q_{k+1} = q_k + alpha V_{k+1} (dg/dh)(h_k) q_k, and V_{k+1}
    independent of (h_k, q_k), so E||q_{k+1}||^2 = E||q_k||^2 + alpha^2 E||(dg/dh) q_k||^2, in
    [1 + alpha^2/2, 1 + alpha^2] E||q_k||^2 by Hypothesis 4; and p_0 - p_L = (J^T - I) p_L with J = dh_L/dh_0,
    so for p_L/||p_L|| uniform on the sphere and independent of J, E ratio = E||J - I||_F^2 / d =
    E||q_L(z) - z||^2 / d for z ~ N(0, I_d): the forward sum. res-3 gives (1 + alpha^2/2)^L - 1 exactly
    (``bound="exact"``); tanh (sigma' -> 0) breaks the lower end. Verdict as :func:`lemma1_blocks`.
    """
    return _statement("prop6", f"Prop. 6 ({block})", "E||p_0-p_L||^2/||p_L||^2", "grad", depth=depth, beta=beta,
                      block=block, activation=activation, bound=bound, claimed=claimed, width=width, samples=samples,
                      seed=seed, device=device)


def corollary2_iii(*, depth=64, block="res1", activation="leaky_relu:0.75", claimed=None, width=8, samples=2000,
                   seed=0, device="cpu") -> list[dict]:
    """Corollary 2 (iii) as written, beta = 1/2: e^(1/2) - 1 <= E||p_0 - p_L||^2/||p_L||^2 <= e^4 - 1.

    From Prop. 6 with alpha^2 = 1/L: (1 + 1/(2L))^L - 1 increases to e^(1/2) - 1 and (1 + 1/L)^L - 1 <= e - 1
    < e^4 - 1. The lower end is therefore the L -> infinity value: at finite L, Prop. 6 gives only
    (1 + 1/(2L))^L - 1 = e^(1/2) - 1 - e^(1/2)/(8L) + O(L^-2), which res-3 attains exactly (at L = 2:
    0.5625 < 0.6487, a failure of the statement as written that the plan records as a control); at L = 64 the
    gap, 0.0032, is far inside 4 SE. Verdict as :func:`lemma1_blocks`.
    """
    return _statement("corollary2_iii", f"Cor. 2(iii) ({block})", "E||p_0-p_L||^2/||p_L||^2 at beta=1/2", "grad",
                      depth=depth, beta=0.5, block=block, activation=activation, bound="corollary2", claimed=claimed,
                      width=width, samples=samples, seed=seed, device=device)


def markov_document(*, which="hidden", depth=64, beta=0.75, delta=0.1, block="res3", activation="relu", const=2.0,
                    width=8, samples=2000, seed=0, device="cpu") -> list[dict]:
    """Props. 2 (``which="hidden"``) and 5 (``"grad"``), L alpha^2 <= 1: P(ratio > 2 L alpha^2/delta) <= delta.

    Derivation: Lemma 1 / Prop. 6's upper end (1 + alpha^2)^L - 1 <= e^(L alpha^2) - 1 <= (e - 1) L alpha^2
    <= 2 L alpha^2 (convexity on [0, 1]), then Markov's inequality. ``const`` replaces the 2 (a wrong one, e.g.
    0.05, must fail). Verdict: frequency <= delta + 4 sqrt(delta (1 - delta) / n).
    """
    _check_common(depth, width, samples, seed)
    _checks.real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha2L = depth ** (1 - 2 * beta)
    if alpha2L > 1 + 1e-12:
        raise ValueError(f"beta must give L alpha_L^2 <= 1 (beta >= 1/2); got beta={beta!r}, depth={depth!r}")
    holds, why = get_block(block, activation).hypotheses()
    t = time.perf_counter()
    rh, rg = _block_ratios(depth, width, beta, block, activation, samples, seed, device)
    r = rh if which == "hidden" else rg
    thresh = const * alpha2L / delta
    freq = float(np.mean(r > thresh))
    se = math.sqrt(delta * (1 - delta) / samples)
    ok = freq <= delta + Z * se
    name, source, q = (("prop2_blocks", f"Prop. 2 ({block})", "||h_L-h_0||^2/||h_0||^2") if which == "hidden" else
                       ("prop5", f"Prop. 5 ({block})", "||p_0-p_L||^2/||p_L||^2"))
    return [_row(name, source, f"P({q} > {const:g} L a_L^2/delta), threshold {thresh:.4g}", freq, se, 0.0, delta, ok,
                 "within" if ok else "outside", f"frequency <= delta + {Z:g} sqrt(delta(1-delta)/n); hypotheses "
                 f"{'hold' if holds else 'FAIL'}: {why}", block=block, activation=activation, init="iid-gaussian",
                 beta=beta, depth=depth, width=width, samples=samples, delta=delta, seed=seed,
                 seconds=round(time.perf_counter() - t, 3))]


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


def _max_increments(depths, beta, width, samples, seed, lengthscale, condition, device="cpu"):
    """max_k ||h_k - h_0|| / ||h_0|| of res-1 with the identity on smooth weights, shape (len(depths), kept samples).

    ``condition="imposed"``: V(t) = X(t)/sqrt(d) (:class:`Smooth`), the members whose V(0) has no real
    positive eigenvalue dropped; "violated": V(t) = -W W^T / 2 with W = X(t)/sqrt(d), symmetric and negative
    semi-definite, so no eigenvalue is positive. Returns (values, kept, samples).
    """
    outer = Smooth(width, samples, lengthscale=lengthscale, seed=substream(seed, "outer"), device=device)
    ev = torch.linalg.eigvals(outer.evaluate(0.0) / width**0.5)
    keep = ((ev.imag.abs() <= 1e-9 * ev.abs().clamp_min(1.0)) & (ev.real > 0)).any(-1)
    if condition == "violated":
        keep = torch.ones(samples, dtype=torch.bool)
    h0 = normal((samples, width, 1), seed, "inputs", device=device)
    out, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # d x d products of a few hundred members: a second thread only adds its hand-offs
    with torch.no_grad():
        for L in depths:
            net = _net(L, width, beta, "identity", outer)
            h, best = h0.clone(), torch.zeros(samples, dtype=torch.float64)
            for _, V, _ in net.weight_chunks():
                V = V.detach()
                if condition == "violated":
                    V = -V @ V.transpose(-1, -2) / 2
                for Vk in V:
                    h = h + net.alpha * (Vk @ h)
                    best = torch.maximum(best, ((h - h0).norm(dim=(1, 2)) / h0.norm(dim=(1, 2))))
            best[~torch.isfinite(best)] = math.inf
            out.append(best[keep].cpu().numpy())
    torch.set_num_threads(threads)
    return np.array(out), int(keep.sum()), samples


def prop9(*, beta=0.5, depths=(16, 64, 256, 1024), width=8, samples=200, lengthscale=0.1, seed=0,
          condition="imposed", detail=None, device="cpu") -> list[dict]:
    """Prop. 9 as written: max_k ||h_k - h_0|| / ||h_0|| -> infinity as L -> infinity (res-1, identity, beta in (0, 1)).

    Statement: res-1 with sigma the identity, h_{k+1} = h_k + L^-beta V_{k+1} h_k, V_k = V(k/L) with V Lipschitz and
    bounded (Hypothesis 5), V(0)^T with a positive (real) eigenvalue, and beta in (0, 1): then
    max_k ||h_k - h_0|| / ||h_0|| -> infinity as L -> infinity. Why: with u^T V(0) = lambda u^T, lambda > 0,
    z_k = u^T h_k obeys z_{k+1} = (1 + alpha lambda) z_k + alpha u^T (V_{k+1} - V(0)) h_k, the last term of order
    alpha (k/L) ||h_k||, so over the first c L layers (c small) |z_k| grows like exp(lambda c L^{1-beta}) for
    any h_0 with u^T h_0 != 0 (almost every h_0): the maximum over k, not h_L, is what must explode (later
    layers may contract). Expected growth: log max_k ratio of order L^{1-beta}.

    The eigenvalue condition is imposed on the smooth weights (``condition="imposed"``): X is :class:`Smooth`
    (lengthscale ``lengthscale``), V(t) = X(t)/sqrt(d), and only the members whose V(0) has a real positive
    eigenvalue are kept (the row gives how many). ``condition="violated"`` takes V(t) = -W(t) W(t)^T / 2,
    W = X/sqrt(d): symmetric, negative semi-definite, no positive eigenvalue; then ||I + alpha V_k|| <= 1 while
    alpha ||V_k|| <= 2, so max_k ratio <= 2 for every L: the conclusion fails without the condition (a control).

    Verdict "explodes" if the median over the kept samples of log(1 + max_k ratio) is positive and increasing
    at every depth step and the slope of its logarithm against log L is >= (1 - beta)/2 by two bootstrap SEs
    (theory: 1 - beta), or a sample overflowed at the deepest L. At beta = 1 (the neural ODE) or with the
    condition violated the same rule must say "does not explode". ``detail``, a list, receives the medians per
    depth for :func:`reslimit.plots.max_increment_figure`.
    """
    depths = [_checks.positive_int("depths", L) for L in depths]
    if len(depths) < 2 or sorted(set(depths)) != depths:
        raise ValueError(f"depths must be at least two increasing integers; got {depths!r}")
    _check_common(depths[0], width, samples, seed)
    condition = _checks.choice("condition", condition, ("imposed", "violated"))
    t = time.perf_counter()
    incr, kept, n = _max_increments(depths, beta, width, samples, seed, lengthscale, condition, device=device)
    stat = np.log1p(incr)
    slope, se, med = _slope(depths, np.median, stat, seed)
    margin = 2 * se if math.isfinite(se) else 0.0
    ok = (math.isfinite(slope) and slope - margin >= (1 - beta) / 2 and bool(np.all(med > 0))
          and bool(np.all(np.diff(med) > 0))) or bool(np.isinf(med[-1]))
    cond = f"imposed, {kept} of {n} kept" if condition == "imposed" else "violated (V = -W W^T/2)"
    if detail is not None:
        detail.append({"beta": beta, "condition": condition, "depths": depths, "median": np.expm1(med).tolist(),
                       "kept": kept, "slope": slope})
    return [_row("prop9", "Prop. 9", "slope of log median log(1+max_k ||h_k-h_0||/||h_0||) vs log L", slope, se,
                 (1 - beta) / 2, None, ok, "explodes" if ok else "does not explode",
                 "slope - 2 SE >= (1-beta)/2, medians positive and increasing (theory 1-beta); V(0) with a real "
                 f"positive eigenvalue: {cond}; medians of max_k ratio "
                 + ", ".join(f"{m:.4g}" for m in np.expm1(med)),
                 activation="identity", init=f"smooth(l={lengthscale:g})" + ("" if condition == "imposed" else
                                                                           ", V=-WW^T/2"),
                 beta=beta, depth="/".join(map(str, depths)), width=width, samples=kept, seed=seed,
                 seconds=round(time.perf_counter() - t, 3))]


# ---------------------------------------------------------------------------------------------
# the statements as written: Prop. 3 and Corollary 1 (iii) in high probability, Corollary 1 (ii)'s width

def prop3_constants(width: int, depth: int, alpha2: float, delta: float, C: float = 1.0, s: float = 1.0) -> dict:
    """The constants and conditions of Prop. 3 (i), (ii) and Corollary 1 (iii) as written, for d, L, alpha_L^2, delta.

    C: Hypothesis 2's E||g(h, theta)||^8 <= C ||h||^8 (res-1 with |sigma(x)| <= |x|: C = 1); s: Hypothesis 1's
    s^2-sub-Gaussian entries of sqrt(d) V_k, s >= 1 (standard Gaussian: s = 1). Keys: "alpha2_max_i" =
    2 / ((sqrt(C) s^4 + 4 sqrt(C) + 16 s^4) d), "alpha2_max_ii" = 1 / (sqrt(C) (d + 128 s^4)), "tail_i" =
    2 L exp(-d / (64 alpha^2 s^2)), "tail_cor" = 2 L exp(-L d / (64 s^2)), "tail_max" = delta / 11,
    "depth_min_cor" = (sqrt(C) s^4 / 2 + 2 sqrt(C) + 8 s^4) d + 96 sqrt(C) s^4, and the bounds "lower_i" =
    exp(3 L alpha^2 / 8 - sqrt(11 L alpha^2 / (d delta))) - 1, "upper_ii" = exp(L alpha^2 + sqrt(5 L alpha^2 /
    (d delta))) + 1, "lower_cor" = exp(3/8 - sqrt(22 / (d delta))) - 1, "upper_cor" = exp(1 + sqrt(10 / (d delta)))
    + 1. At C = s = 1: alpha2_max_i = 2 / (21 d) (1/672 at d = 64), alpha2_max_ii = 1 / (d + 128) (1/192 at
    d = 64), depth_min_cor = 10.5 d + 96 (768 at d = 64).
    """
    rc, x = math.sqrt(C), depth * alpha2
    return {"alpha2_max_i": 2.0 / ((rc * s**4 + 4 * rc + 16 * s**4) * width),
            "alpha2_max_ii": 1.0 / (rc * (width + 128 * s**4)),
            "tail_i": 2 * depth * math.exp(-width / (64 * alpha2 * s**2)),
            "tail_cor": 2 * depth * math.exp(-depth * width / (64 * s**2)),
            "tail_max": delta / 11,
            "depth_min_cor": (0.5 * rc * s**4 + 2 * rc + 8 * s**4) * width + 96 * rc * s**4,
            "lower_i": math.expm1(3 * x / 8 - math.sqrt(11 * x / (width * delta))),
            "upper_ii": math.exp(x + math.sqrt(5 * x / (width * delta))) + 1,
            "lower_cor": math.expm1(3 / 8 - math.sqrt(22 / (width * delta))),
            "upper_cor": math.exp(1 + math.sqrt(10 / (width * delta))) + 1}


def res1_gaussian_states(depth, width, alpha, activation, samples, seed, every=None):
    """h_0 and h_L of res-1 with Gaussian weights (entries of sqrt(d) V_k i.i.d. N(0, 1)), drawn in O(d) per layer.

    V_{k+1} is independent of h_k (a function of V_1..V_k and h_0), so given the past V_{k+1} sigma(h_k) is
    N(0, ||sigma(h_k)||^2 I_d / d): the states of the network have the joint law of
    h_{k+1} = h_k + alpha ||sigma(h_k)|| xi_{k+1} / sqrt(d), xi_k i.i.d. N(0, I_d) -- the same law, not an
    approximation, at a cost of d numbers per layer and sample instead of d^2 (what makes d = 64..128 at
    L = 768..4032 with hundreds of samples take seconds). The noise is drawn in float32 and widened, the
    recursion runs in float64. ``every``: also return log ||h_k|| at k = 0, every, 2 every, ... (else None).
    Checked against :class:`ScaledResNet` in law by tests/test_bounds.py.
    """
    act = get_activation(activation).fn
    gen = torch.Generator().manual_seed(substream(seed, "outer"))
    h0 = normal((samples, width), seed, "inputs")
    h = h0.clone()
    scale = alpha / math.sqrt(width)
    logs = [torch.log(h0.norm(dim=1))] if every else None
    chunk = max(1, 2**22 // (samples * width))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a layer is a few thousand numbers: a second thread only adds its hand-offs
    try:
        for start in range(0, depth, chunk):
            xi = torch.randn((min(chunk, depth - start), samples, width), generator=gen, dtype=torch.float32)
            for i, z in enumerate(xi.double()):
                h.addcmul_(z, act(h).norm(dim=1, keepdim=True), value=scale)
                if every and (start + i + 1) % every == 0:
                    logs.append(torch.log(h.norm(dim=1)))
    finally:
        torch.set_num_threads(threads)
    return h0, h, (torch.stack(logs).numpy() if every else None)


_WHP = {"i": ("Prop. 3 (i)", "lower"), "ii": ("Prop. 3 (ii)", "upper"), "cor1_iii": ("Corollary 1 (iii)", "both")}


def prop3_whp(*, part="i", width=64, depth=2688, alpha2=None, activation="leaky_relu:0.75", deltas=(0.1, 0.5),
              C=1.0, s=1.0, factor=1.0, samples=500, seed=0, network=False, detail=None,
              device="cpu") -> list[dict]:
    """Prop. 3 (i), (ii) and Corollary 1 (iii) as written: high-probability bounds, as exceedance frequencies.

    res-1 under Hypotheses 1-2: entries of sqrt(d) V_k i.i.d. N(0, 1) (symmetric, unit variance, s^2-sub-Gaussian
    with s = 1) and a|x| <= |sigma(x)| <= b|x| with 1/sqrt(2) <= a < b <= 1 (the default leaky ReLU of slope
    0.75: ||h||^2/2 <= ||sigma(h)||^2 <= ||h||^2 and E||sigma(h)||^8 <= C ||h||^8 with C = 1). The ratio is
    R = ||h_L - h_0||^2 / ||h_0||^2; the constants are :func:`prop3_constants`'s.

    - ``part="i"``, Prop. 3 (i): if d >= 64 and alpha_L^2 <= 2 / ((sqrt(C) s^4 + 4 sqrt(C) + 16 s^4) d), then for
      every delta in (0, 1) with 2 L exp(-d / (64 alpha_L^2 s^2)) <= delta / 11, with probability at least
      1 - delta, R > exp(3 L alpha_L^2 / 8 - sqrt(11 L alpha_L^2 / (d delta))) - 1. Exceedance: R <= bound.
    - ``part="ii"``, Prop. 3 (ii): if alpha_L^2 <= 1 / (sqrt(C) (d + 128 s^4)), then for every delta in (0, 1),
      with probability at least 1 - delta, R < exp(L alpha_L^2 + sqrt(5 L alpha_L^2 / (d delta))) + 1.
      Exceedance: R >= bound.
    - ``part="cor1_iii"``, Corollary 1 (iii): if beta = 1/2 (alpha_L^2 = 1/L), d >= 64 and L >= (sqrt(C) s^4 / 2 +
      2 sqrt(C) + 8 s^4) d + 96 sqrt(C) s^4, then for every delta in (0, 1) with 2 L exp(-L d / (64 s^2)) <=
      delta / 11, with probability at least 1 - delta, exp(3/8 - sqrt(22 / (d delta))) - 1 < R <
      exp(1 + sqrt(10 / (d delta))) + 1. Exceedance: R outside. (These are Prop. 3 (i) and (ii) at L alpha^2 = 1,
      each with delta/2; the written L condition implies both alpha^2 conditions.)

    Every written condition is checked (a ValueError names the one that fails): at C = s = 1 they all hold at
    the plan's sizes, so none is relaxed. Two of the written bounds are vacuous there, and the row says so:
    Prop. 3 (i)'s lower bound is positive only when L alpha^2 > (8/3)^2 11 / (d delta) (hence the plan takes
    L alpha^2 = 4 at d = 64 and 2 at d = 128, where it is positive for delta = 1/2 only), and Corollary 1
    (iii)'s lower bound is positive only when d delta > 22 (8/3)^2 = 156.4, which no delta < 1 meets at
    d <= 128: its lower side holds trivially, its upper side is the check. The states are drawn by
    :func:`res1_gaussian_states` (the network's law, d numbers a layer). ``alpha2`` defaults to the largest
    the condition admits (1/L for the corollary); ``factor`` multiplies the bound (a wrong one must fail).
    ``network=True`` runs :class:`ScaledResNet` itself instead (d^2 numbers a layer: the full plan does so once,
    for the corollary at d = 64, L = 768, where every written condition holds).

    One row per delta: the frequency f of exceedances over n samples against delta; passed when
    f <= delta + 4 sqrt(delta (1 - delta) / n). ``detail``, a list, receives the samples and bounds for
    :func:`reslimit.plots.whp_figure`.
    """
    source, side = _WHP[_checks.choice("part", part, tuple(_WHP))]
    _check_common(depth, width, samples, seed)
    k = prop3_constants(width, depth, 1.0 / depth, 0.5, C, s)
    if alpha2 is None:
        alpha2 = {"i": k["alpha2_max_i"], "ii": k["alpha2_max_ii"], "cor1_iii": 1.0 / depth}[part]
    if width < 64 and part != "ii":
        raise ValueError(f"width must be >= 64 ({source}: d >= 64); got {width!r}")
    if part == "i" and alpha2 > k["alpha2_max_i"] * (1 + 1e-12):
        raise ValueError(f"alpha2 must be <= {k['alpha2_max_i']:.6g} ({source}); got {alpha2!r}")
    if part == "ii" and alpha2 > k["alpha2_max_ii"] * (1 + 1e-12):
        raise ValueError(f"alpha2 must be <= {k['alpha2_max_ii']:.6g} ({source}); got {alpha2!r}")
    if part == "cor1_iii" and (abs(alpha2 * depth - 1) > 1e-12 or depth < k["depth_min_cor"]):
        raise ValueError(f"depth must be >= {k['depth_min_cor']:g} with alpha2 = 1/depth ({source}); got "
                         f"depth={depth!r}, alpha2={alpha2!r}")
    t = time.perf_counter()
    if network:
        r = _hidden_ratio_sq(depth, width, -math.log(alpha2) / (2 * math.log(depth)), activation, samples, seed,
                             device=device)
    else:
        h0, hL, _ = res1_gaussian_states(depth, width, math.sqrt(alpha2), activation, samples, seed)
        r = (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).numpy()
    seconds = round(time.perf_counter() - t, 3)
    rows, drawn = [], []
    for delta in deltas:
        _checks.real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
        c = prop3_constants(width, depth, alpha2, delta, C, s)
        tail = c["tail_cor"] if part == "cor1_iii" else c["tail_i"]
        if part != "ii" and tail > c["tail_max"]:
            raise ValueError(f"delta must satisfy the tail condition of {source}: {tail:.3g} > delta/11")
        lo = {"i": c["lower_i"], "ii": None, "cor1_iii": c["lower_cor"]}[part]
        hi = {"i": None, "ii": c["upper_ii"], "cor1_iii": c["upper_cor"]}[part]
        lo, hi = (None if lo is None else lo * factor), (None if hi is None else hi * factor)
        drawn.append((delta, lo, hi))
        out = np.zeros(len(r), dtype=bool)
        if lo is not None:
            out |= ~(r > lo)
        if hi is not None:
            out |= ~(r < hi)
        freq, se = float(out.mean()), math.sqrt(delta * (1 - delta) / samples)
        ok = freq <= delta + Z * se
        vacuous = lo is not None and lo <= 0
        what = (f"R <= {lo:.4g}" if side == "lower" else f"R >= {hi:.4g}" if side == "upper"
                else f"R outside ({lo:.4g}, {hi:.4g})")
        rows.append(_row(
            part if part == "cor1_iii" else f"prop3_{part}", source, f"P({what}), delta={delta:g}", freq, se, 0.0,
            delta, ok, ("within" if ok else "outside") + (" (lower bound vacuous: <= 0)" if vacuous else ""),
            f"frequency <= delta + {Z:g} sqrt(delta(1-delta)/n); d={width}, L alpha^2={depth * alpha2:.4g}, "
            f"alpha^2={alpha2:.4g}, C={C:g}, s={s:g}, tail {tail:.3g} <= delta/11" + (f"; bound x {factor:g}"
                                                                                     if factor != 1 else ""),
            activation=activation, init="iid-gaussian" + (" (ScaledResNet)" if network else ""),
            beta=round(-math.log(alpha2) / (2 * math.log(depth)), 4),
            depth=depth, width=width, samples=samples, delta=delta, seed=seed, seconds=seconds))
    if detail is not None:
        detail.append({"source": source, "width": width, "depth": depth, "x": depth * alpha2, "ratios": r,
                       "bounds": drawn})
    return rows


def corollary1_width(*, widths=(2, 3, 4, 6, 8, 9, 16, 32, 64), depths=(16, 64, 256, 1024, 4096), beta=0.25,
                     activation="identity", samples=200, seed=0, detail=None, device="cpu") -> list[dict]:
    """Corollary 1 (ii)'s condition d >= 9, measured: beta < 1/2 and widths d from 2 to 64.

    Statement (as written): under Hypotheses 1-2, if beta < 1/2 and d >= 9, ||h_L - h_0|| / ||h_0|| -> infinity in
    probability as L -> infinity (the proof's d >= 64 relaxed to d >= 9). What holds under 9, res-1 with
    Gaussian weights: by :func:`res1_gaussian_states`, log ||h_{k+1}||^2 - log ||h_k||^2 =
    log ||u + alpha r_k xi / sqrt(d)||^2 with u a unit vector, r_k = ||sigma(h_k)|| / ||h_k|| and xi ~ N(0, I_d)
    independent of the past; its conditional mean is alpha^2 r_k^2 (1 - 2/d) + O(alpha^4) and its variance
    4 alpha^2 r_k^2 / d + O(alpha^4). For the identity (r = 1) over L layers: mean L alpha^2 (1 - 2/d) = (1 - 2/d)
    L^{1 - 2 beta}, standard deviation 2 sqrt(L alpha^2 / d): for every d >= 3 the mean outgrows the spread by
    L^{(1 - 2 beta)/2}, so ||h_L|| / ||h_0|| (and ||h_L - h_0|| / ||h_0|| >= ||h_L|| / ||h_0|| - 1) tends to
    infinity in probability; at d = 2 the second-order drift vanishes (for the identity exactly:
    E log ||u + w||^2 = E_1(1 / alpha^2) for w complex Gaussian of variance alpha^2, e^{-L^{2 beta}} small), so
    log ||h_L|| is a centred walk whose spread grows: P(||h_L|| > ||h_0||) stays near 1/2, no explosion in
    probability. So d >= 9 is sufficient, not necessary; the measured boundary is between 2 and 3.

    One row per width: the fraction p of samples with ||h_L|| > ||h_0|| at each depth. Verdict "explodes" if
    p increases (by at least -4 SE) at every depth step and p >= 0.9 at the deepest L; "no explosion" if
    p <= 0.75 at every depth. The theory expects "explodes" for d >= 3 and "no explosion" at d = 2; a row
    passes when the verdict is the theory's. The rows hold the median of log(||h_L|| / ||h_0||) per depth
    (in the rule) for the figure, beside the theory's mean (1/2)(1 - 2/d) L^{1 - 2 beta}. ``detail``, a dict,
    receives them per width for :func:`reslimit.plots.width_explosion_figure`.
    """
    depths = [_checks.positive_int("depths", L) for L in depths]
    if len(depths) < 2 or sorted(set(depths)) != depths:
        raise ValueError(f"depths must be at least two increasing integers; got {depths!r}")
    if not 0 < beta < 0.5:
        raise ValueError(f"beta must be in (0, 1/2) (Corollary 1 (ii)); got {beta!r}")
    rows = []
    for i, d in enumerate(widths):
        _check_common(depths[0], d, samples, seed)
        t = time.perf_counter()
        p, med = [], []
        for j, L in enumerate(depths):
            h0, hL, _ = res1_gaussian_states(L, d, L ** -beta, activation, samples, seed + 7919 * i + 31 * j)
            lr = torch.log(hL.norm(dim=1) / h0.norm(dim=1)).numpy()
            p.append(float(np.mean(lr > 0)))
            med.append(float(np.median(lr)))
        if detail is not None:
            detail.setdefault("median", {})[d], detail.setdefault("p", {})[d] = med, p
            detail |= {"depths": list(depths), "beta": beta}
        se = [math.sqrt(max(q * (1 - q), 0.25 / samples) / samples) for q in p]
        explodes = all(b >= a - Z * s_ for a, b, s_ in zip(p, p[1:], se[1:])) and p[-1] >= 0.9
        bounded = all(q <= 0.75 for q in p)
        verdict = "explodes" if explodes else "no explosion" if bounded else "undecided"
        want = "explodes" if d >= 3 else "no explosion"
        rows.append(_row(
            "corollary1_width", "Corollary 1 (ii) (width)", f"P(||h_L|| > ||h_0||) at L={depths[-1]}", p[-1], se[-1],
            0.9 if want == "explodes" else None, 0.75 if want == "no explosion" else None, verdict == want,
            verdict, f"explodes: p increasing (within {Z:g} SE) and p(L_max) >= 0.9; no explosion: p <= 0.75 at "
            f"every L; theory: {want} (d {'>= 3' if d >= 3 else '= 2'}); p per L: "
            + ", ".join(f"{q:.3f}" for q in p) + "; median log(||h_L||/||h_0||) per L: "
            + ", ".join(f"{m:.4g}" for m in med),
            activation=activation, init="iid-gaussian", beta=beta, depth="/".join(map(str, depths)), width=d,
            samples=samples, seed=seed, seconds=round(time.perf_counter() - t, 3)))
    return rows


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
    ``prop9``, and ``prop3_whp``, ``cor1_width``: the statements as written);
    ``bounds`` runs them all, ``reslimit report`` each as one claim, so both measure the same
    numbers. Quick: i.i.d. width 8, 4000 samples, depth 64; smooth width 8, 200 samples, depths 16..1024.
    Full: width 16, 20000 samples, depth 256; smooth width 16, 500 samples, depths 16..4096. ``lemma1_blocks``
    and ``prop6_nonlinear`` (Lemma 1, Props. 2, 5, 6 and Cor. 2 (iii) as written, res-2/res-3 and nonlinear
    gradients) take 6000 samples at full size (a forward and an adjoint pass each, inner weights too).
    """
    iid = {"width": 8, "samples": 4000} if quick else {"width": 16, "samples": 20000}
    smooth = {"width": 8, "samples": 200, "depths": (16, 64, 256, 1024)} if quick else \
        {"width": 16, "samples": 500, "depths": (16, 64, 256, 1024, 4096)}
    L = 64 if quick else 256
    depths = (16, 64, 256) if quick else (16, 64, 256, 1024)
    lemma = [(0.5, "leaky_relu:0.5", "gaussian"), (0.3, "leaky_relu:0.5", "rademacher"), (0.5, "identity", "gaussian"),
             (0.5, "leaky_relu:0.8", "rademacher")]
    # the statements' checks run forward and adjoint passes of res-2/res-3: fewer samples at full size
    stmt = {"width": 8, "samples": 4000} if quick else {"width": 16, "samples": 6000}
    lem = enumerate([(0.5, "res3", "relu", "document"), (0.3, "res3", "relu", "exact"),
                     (0.5, "res2", "leaky_relu:0.8", "document"), (0.3, "res2", "leaky_relu:0.75", "document"),
                     (0.5, "res2", "tanh", "upper")])
    grads = enumerate([(0.5, "res1", "leaky_relu:0.75", "document"), (0.3, "res1", "leaky_relu:0.75", "document"),
                       (0.5, "res2", "leaky_relu:0.8", "document"), (0.5, "res3", "relu", "exact")])
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
                 + [Check(prop9, dict(beta=1.0, seed=910, **smooth), control=True),  # the neural ODE regime
                    # without V(0)'s positive eigenvalue (V = -W W^T / 2): max_k ratio <= 2, no explosion
                    Check(prop9, dict(beta=0.5, condition="violated", seed=911, **smooth), control=True)],
        # Prop. 3 (i), (ii) and Corollary 1 (iii) as written: exceedance frequencies at d = 64 and 128
        "prop3_whp": [Check(prop3_whp, dict(part=part, width=d, depth=depth, samples=500 if quick else 4000,
                                            seed=1300 + i))
                      for i, (part, d, depth) in enumerate([("i", 64, 2688), ("i", 128, 2688), ("ii", 64, 384),
                                                            ("ii", 128, 512), ("cor1_iii", 64, 768),
                                                            ("cor1_iii", 128, 1440)])]
                     # the network itself (d^2 numbers a layer) at the corollary's d = 64, L = 768: full sizes only
                     + ([] if quick else [Check(prop3_whp, dict(part="cor1_iii", width=64, depth=768, samples=1000,
                                                                network=True, seed=1306))]),
        # Corollary 1 (ii)'s d >= 9: beta = 1/4, widths 2..64
        "cor1_width": [Check(corollary1_width, dict(samples=200 if quick else 2000, seed=1400))],
        # the statements as written (constants 1/2 and 1) for res-2 / res-3 and for nonlinear gradients
        "lemma1_blocks": [Check(lemma1_blocks, dict(depth=L, beta=beta, block=block, activation=act, bound=bound,
                                                    seed=1100 + i, **stmt)) for i, (beta, block, act, bound) in lem]
                         # control: res-2 tanh breaks Hypothesis 2, and the lower end with it
                         + [Check(lemma1_blocks, dict(depth=L, beta=0.5, block="res2", activation="tanh", seed=1105,
                                                      **stmt), control=True)]
                         + [Check(markov_document, dict(which="hidden", depth=L, beta=beta, delta=0.1, block=block,
                                                        activation=act, seed=1106 + i, **stmt))
                            for i, (beta, block, act) in enumerate([(0.5, "res3", "relu"),
                                                                    (0.75, "res2", "leaky_relu:0.8")])],
        "prop6_nonlinear": [Check(prop6, dict(depth=L, beta=beta, block=block, activation=act, bound=bound,
                                              seed=1200 + i, **stmt)) for i, (beta, block, act, bound) in grads]
                           + [Check(corollary2_iii, dict(depth=L, block=block, activation=act, seed=1204 + i, **stmt))
                              for i, (block, act) in enumerate([("res1", "leaky_relu:0.75"), ("res3", "relu")])]
                           + [Check(markov_document, dict(which="grad", depth=L, beta=0.75, delta=0.1, block="res1",
                                                          activation="leaky_relu:0.75", seed=1207, **stmt))]
                           # controls: tanh breaks Hypothesis 4 and the lower end; Cor. 2(iii)'s e^(1/2) - 1 is the
                           # L -> infinity value, which res-3 at L = 2 ((1 + 1/4)^2 - 1 = 0.5625) stays below
                           + [Check(prop6, dict(depth=L, beta=0.5, block="res1", activation="tanh", seed=1208, **stmt),
                                    control=True),
                              Check(corollary2_iii, dict(depth=2, block="res3", activation="relu", seed=1209, **stmt),
                                    control=True)],
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
    with claimed(out, KIND, params) as out:
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
        store.write_manifest(out, params, study=KIND, engine="torch", passed=result.passed, n_checks=len(rows),
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
