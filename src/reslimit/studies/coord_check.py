"""The coordinate check across depth: how much t steps of training move the last state h_L and the logits, against
the depth L, with the depth rule and without.

muP's users check a parametrisation by the size of the change of the network's coordinates after a few steps:
under a parametrisation that transfers, it does not depend on the size. Here the size is the depth. One step
moves h_L by about lr L alpha_L^2 with SGD and lr L alpha_L with Adam (:mod:`reslimit.depth_rule`), so with
the rule lr = lr0 (L / L0)^gamma (gamma = 2 beta - 1 SGD, beta - 1 Adam) the change is independent of L, and
without it (lr = lr0) it grows as L^-gamma:

    dh(t) = ||h_L(theta_t; h_0) - h_L(theta_0; h_0)||_rms  ~  L^0 (rule "depth"),   L^-gamma (rule "none")

for the first few steps t (1, 3, 10 by default): the change of h_L that the blocks' weights theta = (V, W) make
after t steps, from the same h_0 = A_0 x (the untrained input layer), ||.||_rms the root mean square over the
test inputs and the coordinates (column "hL": the size of h_L(theta_0; h_0) itself). The input and output
layers A, B train at lr0 under both rules (the rule scales the blocks' rate only), and their own steps, of size
lr0, do not grow with L: they move the logits F(x) = B h_L(A x) by about lr0 whatever the depth. So the full
change of the logits ("dlogits") is flat under the rule, and without it follows the blocks' slope only where the
blocks' part dominates (Adam at beta = 1/2, whose blocks' step grows as L^1/2); with SGD at beta = 1 the blocks'
step shrinks as 1/L without the rule and the input layer's step dominates h_L's change (a slope near 0 where the
blocks' part has -1), which is why dh leaves A's step out.

Each depth is one point of the sweep; its (rule, seed) members train as one batched ensemble
(:class:`reslimit.batched.Grid`), member (rule, s) being ``reslimit train --depth L --lr lr --seed s``'s network
and batches. The slope of log2(change) against log2(L) (least squares over the depths, the mean over seeds) has
a percentile bootstrap interval over the seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from .. import _checks
from ..batched import Grid
from ..data import get_data
from ..depth_rule import RULES, exponent
from ..specs import takes_specs
from .protocol import LEDGER, Kind, figures
from .sweep import Study
from .transfer import member_lr, network, require, seed_interval, summarised, training_params

KIND = Kind("coord_check", "`reslimit coord-check --out DIR` (reslimit.studies.coord_check.coord_check)",
            plot=lambda rows, params: CoordCheckResult(rows, params).plot(),
            files=(*figures("coord_check"), LEDGER))
DEPTHS = (8, 16, 32, 64, 128)
STEPS = (1, 3, 10)
QUANTITIES = ("dh", "dlogits")
COLUMNS = ("depth", "rule", "seed", "lr", "step", "dh", "dlogits", "hL", "diverged")


@takes_specs
def study(*, block: str = "res3", activation: str | None = None, width: int = 32, hidden: int | None = None,
          beta: float = 0.5, init: str = "iid", hurst: float | None = None, lengthscale: float | None = None,
          depths=DEPTHS,
          steps=STEPS, lr0: float = 2.0**-8, seeds: int = 4, seed: int = 0, batch_size: int = 64,
          optimizer: str = "adam", momentum: float = 0.0, base_depth: int | None = None, rules=RULES,
          data: str = "digits", dtype: str = "float32") -> Study:
    """The coordinate check as a sweep: one point per depth, its (rule, seed) members trained as one ensemble.

    Args:
        steps: the step counts t >= 1 after which the changes are measured.  lr0: in (0, 1e30], the rate at the
            base depth.
        The others as :func:`reslimit.studies.transfer.study`'s.
    """
    steps = sorted(dict.fromkeys(_checks.positive_int("steps", t) for t in steps))
    if not steps:
        raise ValueError("steps must hold at least one step count")
    params = training_params(block=block, activation=activation, width=width, hidden=hidden, beta=beta, init=init,
                             hurst=hurst, lengthscale=lengthscale, depths=depths, seeds=seeds, seed=seed,
                             batch_size=batch_size, optimizer=optimizer, momentum=momentum, base_depth=base_depth,
                             rules=rules, data=data, dtype=dtype)
    params |= {"steps": steps, "lr0": _checks.learning_rate("lr0", lr0)}
    engine = require(params, len(params["rules"]) * params["seeds"], steps[-1], f"steps={steps[-1]}")
    return Study("coord_check", params, [{"depth": L} for L in params["depths"]], compute_point, engine,
                 threaded=True)  # batched training on torch's GEMMs: the last digits follow the thread count


def compute_point(params: dict, point: dict) -> list[dict]:
    """One depth: the members (rule, seed) trained together; a row per member and step count (:data:`COLUMNS`)."""
    depth = point["depth"]
    seeds = list(range(params["seed"], params["seed"] + params["seeds"]))
    members = [(rule, s, member_lr(params, depth, rule, params["lr0"])) for rule in params["rules"] for s in seeds]
    dtype = torch.float32 if params["dtype"] == "float32" else torch.float64
    data = {s: get_data(params["data"], seed=s, dtype=dtype) for s in seeds}
    first = data[seeds[0]]
    net = network(params, depth, [s for _, s, _ in members], first.input_dim, first.output_dim)
    grid = Grid(net, [data[s] for _, s, _ in members], [lr for *_, lr in members], [s for _, s, _ in members],
                layer_lrs=[params["lr0"]] * len(members), batch_size=params["batch_size"],
                optimizer=params["optimizer"], momentum=params["momentum"])
    h0, hL, out0 = _coordinates(grid)
    rows, t, last = [], 0, params["steps"][-1]
    for epoch in itertools.count(1):
        for batch in grid.batches(epoch):
            grid.step(batch, label=t + 1)
            t += 1
            if t in params["steps"] and grid.members:
                _, h, out = _coordinates(grid, h0)
                dh, dout = _rms(h - hL), _rms(out - out0)
                rows += [{"depth": depth, "rule": rule, "seed": s, "lr": lr, "step": t, "dh": float(dh[m]),
                          "dlogits": float(dout[m]), "hL": float(_rms(hL)[m]),
                          "diverged": grid.diverged_at[m] is not None or not math.isfinite(float(dh[m]))}
                         for m, (rule, s, lr) in enumerate(members)]
            if t == last or not grid.members:
                return rows + [{"depth": depth, "rule": rule, "seed": s, "lr": lr, "step": k, "dh": math.nan,
                                "dlogits": math.nan, "hL": math.nan, "diverged": True}
                               for k in params["steps"] if k > t or (k == t and not grid.members)
                               for rule, s, lr in members]
    raise AssertionError("unreachable: itertools.count does not end")


def _coordinates(grid: Grid, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(h_0 = A x, h_L from ``h0`` (A x when None), logits) of every member on its test inputs, each (E, n, .),
    NaN for a dropped member; ``h0`` (E, n, d) as this function returned it before."""
    net = grid.net
    rows = torch.tensor(grid.members, dtype=torch.long)
    with torch.no_grad():
        x = grid.test_inputs()
        start = net.embed(x) if h0 is None else h0[rows]
        h, out = net.blocks(start), net(x)

    def full(v: torch.Tensor) -> torch.Tensor:
        return torch.full((grid.size, *v.shape[1:]), math.nan, dtype=v.dtype).index_copy_(0, rows, v)

    return full(start), full(h), full(out)


def _rms(x: torch.Tensor) -> torch.Tensor:
    """The root mean square of each member's entries: (E, ...) -> (E,)."""
    return x.pow(2).flatten(1).mean(1).sqrt()


class CoordCheckResult(list):
    """The rows of a coordinate check (one per depth x rule x seed x step) and their slopes against depth.

    Attributes:
        params: the study's params.  gamma: the rule's exponent.
        size: {(quantity, rule, step): array (seeds, depths)} of the changes ("dh", "dlogits"), NaN where diverged.
        slope: {(quantity, rule, step): {"slope", "ci_low", "ci_high", "theory"}}: log2(mean change) on log2(L);
            theory 0 with the rule; without it -gamma for h_L's change by the blocks, and no number (None) for the
            logits', which mix the input and output layers' own steps in (the module's docstring).
    """

    def __init__(self, rows, params: dict, *, boot: int = 999):
        super().__init__(rows)
        self.params = params
        depths, steps = params["depths"], params["steps"]
        seeds = list(range(params["seed"], params["seed"] + params["seeds"]))
        self.gamma = exponent(params["beta"], params["optimizer"])
        self.size: dict[tuple, np.ndarray] = {}
        for q, rule, t in itertools.product(QUANTITIES, params["rules"], steps):
            a = np.full((len(seeds), len(depths)), np.nan)
            for r in rows:
                if (r["rule"], int(r["step"])) == (rule, t) and r["diverged"] not in (True, "True"):
                    a[seeds.index(int(r["seed"])), depths.index(int(r["depth"]))] = float(r[q])
            self.size[q, rule, t] = a
        self.slope = {key: {**seed_interval(a, lambda v: _fit(depths, v), boot, params["seed"]),
                            "theory": 0.0 if key[1] == "depth" else -self.gamma if key[0] == "dh" else None}
                      for key, a in self.size.items()}

    def summary(self) -> dict:
        """What the manifest records: {"gamma", "slope": {"dh, rule depth, t = 1": {...}, ...}}."""
        return {"gamma": self.gamma,
                "slope": {f"{q}, rule {rule}, t = {t}": s for (q, rule, t), s in self.slope.items()}}

    def plot(self, out=None):
        """The changes against depth per step count and rule, beside the theory's slopes: see
        plots.coord_check_figure."""
        from ..plots import coord_check_figure

        return coord_check_figure(self, out)


def _fit(depths, sizes: np.ndarray) -> float:
    """The least-squares slope of log2 of the mean over seeds against log2 L; NaN where one is not finite."""
    mean = sizes.mean(0)
    if not (np.isfinite(mean).all() and (mean > 0).all()):
        return math.nan
    return float(np.polyfit(np.log2(depths), np.log2(mean), 1)[0])


def coord_check(out, *, workers=None, scheduler=None, progress=True, figures=True, **options) -> CoordCheckResult:
    """Run (or resume) the coordinate check in ``out`` (locked throughout): results.csv (:data:`COLUMNS` and the
    sweep's point), manifest.json (:meth:`CoordCheckResult.summary`) and coord_check.png.

    ``options`` are those of :func:`study` (``net=``, ``path=`` specs too).
    """
    return summarised(study(**options), CoordCheckResult, out, workers=workers, scheduler=scheduler,
                      progress=progress, figures=figures)
