"""The limit of training itself: trained (L, M) networks against the trained network of the largest (L, M).

The network (res-2 with tanh, in the mean-field scaling of Chizat 2025, arXiv 2509.10167, and Chaintron, Chizat
and Maass 2026, arXiv 2603.18168: a two-layer block whose hidden units are averaged, not summed):

    h_0 = A x,   h_k = h_{k-1} + (1/L) (1/M) sum_{j<M} v_{k,j} tanh(w_{k,j} . h_{k-1} / sqrt(d)),   f(x) = B h_L,

with O(1) unit parameters v_{k,j}, w_{k,j} in R^d (entries of variance 1 at initialisation). In reslimit's
convention (``ScaledResNet(block="res2", hidden=M)``: V_k d x M of variance 1/M, W_k M x d of variance 1/d,
alpha_L = L^-beta) this is V_k = v_k / sqrt(M), W_k = w_k / sqrt(d) and beta = 1, with the branch scaled by a
further 1/sqrt(M): alpha = 1 / (L sqrt(M)). The extra 1/sqrt(M) is what makes the width a mean-field average
(reslimit's 1/sqrt(M) is the NTK-like scaling, whose M -> infinity limit at initialisation is a Gaussian
process and whose features do not move); with it, g_k(h) = (1/M) sum_j v_{k,j} tanh(w_{k,j} . h / sqrt(d))
converges to the integral of v tanh(w . h / sqrt(d)) against the units' distribution at depth k/L.

Initial weights. Depth: the parameters of layer k are one smooth path's value at k/L (``init="smooth"``,
:class:`reslimit.paths.Smooth`, RBF kernel of length-scale ``lengthscale``): v_k = sqrt(M_max) V_path((k)/L)
with V_path = ``Smooth(d, cols=M_max).weights(L)`` and w_k = sqrt(d) ``Smooth(M_max, cols=d).weights(L)``, the
seed's sub-streams "outer" and "inner", so every depth is a discretisation of the same continuous path.
Width: network M keeps the first M hidden units of the pool of M_max (v's columns, w's rows), so at M = M_max
it is the pool's network, and two widths share their first units. A and B are fixed (the blocks alone learn):
A = the input layer of the seed's sub-stream "input_layer" (d x p, variance 1/p), B = that of "output_layer"
(q x d, variance 1/d).

Training: full-batch gradient descent on the squared loss (1/2) mean (f(x) - y)^2 of the training split, for
``steps`` steps of the mean-field learning rate: each unit parameter theta_{k,j} (v or w) moves by
-lr0 L M dLoss/dtheta_{k,j}. The derivative of f in one unit is O(1 / (L M)), so this step is O(lr0) for every
(L, M), the time discretisation of the gradient flow of the units' distribution (lr proportional to L M for the
per-unit parameters; equivalently, each unit's own O(1) parameters move at the rate lr0). Every (L, M) sees the
same data (``reslimit.data.synthetic``, seed ``data_seed``), the same full batch, the same steps and lr0; all
is float64 and deterministic.

The error. Reference: (L_ref, M_ref) = (``ref_factor`` x the largest depth, ``ref_factor`` x the largest width).
E(L, M) = the rms over the test inputs and outputs of f_{L,M}(x) - f_{L_ref,M_ref}(x) after training, per seed
(one path and pool per seed). The depth series is (L, M_ref) for L in ``depths``, the width series (L_ref, M) for
M in ``widths``: the reference's own width (depth) cancels from each, so each series measures one error alone.

The theory. The papers bound the error of the trained network to its limit by O(1/L + 1/sqrt(L M)) (with i.i.d.
initial units at every depth, L M samples of the units' law; a smooth path in depth correlates the units of
nearby layers, so the fluctuation at fixed L is 1/sqrt(M) times a factor set by the length-scale). Hence
slope -1 of log E on log L at fixed M (the discretisation of the depth ODE, Euler's scheme on a Lipschitz field,
which training keeps Lipschitz in k/L) and slope -1/2 of log E on log M at fixed L (the sampling error of M units
of the same law). With nested discretisations and sub-samples the reference's own error enters as
E(L) ~ C (1/L - 1/L_ref) and E(M) ~ C sqrt(1/M - 1/M_ref) (the first M units against all M_ref), whose
slopes over the fitted sizes are the *bias-corrected* theory the summary records beside -1 and -1/2.

Rows: one per (point, seed, test input, output) with the trained prediction, and each member's final losses;
:class:`TrainingLimitResult` turns them into the errors, and their slopes with bootstrap intervals over the seeds
(:func:`reslimit.rates.fit_rate`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _checks, _memory, store
from .._rng import normal, substream
from ..data import get_data
from ..paths import Smooth, Stacked
from ..rates import fit_rate
from .protocol import LEDGER, Kind, claimed, figures
from .sweep import Study, check_executor, finishing, run_study

KIND = Kind("training_limit", "`reslimit.studies.training_limit.training_limit(DIR)`",
            plot=lambda rows, params: TrainingLimitResult(rows, params).plot(),
            files=(*figures("training_limit"), LEDGER))
DEPTHS = (4, 8, 16)
WIDTHS = (8, 16, 32, 64)
THEORY = {"depth": -1.0, "width": -0.5}
COLUMNS = ("series", "depth", "width", "seed", "sample", "output", "prediction", "train_loss", "test_loss")


def study(*, width: int = 8, depths=DEPTHS, widths=WIDTHS, ref_factor: int = 4, lengthscale: float = 0.5,
          lr0: float = 0.5, steps: int = 50, seeds: int = 4, seed: int = 0, samples: int = 250,
          data_seed: int = 0) -> Study:
    """The study as a sweep: one point per (L, M) of the two series and the reference, its seeds as one ensemble.

    Args:
        width: d, the width of h.  depths: L of the depth series, >= 1, at least two.  widths: M of the width
            series, >= 1, at least two.  ref_factor: >= 2, (L_ref, M_ref) = ref_factor x (max depths, max widths).
        lengthscale: in [1e-300, 1e300], of the smooth path.  lr0: in (0, 1e30], the mean-field rate.  steps: >= 1
            of gradient descent.
        seeds: independent paths and pools (seed, seed + 1, ...), >= 2 for an interval.  seed: the first.
        samples: n of ``reslimit.data.synthetic`` (80% train, 20% test), >= 10.  data_seed: its seed.

    Raises:
        ValueError: naming the first bad argument.
    """
    depths = sorted(dict.fromkeys(_checks.positive_int("depths", L) for L in depths))
    widths = sorted(dict.fromkeys(_checks.positive_int("widths", M) for M in widths))
    for name, sizes in (("depths", depths), ("widths", widths)):
        if len(sizes) < 2:
            raise ValueError(f"{name} must hold at least two sizes (a slope); got {sizes}")
    ref_factor = _checks.positive_int("ref_factor", ref_factor)
    if ref_factor < 2:
        raise ValueError(f"ref_factor must be an integer >= 2 (the reference well above the sizes fitted); got "
                         f"{ref_factor}")
    params = {"width": _checks.positive_int("width", width), "depths": depths, "widths": widths,
              "ref_factor": ref_factor, "ref_depth": ref_factor * depths[-1], "ref_width": ref_factor * widths[-1],
              "lengthscale": _checks.lengthscale(lengthscale),
              "lr0": _checks.learning_rate("lr0", lr0), "steps": _checks.positive_int("steps", steps),
              "seeds": _checks.positive_int("seeds", seeds), "seed": _checks.seed("seed", seed),
              "samples": _checks.positive_int("samples", samples), "data_seed": _checks.seed("data_seed", data_seed),
              "block": "res2", "activation": "tanh", "init": "smooth", "beta": 1.0}
    if params["samples"] < 10:
        raise ValueError(f"samples must be >= 10 (a test split of 20%); got {samples!r}")
    _checks.seed("seed", params["seed"] + params["seeds"] - 1)
    n_train = params["samples"] - math.ceil(0.2 * params["samples"])
    units = params["seeds"] * params["ref_depth"] * max(params["ref_width"], len(widths) * widths[-1])
    _memory.require(8 * n_train * (2 * units + 4 * params["seeds"] * len(widths) * params["ref_depth"] * width),
                    "the autograd graph of the largest point (members x L_ref x n_train x (2 M + 2 d) float64: "
                    "the reference, or the width series' members padded to the largest M)",
                    f"ref_factor={ref_factor}", "use smaller depths, widths, samples or seeds")
    return Study("training_limit", params, points(params), compute_point)


def points(params: dict) -> list[dict]:
    """The grid: the depth series (L, M_ref) one point per L, the width series at L_ref as one point (its widths
    and seeds one ensemble, each member's units padded to the largest M), then the reference (L_ref, M_ref)."""
    Lr, Mr = params["ref_depth"], params["ref_width"]
    return ([{"series": "depth", "depth": L, "width": Mr} for L in params["depths"]]
            + [{"series": "width", "depth": Lr, "width": max(params["widths"])}]
            + [{"series": "reference", "depth": Lr, "width": Mr}])


def initial_units(params: dict, depth: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The initial unit parameters of network (``depth``, ``hidden``) for every seed: v (L, E, d, M) and
    w (L, E, M, d), O(1) entries: layer k's units are the seed's smooth paths at k/L (k = 1..L), restricted to
    the first ``hidden`` units of the pool of M_max = params["ref_width"]."""
    d, pool = params["width"], params["ref_width"]
    depth, hidden = _checks.positive_int("depth", depth), _checks.positive_int("hidden", hidden)
    if hidden > pool:
        raise ValueError(f"hidden must be at most the pool's {pool} units; got {hidden}")
    seeds = range(params["seed"], params["seed"] + params["seeds"])
    ls = params["lengthscale"]
    outer = Stacked([Smooth(d, seed=substream(s, "outer"), lengthscale=ls, cols=pool) for s in seeds])
    inner = Stacked([Smooth(pool, seed=substream(s, "inner"), lengthscale=ls, cols=d) for s in seeds])
    v = outer.weights(depth)[..., :hidden] * math.sqrt(pool)  # X_V(k/L): (L, E, d, M)
    w = inner.weights(depth)[:, :, :hidden] * math.sqrt(d)  # X_W(k/L): (L, E, M, d)
    return v.contiguous(), w.contiguous()


def layers(params: dict, input_dim: int, output_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed input and output layers of every seed: A (E, d, p) of variance 1/p, B (E, q, d) of variance 1/d."""
    d = params["width"]
    seeds = range(params["seed"], params["seed"] + params["seeds"])
    A = torch.stack([normal((d, input_dim), s, "input_layer") / math.sqrt(input_dim) for s in seeds])
    B = torch.stack([normal((output_dim, d), s, "output_layer") / math.sqrt(d) for s in seeds])
    return A, B


def forward(v: torch.Tensor, w: torch.Tensor, A: torch.Tensor, B: torch.Tensor, x: torch.Tensor,
            hidden: torch.Tensor | None = None) -> torch.Tensor:
    """f(x) of every member: h_0 = A x, h_k = h_{k-1} + (1/(L M)) v_k tanh(w_k h_{k-1} / sqrt(d)), f = B h_L.

    v (L, E, d, M), w (L, E, M, d), A (E, d, p), B (E, q, d), x (n, p) -> (E, n, q); one loop over depth.
    ``hidden``: (E,) the number of units of each member (its first ones; the others must have v = 0), None: M.
    """
    L, E, d, M = v.shape
    h = torch.matmul(x, A.mT)  # (E, n, d)
    units = torch.full((E,), float(M), dtype=v.dtype) if hidden is None else hidden.to(v.dtype)
    scale, inv = (1.0 / (L * units)).view(E, 1, 1), 1.0 / math.sqrt(d)
    for k in range(L):
        h = h + scale * torch.matmul(torch.tanh(torch.matmul(h, w[k].mT) * inv), v[k].mT)
    return torch.matmul(h, B.mT)


def train_units(v, w, A, B, X, y, *, lr0: float, steps: int, hidden: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``steps`` of full-batch gradient descent of the mean-field rate on (1/2) mean (f - y)^2 per member:
    theta <- theta - lr0 L M dLoss/dtheta for every unit parameter (M the member's ``hidden``; its padded units
    stay at v = 0, w as they were). Returns the trained v, w and the losses of the last step's parameters (E,)."""
    L, E, _, M = v.shape
    units = torch.full((E,), M, dtype=torch.int64) if hidden is None else hidden
    mask = (torch.arange(M) < units.view(E, 1)).to(v.dtype)  # (E, M): the member's own units
    v = (v * mask.view(1, E, 1, M)).requires_grad_(True)
    w = w.clone().requires_grad_(True)
    rate_v = (lr0 * L * units.to(v.dtype)).view(1, E, 1, 1) * mask.view(1, E, 1, M)
    rate_w = (lr0 * L * units.to(v.dtype)).view(1, E, 1, 1) * mask.view(1, E, M, 1)
    for _ in range(steps):
        loss = 0.5 * (forward(v, w, A, B, X, units) - y).pow(2).mean((1, 2))  # (E,): the members are independent
        gv, gw = torch.autograd.grad(loss.sum(), (v, w))
        with torch.no_grad():
            v -= rate_v * gv
            w -= rate_w * gw
    with torch.no_grad():
        loss = 0.5 * (forward(v, w, A, B, X, units) - y).pow(2).mean((1, 2))
    return v.detach(), w.detach(), loss


def dataset(params: dict):
    """The study's data: ``reslimit.data.synthetic`` of ``samples`` points and ``data_seed``, float64."""
    return get_data("synthetic", n=params["samples"], seed=params["data_seed"], dtype=torch.float64)


def compute_point(params: dict, point: dict) -> list[dict]:
    """One point: its members (seeds; for the width series, every (M, seed)) trained as one ensemble; a row per
    (member, test input, output) (:data:`COLUMNS`). On one torch thread: its (n, d) x (d, M) products are too small
    to share, and on a loaded machine each shared one waits for the other threads (as studies.trained finds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _compute_point(params, point)
    finally:
        torch.set_num_threads(threads)


def _compute_point(params: dict, point: dict) -> list[dict]:
    data = dataset(params)
    L, top = point["depth"], point["width"]
    widths = params["widths"] if point["series"] == "width" else [top]
    seeds = list(range(params["seed"], params["seed"] + params["seeds"]))
    v, w = initial_units(params, L, top)  # (L, seeds, ...): repeated per width below
    A, B = layers(params, data.input_dim, data.output_dim)
    k = len(widths)
    v, w, A, B = v.repeat(1, k, 1, 1), w.repeat(1, k, 1, 1), A.repeat(k, 1, 1), B.repeat(k, 1, 1)
    hidden = torch.tensor([M for M in widths for _ in seeds])
    v, w, train_loss = train_units(v, w, A, B, data.X_train, data.y_train, lr0=params["lr0"], steps=params["steps"],
                                   hidden=hidden)
    with torch.no_grad():
        pred = forward(v, w, A, B, data.X_test, hidden)  # (E, n_test, q)
        test_loss = 0.5 * (pred - data.y_test).pow(2).mean((1, 2))
    rows = []
    for e, (M, s) in enumerate((M, s) for M in widths for s in seeds):
        for i in range(pred.shape[1]):
            for j in range(pred.shape[2]):
                rows.append({"series": point["series"], "depth": L, "width": M, "seed": s, "sample": i, "output": j,
                             "prediction": float(pred[e, i, j]), "train_loss": float(train_loss[e]),
                             "test_loss": float(test_loss[e])})
    return rows


class TrainingLimitResult(list):
    """The rows of a training-limit study and what they show.

    Attributes:
        params: the study's params.
        predictions: {(L, M): array (seeds, n_test, q)} of the trained outputs.
        errors: {"depth": array (len(depths), seeds), "width": array (len(widths), seeds)}: E against the reference.
        rate: {"depth": Rate, "width": Rate} (:class:`reslimit.rates.Rate`): slopes of log(mean E over seeds) on
            log L and log M, with 95% bootstrap intervals over the seeds (:func:`reslimit.rates.fit_rate`).
        theory: the papers' exponents, -1 (depth) and -1/2 (width).
        corrected: the theory's slope with the reference's own error (log(1/L - 1/L_ref), log sqrt(1/M - 1/M_ref)
            on log L, log M over the fitted sizes).
    """

    def __init__(self, rows, params: dict, *, boot: int = 2000):
        super().__init__(rows)
        self.params = params
        seeds = list(range(params["seed"], params["seed"] + params["seeds"]))
        cells: dict[tuple[int, int], dict] = {}
        for r in rows:
            cells.setdefault((int(r["depth"]), int(r["width"])), {})[
                int(r["seed"]), int(r["sample"]), int(r["output"])] = float(r["prediction"])
        self.predictions = {}
        for key, values in cells.items():
            n = 1 + max(i for _, i, _ in values)
            q = 1 + max(j for _, _, j in values)
            a = np.full((len(seeds), n, q), np.nan)
            for (s, i, j), p in values.items():
                a[seeds.index(s), i, j] = p
            self.predictions[key] = a
        Lr, Mr = params["ref_depth"], params["ref_width"]
        ref = self.predictions[Lr, Mr]
        self.sizes = {"depth": np.array(params["depths"], dtype=float), "width": np.array(params["widths"],
                                                                                           dtype=float)}
        keys = {"depth": [(L, Mr) for L in params["depths"]], "width": [(Lr, M) for M in params["widths"]]}
        self.errors = {s: np.array([np.sqrt(((self.predictions[k] - ref) ** 2).mean((1, 2))) for k in ks])
                       for s, ks in keys.items()}
        self.rate = {s: fit_rate(self.sizes[s], e, boot=boot, seed=params["seed"]) for s, e in self.errors.items()}
        self.theory = dict(THEORY)
        L, M = self.sizes["depth"], self.sizes["width"]
        self.corrected = {"depth": float(np.polyfit(np.log(L), np.log(1 / L - 1 / Lr), 1)[0]),
                          "width": float(np.polyfit(np.log(M), 0.5 * np.log(1 / M - 1 / Mr), 1)[0])}
        losses = {}
        for r in rows:
            losses[int(r["depth"]), int(r["width"]), int(r["seed"])] = (float(r["train_loss"]), float(r["test_loss"]))
        self.losses = losses

    def summary(self) -> dict:
        """The slopes with their intervals, the theory's and the corrected theory's, the mean errors per size."""
        return {s: {"slope": self.rate[s].slope, "ci_low": self.rate[s].ci_low, "ci_high": self.rate[s].ci_high,
                    "theory": self.theory[s], "corrected_theory": self.corrected[s],
                    "sizes": [int(x) for x in self.sizes[s]], "mean_error": [float(x) for x in self.errors[s].mean(1)]}
                for s in ("depth", "width")} | {
            "reference": [self.params["ref_depth"], self.params["ref_width"]],
            "train_loss": {f"{L}x{M}": float(np.mean([self.losses[L, M, s][0] for s in self._seeds()]))
                           for (L, M) in self.predictions}}

    def _seeds(self) -> list[int]:
        return list(range(self.params["seed"], self.params["seed"] + self.params["seeds"]))

    def plot(self, out=None):
        """The errors against L and against M, with the fits and the theory's lines: see
        plots.training_limit_figure."""
        from ..plots import training_limit_figure

        return training_limit_figure(self, out)


def training_limit(out, *, workers=None, scheduler=None, progress=True, figures=True, **options
                   ) -> TrainingLimitResult:
    """Run (or resume) the study in ``out`` (locked throughout): results.csv (:data:`COLUMNS` and the sweep's
    point), manifest.json (:meth:`TrainingLimitResult.summary`) and training_limit.png. ``options``: :func:`study`'s.
    """
    st = study(**options)
    check_executor(workers, scheduler)
    with claimed(out, KIND, st.params), finishing(st, out):
        result = TrainingLimitResult(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress),
                                     st.params)
        store.update_manifest(out, **result.summary())
        if figures:
            result.plot(out)
    return result

