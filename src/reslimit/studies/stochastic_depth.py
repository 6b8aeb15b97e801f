"""Stochastic depth (and dropout) in a scaled ResNet: expected depth, exact second moments, continuous limits.

The network with stochastic depth (``ScaledResNet(..., survival=p)``, Huang et al. 2016) keeps block k
(k = 1..L) with probability p_k = p(k/L); the course's linear decay is p(t) = 1 - t (1 - p_L).

**Expected depth.** The number of kept blocks is sum_k b_k with b_k ~ Bernoulli(p_k), so its mean is
sum_k p_k = L - (1 - p_L) sum_k k/L = L - (1 - p_L)(L + 1)/2, which is (3L - 1)/4 at p_L = 1/2, and its
variance sum_k p_k (1 - p_k).

**Exact second moment.** Training mode: h_{k+1} = h_k + alpha b_{k+1} V_{k+1} g(h_k, W_{k+1}). Let the entries
of sqrt(d) V_k (and sqrt(d) W_k) be i.i.d., centred, of variance 1 and symmetric, independent of h_0 and of the
masks. Conditionally on h_k, V_{k+1} is centred and independent of (b_{k+1}, g), so the cross term
E<h_k, b V g> vanishes and E||V g||^2 = ||g||^2; E[b^2] = E[b] = p_{k+1}; and E||g(h, W)||^2 = c ||h||^2 with
c = 1/2 for g = ReLU(W h) (each (W h)_i is symmetric with variance ||h||^2/d) and c = 1 for g = h. Hence
E||h_{k+1}||^2 = (1 + p_{k+1} c alpha^2) E||h_k||^2, and as the increments are martingale differences,
E||h_L - h_0||^2 = E||h_L||^2 - ||h_0||^2:

    training mode     E||h_L - h_0||^2 / ||h_0||^2 = prod_k (1 + p_k c alpha^2) - 1,
    evaluation mode   (block scaled by p_k)          = prod_k (1 + p_k^2 c alpha^2) - 1,
    dropout, keep q   (mask m on g, branch / q)      = (1 + c alpha^2 / q)^L - 1,

the last since E||V (m * g)||^2 / q^2 = E||m * g||^2 / q^2 = ||g||^2 / q. At beta = 1/2 (alpha^2 = 1/L) and
the linear decay, the first tends to exp(c int_0^1 p) - 1 = exp(c (1 + p_L)/2) - 1, the second to
exp(c int_0^1 p^2) - 1.

**Limits.** The evaluation-mode network is h_{k+1} = h_k + alpha p((k+1)/L) V_{k+1} g(h_k, W_{k+1}):

- smooth weights, beta = 1 (V_{k+1} = V((k+1)/L)): the Euler scheme of dH/dt = p(t) V(t) g(H, W(t))
  (``NeuralODE(..., scale=p)``), whose error is O(1/L) for Lipschitz p (Euler's order 1): slope -1;
- Brownian weights, beta = 1/2 (alpha V_{k+1} = the increment of B / sqrt(d) over the layer): the
  Euler-Maruyama scheme of dH = p(t) dB_t g(H) / sqrt(d) (``NeuralSDE(..., scale=p)``), with p read at the
  right end of the step instead of the left, which moves the error by sum_k O(1/L) dB_k = O(1/L), below the
  scheme's own O(L^-1/2): slope -1/2. The diffusion is scaled by p(t), not sqrt(p(t)).

The training-mode network adds the masks' fluctuation: alpha b_k V_k g = alpha p_k V_k g + alpha (b_k - p_k) V_k g.

- ODE regime (beta = 1): the fluctuation sum_k (1/L)(b_k - p_k) V_k g(h_k) is, given the weights, a martingale
  of variance sum_k p_k (1 - p_k) ||V_k g_k||^2 / L^2 = O(1/L): on the same weight path the masked network
  tends to the same ODE, dH/dt = p(t) V(t) g(H, W(t)) (a law of large numbers over the masks), at rate
  L^-1/2 (slope -1/2; the Euler error O(1/L) beside it makes the slope at small depths a little steeper).
- SDE regime (beta = 1/2): the fluctuation sum_k (b_k - p_k) dB_k g(h_k) / sqrt(d) has quadratic variation
  int p (1 - p) dt ||g||^2 / d, which does not vanish: the masked network has no limit on the weight path (its
  distance to the p(t)-SDE solved on that path stays of order 1: slope 0, measured as a control). Its limit is
  in law: the increments b_k dB_k have variance p_k dt, and the martingale central limit theorem gives
  dH = sqrt(p(t)) dW_t g(H) / sqrt(d) for a Brownian W that is not B. What we check of it: the exact second
  moment above, prod_k (1 + p_k c / L) - 1, the Euler-Maruyama second moment of that sqrt(p) SDE, tending to
  exp(c int p) - 1 (its value) as L grows.

:func:`limit_errors` measures, per sample (one path draw, one unit input) and depth, max_k ||H_{k/L} - h_k||
of the evaluation-mode and the training-mode network against a fine-step solve of the p-scaled limit on the
same path (ODE: rk4 on a grid twice finer than the largest depth; SDE: Euler-Maruyama 16 times finer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .. import _checks
from .._rng import normal, substream
from ..blocks import get_block
from ..compare import depth_errors, solve_reference
from ..limits import get_limit
from ..paths import Smooth
from ..rates import fit_rate
from ..resnet import LinearSurvival, ScaledResNet

# The network of each limit of the evaluation-mode network (block, activation) and the refinement of its
# reference grid; the path, its beta, the solver and its method are the limit's (reslimit.limits.LIMITS).
SETTINGS = {"ode": ("res3", "relu", 2), "sde": ("res1", "tanh", 16)}
# The slopes of log mean max_k error in log L: (evaluation mode, training mode); see the module's docstring.
RATES = {"ode": (-1.0, -0.5), "sde": (-0.5, 0.0)}


def expected_depth(depth: int, p_L: float) -> float:
    """sum_{k=1}^L p_k = L - (1 - p_L)(L + 1)/2 for the linear decay p_k = 1 - (k/L)(1 - p_L)."""
    return depth - (1.0 - p_L) * (depth + 1) / 2.0


def second_moment_theory(c: float, alpha: float, factors: Sequence[float]) -> float:
    """prod_k (1 + f_k c alpha^2) - 1 for the per-layer factors f_k (p_k in training mode, p_k^2 in evaluation
    mode, 1/q for dropout): E||h_L - h_0||^2 / ||h_0||^2 on i.i.d. weights (see the module's docstring)."""
    return math.expm1(math.fsum(math.log1p(f * c * alpha**2) for f in factors))


def sde_second_moment(p_L: float, mode: str) -> float:
    """E||H_1 - h_0||^2 / ||h_0||^2 = exp(int_0^1 s(t)^2 dt) - 1 for dH = s(t) dB_t H / sqrt(d) (res-1 with the
    identity; Ito: d||H||^2 = 2 <H, dH> + s^2 ||H||^2 dt), with the linear decay p(t) = 1 - t (1 - p_L):
    ``mode`` "train", s = sqrt(p), the training-mode network's limit in law: exp((1 + p_L)/2) - 1;
    "eval", s = p, the evaluation-mode network's limit: exp(1 - (1 - p_L) + (1 - p_L)^2 / 3) - 1."""
    a = 1.0 - p_L
    return math.expm1((1.0 + p_L) / 2.0 if mode == "train" else 1.0 - a + a * a / 3.0)


def expected_depth_mc(depth: int, p_L: float, *, passes: int, batch: int, seed: int = 0) -> dict:
    """The kept blocks of ``passes`` training-mode passes over ``batch`` inputs (one network), by its masks.

    Returns {depth, p_L, measured (mean kept blocks), se (std / sqrt(samples); the samples are independent),
    theory (:func:`expected_depth`), method (``net.expected_depth()``), samples}.
    """
    net = ScaledResNet(depth, 1, survival=p_L, seed=seed)
    kept = torch.cat([net.masks(batch, i)[0].sum(0).flatten() for i in range(passes)]).double()
    return {"depth": depth, "p_L": p_L, "measured": float(kept.mean()),
            "se": float(kept.std() / math.sqrt(kept.numel())), "theory": expected_depth(depth, p_L),
            "method": net.expected_depth(), "samples": int(kept.numel())}


def second_moment(*, block: str, activation: str, beta: float, depth: int, ensemble: int, inputs: int,
                  width: int = 16, seed: int = 0, survival: float | None = None, dropout: float | None = None,
                  mode: str = "train") -> dict:
    """E||h_L - h_0||^2 / ||h_0||^2 on i.i.d. Gaussian weights, measured over ``ensemble`` networks of ``inputs``
    inputs each, beside the exact value of the module's docstring.

    ``mode``: "train" (masks) or "eval". The SE is taken over the ensemble members' means (the inputs of a
    member share its weights). Returns {..., measured, se, theory, z}.
    """
    c = get_block(block, activation).second_moment()
    net = ScaledResNet(depth, width, beta=beta, block=block, activation=activation, ensemble=ensemble, seed=seed,
                       survival=survival, dropout=dropout)
    net.train(mode == "train")
    h0 = normal((ensemble, inputs, width), seed, "inputs")
    with torch.no_grad():
        hL = net(h0)
    ratio = ((hL - h0).norm(dim=-1) / h0.norm(dim=-1)) ** 2
    members = ratio.mean(1)
    p = net.survival_probabilities().tolist()
    factors = [pk / (1.0 - net.dropout) for pk in p] if mode == "train" else [pk**2 for pk in p]
    expected = second_moment_theory(c, net.alpha, factors)
    measured, se = float(members.mean()), float(members.std() / math.sqrt(ensemble))
    return {"block": block, "activation": activation, "beta": beta, "depth": depth, "c": c, "survival": survival,
            "dropout": dropout, "mode": mode, "ensemble": ensemble, "inputs": inputs, "measured": measured, "se": se,
            "theory": expected, "z": (measured - expected) / se}


def limit_errors(limit: str, *, depths: Sequence[int], width: int, samples: int, p_L: float = 0.5,
                 seed: int = 0) -> dict:
    """max_k ||H_{k/L} - h_k|| of the evaluation- and training-mode networks with survival ``p_L`` against the
    p-scaled limit ``limit`` ("ode" or "sde", :data:`SETTINGS`) solved on the same paths, per depth and sample.

    Each sample m is an ensemble member: its own path draw (seeds of the sub-streams "outer" and "inner" of
    ``seed``), one input of unit norm (sub-stream "inputs"), its own masks. ``depths`` must divide the largest.
    Returns {depths, eval: (K, M) errors, train: (K, M) errors, eval_rate, train_rate (:class:`Rate`), theory:
    (eval, train) slopes of :data:`RATES`}.
    """
    block, activation, factor = SETTINGS[_checks.choice("limit", limit, tuple(SETTINGS))]
    record, blk = get_limit(limit), get_block(block, activation)
    depths = sorted(depths)
    top = depths[-1]
    if any(top % L for L in depths):
        raise ValueError(f"depths must each divide the largest depth {top}; got {depths}")
    outer = record.make_path(width, samples, seed=substream(seed, "outer"), dtype=torch.float64)
    inner = Smooth(width, samples, seed=substream(seed, "inner")) if blk.inner else None
    p = LinearSurvival(p_L)
    h0 = normal((samples, 1, width), seed, "inputs")
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    with torch.no_grad():
        H = solve_reference(record, blk, outer, inner, h0, top, factor, scale=p)

    def network(mode: str):
        def build(L: int) -> ScaledResNet:
            net = ScaledResNet(L, width, beta=outer.natural_beta, block=block, activation=activation, outer=outer,
                               inner=inner, stream=True, survival=p, seed=seed)
            return net.train(mode == "train")
        return build

    errors = {mode: depth_errors(H, h0, depths, network(mode))[..., 0] for mode in ("eval", "train")}
    return {"depths": depths, "eval": errors["eval"], "train": errors["train"],
            "eval_rate": fit_rate(depths, errors["eval"]), "train_rate": fit_rate(depths, errors["train"]),
            "theory": RATES[limit]}
