"""The largest SGD learning rate that still trains, against the depth L, for alpha_L = L^-beta.

Theory. For h_{k+1} = h_k + alpha V_{k+1} g_k (g_k = g(h_k, W_{k+1})) and a loss with backward states
p_k = dLoss/dh_k, the gradient of V_{k+1} is alpha p_{k+1} g_k^T, so one SGD step changes V_{k+1} by
-lr alpha p_{k+1} g_k^T. To first order the final state moves by

    delta h_L = sum_k (dh_L/dh_{k+1}) alpha delta V_{k+1} g_k = -lr alpha^2 sum_k J_{k+1} p_{k+1} |g_k|^2,

with J_{k+1} = dh_L/dh_{k+1}. Near a non-degenerate limit J, p and g vary slowly with k, so the L terms are
aligned and |delta h_L| ~ lr alpha^2 L. A step of a size independent of L (the largest stable one, set by the
curvature of the loss in h_L) needs lr proportional to 1 / (alpha^2 L) = L^(2 beta - 1): the largest
learning rate grows with slope 2 beta - 1 in log-log against L, 0 at beta = 1/2 and +1 at beta = 1. The input
and output layers A, B are frozen (their own step, of size lr |h_L|^2, does not depend on L and would cap lr
at beta = 1); only V (and W) are trained.

Measurement. On the geometric grid lr_j = lr_start r^j, an lr is "too large" when the loss turned non-finite
(diverged) or, after ``epochs`` epochs of SGD, the test loss is not below the untrained network's; it "trains"
when the test loss is below ``1 - margin`` times the untrained one (``margin`` 0 by default: not too large). The
largest grid lr not too large, lr*(L), is found by a galloping search from lr_start (steps 1, 2, 4, ... grid
points down while the lr is too large, else up until it is), then bisection on the grid between the last lr not
too large and the first too large; lr* is reported when it also trains, so that lr* trains and lr* r does not
(too large assumed monotone in lr). That edge is the step-size limit of the theory above, and it is sharp on
the synthetic task: one grid step moves the test loss from below the untrained one to several times it. A
positive margin measures how fast the network learns as well: with "halved after two epochs" (margin 1/2, the
first default), "trains" was not monotone in lr where training is slow (a draw of the teacher where lr = 1 did
not halve the loss at depth 64 and lr = 1.41 did), and whole depths had no lr*.

The slope is the least-squares slope of log lr* against log L. Since the true threshold lies in [lr*, lr* r),
each log lr* is off by e_i in [0, log r), so the slope is off by sum_i x_i e_i / sum_i x_i^2
(x_i = log L_i centred), at most log r * sum_{x_i > 0} x_i / sum_i x_i^2 in absolute value: :func:`tolerance`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks, native, store
from ..blocks import get_block
from ..data import get_data
from ..resnet import ScaledResNet
from ..train import train
from .protocol import LEDGER, Kind, claimed, figures
from .scaling import DTYPES
from .sweep import Study, check_executor, finishing, run_study

KIND = Kind("learning_rate", "reslimit.studies.learning_rate.learning_rate(DIR) (the learning_rate claim)",
            plot=lambda rows, params: LearningRateResult(rows, params).plot(),
            files=(*figures("learning_rate"), LEDGER))
MAX_STEPS = 64  # grid points the search may move from lr_start, each way (r^64 = 2^32 at r = 2^(1/2))


def theory_slope(beta: float) -> float:
    """The slope of log lr* against log L: 2 beta - 1 (module docstring)."""
    return 2 * beta - 1


def tolerance(depths, ratio: float) -> float:
    """The largest error the grid's resolution puts on the slope: log r sum_{x_i > 0} x_i / sum_i x_i^2."""
    x = np.log(np.asarray(depths, dtype=float))
    x -= x.mean()
    return float(math.log(ratio) * x[x > 0].sum() / (x**2).sum())


def slope(depths, lrs) -> float:
    """The least-squares slope of log lr against log L."""
    x = np.log(np.asarray(depths, dtype=float))
    x -= x.mean()
    return float(x @ np.log(np.asarray(lrs, dtype=float)) / (x**2).sum())


def attempt(params: dict, data, beta: float, depth: int, lr: float) -> dict:
    """Train one network at ``lr``; the row {lr, status, untrained and final test loss, trains (1 or 0)}."""
    net = ScaledResNet(depth, params["width"], beta=beta, block=params["block"], activation=params["activation"],
                       seed=params["seed"], dtype=DTYPES[params["dtype"]],
                       input_dim=data.input_dim, output_dim=data.output_dim)
    net.A.requires_grad_(False)
    net.B.requires_grad_(False)
    history = train(net, data, epochs=params["epochs"], lr=lr, batch_size=params["batch_size"], seed=params["seed"])
    before, after = history.rows[0]["test_loss"], history.final["test_loss"]
    trains = not history.diverged and after < (1 - params["margin"]) * before
    return {"beta": beta, "depth": depth, "lr": lr, "status": history.final["status"], "untrained_loss": before,
            "test_loss": after, "trains": int(trains)}


def search(params: dict, data, beta: float, depth: int) -> list[dict]:
    """The rows of every lr tried by the galloping search, in order (module docstring); the largest that trains
    is :func:`largest` of them. An lr is "too large" when it diverged or did not lower the test loss at all: the
    search gallops down from lr_start while it is too large, else up until one is, then bisects between the last
    lr not too large and the first too large. It stops MAX_STEPS grid points from lr_start."""
    tried: dict[int, dict] = {}

    def over(j: int) -> bool:
        if j not in tried:
            tried[j] = attempt(params, data, beta, depth, params["lr_start"] * params["ratio"] ** j)
        return too_large(tried[j])

    low, high, step = (None, 0, 1) if over(0) else (0, None, 1)
    while (low is None or high is None) and step <= MAX_STEPS:
        j = (high - step) if low is None else (low + step)
        if over(j):
            high = j
        else:
            low = j
        step *= 2
    while low is not None and high is not None and high - low > 1:
        mid = (low + high) // 2
        if over(mid):
            high = mid
        else:
            low = mid
    return list(tried.values())


def too_large(row: dict) -> bool:
    """Whether the lr of ``row`` is past the threshold: it diverged or did not lower the test loss at all."""
    return row["status"] != "ok" or not row["test_loss"] < row["untrained_loss"]


def largest(rows: list[dict]) -> float | None:
    """lr* of a search's ``rows``: the largest lr not too large, when it trains (None otherwise)."""
    below = [r for r in rows if not too_large(r)]
    top = max(below, key=lambda r: r["lr"], default=None)
    return top["lr"] if top is not None and top["trains"] == 1 else None


def compute_point(params: dict, point: dict) -> list[dict]:
    """One (beta, depth): the search's rows."""
    data = get_data(params["data"], seed=params["seed"], dtype=params["dtype"])
    return search(params, data, point["beta"], point["depth"])


def study(block="res1", activation="tanh", betas=(0.5, 1.0), depths=(16, 32, 64, 128, 256, 512), width=32,
          epochs=2, batch_size=100, lr_start=1.0, ratio=2**0.5, margin=0.0, data="synthetic", seed=0,
          dtype="float32") -> Study:
    """The learning-rate study as a sweep: one point per (beta, depth).

    Args:
        block, activation: the residual block (res-1 tanh by default).  betas: >= 0.  depths: >= 1, at least two.
        width, epochs, batch_size: >= 1.  lr_start: > 0, where the search starts.  ratio: > 1, the grid's
        factor r.  margin: in [0, 1), "trains" = test loss < (1 - margin) x the untrained one.
        data: "synthetic" (regression: large lrs diverge sharply) or "digits".  seed: of the weights, layers,
            split and batches.  dtype: "float32" or "float64".
    """
    get_block(block, activation)
    if not isinstance(activation, str):
        raise TypeError("activation must be a name for a study (it is stored in the manifest)")
    betas = sorted(dict.fromkeys(_checks.real("betas", b, low=0.0) for b in betas))
    depths = sorted(dict.fromkeys(_checks.positive_int("depths", L) for L in depths))
    if not betas or len(depths) < 2:
        raise ValueError(f"betas must be non-empty and depths hold two depths or more for a slope; got betas={betas}, "
                         f"depths={depths}")
    params = {"block": block, "activation": activation, "betas": betas, "depths": depths,
              "width": _checks.positive_int("width", width), "epochs": _checks.positive_int("epochs", epochs),
              "batch_size": _checks.positive_int("batch_size", batch_size),
              "lr_start": _checks.real("lr_start", lr_start, low=0.0, low_open=True),
              "ratio": _checks.real("ratio", ratio, low=1.0, low_open=True),
              "margin": _checks.real("margin", margin, low=0.0, high=1.0, high_open=True),
              "data": _checks.choice("data", data, ("synthetic", "digits")), "seed": _checks.seed("seed", seed),
              "dtype": _checks.choice("dtype", dtype, tuple(DTYPES))}
    engine = native.engine(block, activation, DTYPES[params["dtype"]])
    return Study("learning_rate", params, [{"beta": b, "depth": L} for b in betas for L in depths], compute_point,
                 engine)


class LearningRateResult(list):
    """The rows of a learning-rate study (one per lr tried) and what they show.

    Attributes:
        params: the study's params.
        largest: {beta: [lr* of each depth, None where no lr trained]}.
        slope: {beta: the slope of log lr* against log L (NaN unless every depth has an lr*)}.
        theory: {beta: 2 beta - 1}.  tolerance: :func:`tolerance` of the depths and the grid's ratio.
    """

    def __init__(self, rows, params: dict):
        super().__init__(rows)
        self.params = params
        self.largest = {b: [largest([r for r in rows if r["beta"] == b and r["depth"] == L])
                            for L in params["depths"]] for b in params["betas"]}
        self.slope = {b: math.nan if None in lrs else slope(params["depths"], lrs) for b, lrs in self.largest.items()}
        self.theory = {b: theory_slope(b) for b in params["betas"]}
        self.tolerance = tolerance(params["depths"], params["ratio"])

    def plot(self, out=None):
        """lr* against L with the fitted and the theory's slopes: :func:`reslimit.plots.learning_rate_figure`."""
        from ..plots import learning_rate_figure

        return learning_rate_figure(self, out)


def learning_rate(out, *, workers=None, scheduler=None, progress=True, figures=True,
                  **options) -> LearningRateResult:
    """Run (or resume) the learning-rate study in ``out`` (locked throughout): results.csv, manifest.json (lr*, the
    slopes, the theory's, the tolerance) and learning_rate.png. ``options`` are those of :func:`study`."""
    st = study(**options)
    check_executor(workers, scheduler)  # before the folder is made
    with claimed(out, KIND, st.params), finishing(st, out):
        result = LearningRateResult(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress),
                                    st.params)
        store.update_manifest(out, largest_lr={str(b): v for b, v in result.largest.items()},
                             slope={str(b): None if math.isnan(s) else s for b, s in result.slope.items()},
                             slope_theory={str(b): t for b, t in result.theory.items()},
                             tolerance=result.tolerance)
        if figures:
            result.plot(out)
    return result
