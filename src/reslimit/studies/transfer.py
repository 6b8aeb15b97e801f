"""Does a learning rate tuned at one depth work at another? The best lr0 against depth, with the depth rule and without.

For a network (block, activation, width, beta, init path) at each depth L of a grid, every lr0 of a log-spaced grid
and every seed is trained for a few epochs on the data, under each rule of :mod:`reslimit.depth_rule`:

    rule "none":   lr = lr0                    rule "depth":   lr = lr0 (L / L0)^gamma,
    gamma = 2 beta - 1 (SGD, with or without momentum),   gamma = beta - 1 (Adam),

L0 the base depth (the smallest depth by default), lr the rate of the blocks' weights V (and W); the input and
output layers A, B train at lr0 under both rules (their own step, of size lr0, does not depend on L: the rule
scales the residual branches only, as depth-muP does), or not at all (``layers="frozen"``). One depth is one
point of the sweep, and its (rule, lr0, seed) grid is trained in batched ensembles
(:func:`reslimit.batched.train_grid`: one pass per step for each; the whole grid at small depth, :func:`chunk`
members at a time where their weights would outgrow the cache; a run that the rule and no rule share, at
L = L0, is trained once). Member (rule, lr0, seed s) with trained layers is the network
``reslimit train --depth L --lr lr0 --rule RULE --base-depth L0 --seed s`` trains (paths seeded by s,
resolution L for fBm; the split and the batches of s), to rounding.

What it finds (:class:`TransferResult`), per rule, from the loss (``metric``: the training loss of the last epoch
by default, as muP's plots use) averaged over seeds, a run that diverged counting as an infinite loss:

- the best lr0 at each depth: the grid's minimum refined by the parabola through it and its two neighbours in
  log2 lr0 (its vertex, kept between them); a minimum on the grid's first or last point is reported as such
  (``edge`` "low" or "high"), not refined;
- the slope of log2(best lr0) against log2(L) (least squares over the depths), with a percentile bootstrap
  interval over the seeds (:func:`scipy.stats.bootstrap`: the seeds resampled, the same resample at every depth).
  Theory: 0 with the rule; without it gamma (the best raw lr moves as L^gamma) where the blocks alone learn
  (``layers="frozen"``). Where A and B learn too, at a rate that needs no scaling, the best single lr is a
  compromise between the blocks' L^gamma and the layers' L^0, and the theory gives no number (None): measured
  on the digits, -0.34 for Adam at beta = 1/2 and 0.0 for SGD at beta = 1 on smooth weights, whose blocks'
  part of the step, lr / L, leaves the loss to A and B at depth;
- the regret at each depth: the loss there with the lr0 that was best at the base depth (on the grid), minus the
  loss with the best lr0 of the grid at that depth (0 at the base depth; infinite when that lr0 diverges).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _checks, _memory, native, store
from ..batched import train_grid
from ..blocks import get_block
from ..custom import BlockPaths, CustomBlock, CustomResNet, check_shapes, register, registered
from ..data import get_data
from ..depth_rule import OPTIMIZERS, RULES, exponent, learning_rate
from ..paths import PATHS, Stacked
from ..resnet import ScaledResNet
from ..specs import NetSpec, PathSpec, takes_specs
from .protocol import KINDS, LEDGER, Kind, claimed, figures
from .sweep import Study, check_executor, finishing, run_study

KIND = Kind("transfer", "`reslimit transfer --out DIR` (reslimit.studies.transfer.transfer)",
            plot=lambda rows, params: TransferResult(rows, params).plot(),
            files=(*figures("transfer"), LEDGER))
DEPTHS = (8, 16, 32, 64)
LR0S = tuple(2.0**k for k in range(-12, 3))  # 2^-12 .. 2^2, an octave apart
METRICS = ("train_loss", "test_loss")
LAYERS = ("trained", "frozen")
DATA = ("digits", "synthetic")
DTYPES = ("float32", "float64")
COLUMNS = ("depth", "rule", "lr0", "lr", "seed", "train_loss", "test_loss", "test_accuracy", "diverged", "epochs")


@takes_specs
def study(*, block: str | CustomBlock = "res3", activation: str | None = None, width: int = 32,
          hidden: int | None = None, beta: float = 0.5, init: str = "iid", hurst: float | None = None,
          lengthscale: float | None = None, depths=DEPTHS,
          lr0s=LR0S, seeds: int = 3, seed: int = 0, epochs: int = 3, batch_size: int = 64, optimizer: str = "sgd",
          momentum: float = 0.0, base_depth: int | None = None, rules=RULES, layers: str = "trained",
          metric: str = "train_loss", data: str = "digits", dtype: str = "float32") -> Study:
    """The transfer study as a sweep: one point per depth, its (rule, lr0, seed) grid trained in batched ensembles.

    Args:
        block, activation, width, hidden, beta: the network (activation None: the block's own; hidden M, the
            hidden width of res-2 and res-3, None: M = d). ``block`` may be a user's :class:`reslimit.CustomBlock`
            (activation None): the params name it by ``repr`` (registered, :func:`reslimit.custom.register`, so the
            sweep computes in this process or a forked pool) and record its parameters' shapes; member (lr, s) is
            then ``CustomResNet(L, width, block, paths=BlockPaths.draw(block, width, kind=init, seed=s), seed=s)``
            trained by ``train(lr=lr, seed=s)`` on the split of s.
        init, hurst, lengthscale: the path of the initial weights (a key of reslimit.PATHS and its options; fBm
            at resolution L).
        depths: >= 1, at least two.  lr0s: > 0, at least three (log-spaced, for the refinement).
        seeds: how many (seed, seed + 1, ...), >= 1.  seed: the first.
        epochs, batch_size: >= 1.  optimizer: "sgd" or "adam".  momentum: SGD's, in [0, 1).
        base_depth: L0 of the rule, >= 1 (default: the smallest depth).  rules: of "none", "depth".
        layers: "trained" (the input and output layers A, B at lr0, as ``reslimit train``) or "frozen" (A, B
            fixed: the blocks alone learn, the setting of the rule's arithmetic).
        metric: the loss the best lr0 minimises, "train_loss" (the last epoch's mean) or "test_loss".
        data: "digits" or "synthetic".  dtype: "float32" or "float64".
    """
    lr0s = sorted(dict.fromkeys(_checks.learning_rate("lr0s", v) for v in lr0s))
    if len(lr0s) < 3:
        raise ValueError(f"lr0s must hold at least three learning rates (a minimum refined between two "
                         f"neighbours); got {lr0s}")
    params = training_params(block=block, activation=activation, width=width, hidden=hidden, beta=beta, init=init,
                             hurst=hurst, lengthscale=lengthscale, depths=depths, seeds=seeds, seed=seed,
                             batch_size=batch_size, optimizer=optimizer, momentum=momentum, base_depth=base_depth,
                             rules=rules, data=data, dtype=dtype)
    params |= {"lr0s": lr0s, "epochs": _checks.positive_int("epochs", epochs),
               "layers": _checks.choice("layers", layers, LAYERS),
               "metric": _checks.choice("metric", metric, METRICS)}
    engine = require(params, len(_members(params, params["depths"][-1])), params["epochs"],  # >= 1 step an epoch
                     f"epochs={params['epochs']}")
    return Study("transfer", params, [{"depth": L} for L in params["depths"]], compute_point, engine,
                 threaded=True)  # batched training on torch's GEMMs: the last digits follow the thread count


def training_params(*, block, activation, width, hidden, beta, init, hurst, lengthscale, depths, seeds, seed,
                    batch_size, optimizer, momentum, base_depth, rules, data, dtype) -> dict:
    """The checked settings the studies of training across depth share (this one, :mod:`.coord_check`), as
    :func:`study` documents them: a ValueError naming the first bad one."""
    if isinstance(block, CustomBlock) and activation is not None:
        raise ValueError(f"activation must be None for a user block ({block.name}: its g holds its own); got "
                         f"{activation!r}")
    blk = None if isinstance(block, CustomBlock) else get_block(block, activation)
    if activation is not None and not isinstance(activation, str):
        raise TypeError("activation must be a name for a study (it is stored in the manifest)")
    depths = sorted(dict.fromkeys(_checks.positive_int("depths", L) for L in depths))
    if len(depths) < 2:
        raise ValueError(f"depths must hold at least two depths (a slope against depth); got {depths}")
    rules = list(dict.fromkeys(_checks.choice("rules", r, RULES) for r in rules))
    if not rules:
        raise ValueError(f"rules must name at least one of {', '.join(RULES)}")
    optimizer = _checks.choice("optimizer", optimizer, OPTIMIZERS)
    momentum = _checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    if optimizer == "adam" and momentum:
        raise ValueError(f"momentum is SGD's; got momentum={momentum!r} with optimizer 'adam'")
    _checks.choice("init", init, tuple(PATHS))
    path = PathSpec(init, hurst=hurst, lengthscale=lengthscale)  # refuses an option the path does not take
    width = _checks.positive_int("width", width)
    shapes = check_shapes(block, width) if isinstance(block, CustomBlock) else None
    params = {"block": register(block) if isinstance(block, CustomBlock) else block,
              "activation": None if blk is None else blk.activation.name, "width": width,
              "beta": _checks.real("beta", beta, low=0.0), "init": init, **path.options(), "depths": depths,
              "seeds": _checks.positive_int("seeds", seeds), "seed": _checks.seed("seed", seed),
              "batch_size": _checks.positive_int("batch_size", batch_size), "optimizer": optimizer,
              "momentum": momentum,
              "base_depth": depths[0] if base_depth is None else _checks.positive_int("base_depth", base_depth),
              "rules": rules, "data": _checks.choice("data", data, DATA),
              "dtype": _checks.choice("dtype", dtype, DTYPES)}
    if shapes is not None:
        params["shapes"] = {name: list(shape) for name, shape in shapes.items()}
    _checks.seed("seed", params["seed"] + params["seeds"] - 1)
    if hidden is not None:
        if blk is None:
            raise ValueError(f"hidden must be None for a user block ({block.name}: its parameters' shapes are its "
                             f"own); got hidden={hidden!r}")
        params["hidden"] = _checks.hidden(hidden, params["width"], blk)
    return params


def require(params: dict, members: int, steps: int, argument: str) -> str:
    """Refuse a deepest point whose batched ensemble of ``members`` would not fit, or ``steps`` training steps at
    every depth that would take more than 10^7 steps of a layer (steps x sum(depths), naming ``argument``); return
    the engine's name."""
    _memory.require_steps(steps * sum(params["depths"]), f"the training loops (at least {steps} training steps at "
                          "every depth, a layer a step)", argument, f"use fewer {argument.split('=')[0]} or smaller "
                          "depths")
    depth, width = params["depths"][-1], params["width"]
    itemsize = 4 if params["dtype"] == "float32" else 8
    _memory.require(members * depth * (6 * _entries(params) + 4 * params["batch_size"] * width) * itemsize,
                    "the deepest point's batched ensemble (members x depth x (6 numbers per weight: the weights, "
                    "their gradients and the optimizer's state, with temporaries; and 4 states a sample))",
                    f"{members} members at depth {depth}", "use fewer lr0s, seeds or rules, or smaller depths")
    if "shapes" in params:  # a user block: the torch loop
        return "torch"
    blk = get_block(params["block"], params["activation"])
    return native.engine(params["block"], blk.activation,
                         torch.float32 if params["dtype"] == "float32" else torch.float64)


def _entries(params: dict) -> int:
    """The numbers of one layer's weights: a user block's parameters; d M for V and W each (d^2 without hidden)."""
    if "shapes" in params:
        return sum(math.prod(shape) for shape in params["shapes"].values())
    blk = get_block(params["block"], params["activation"])
    return (2 if blk.inner else 1) * params["width"] * params.get("hidden", params["width"])


def _members(params: dict, depth: int) -> list[tuple[str, float, float, int]]:
    """(rule, lr0, lr, seed) of every run at ``depth``."""
    seeds = range(params["seed"], params["seed"] + params["seeds"])
    return [(rule, lr0, member_lr(params, depth, rule, lr0), s) for rule in params["rules"] for lr0 in params["lr0s"]
            for s in seeds]


def member_lr(params: dict, depth: int, rule: str, lr0: float) -> float:
    """The blocks' learning rate at ``depth`` under ``rule`` for lr0 (:func:`reslimit.depth_rule.learning_rate`)."""
    return learning_rate(lr0, depth=depth, base_depth=params["base_depth"] if rule == "depth" else None,
                         beta=params["beta"], optimizer=params["optimizer"], rule=rule)


def network(params: dict, depth: int, seeds: list[int], input_dim: int,
            output_dim: int) -> ScaledResNet | CustomResNet:
    """One ScaledResNet whose member m is ``ScaledResNet(depth, ..., seed=seeds[m])`` on the study's path: the
    weights on :class:`reslimit.paths.Stacked` paths of the seeds, the input and output layers of each seed's own.
    For a user block (params["block"] :func:`reslimit.custom.registered`), the same with CustomResNet."""
    blk = registered(params["block"])
    if blk is not None:
        return _custom_network(params, blk, depth, seeds, input_dim, output_dim)
    if "shapes" in params:  # a user block's study, in a process where it was never registered
        raise ValueError(f"the user block {params['block']} is not registered in this process (a spawned or Dask "
                         "worker): run the study in-process or on a forked local pool (workers=N on Linux)")
    spec = NetSpec(params["block"], params["activation"], params["width"], hidden=params.get("hidden"),
                   dtype=params["dtype"])
    path = PathSpec(params["init"], hurst=params.get("hurst"), lengthscale=params.get("lengthscale"),
                    resolution=depth if params["init"] == "fbm" else None)
    kw = {"beta": params["beta"], "block": params["block"], "activation": params["activation"],
          "hidden": params.get("hidden"), "input_dim": input_dim, "output_dim": output_dim}
    paths, layers = {}, {}
    for s in dict.fromkeys(seeds):
        paths[s] = spec.paths(path, seed=s)
        layers[s] = ScaledResNet(depth, params["width"], outer=paths[s][0], inner=paths[s][1], seed=s, stream=True,
                                 **kw)  # its input and output layers (no weights drawn)
    outer = Stacked([paths[s][0] for s in seeds])
    inner = None if paths[seeds[0]][1] is None else Stacked([paths[s][1] for s in seeds])
    net = ScaledResNet(depth, params["width"], outer=outer, inner=inner, **kw)
    with torch.no_grad():
        net.A.copy_(torch.cat([layers[s].A for s in seeds]))
        net.B.copy_(torch.cat([layers[s].B for s in seeds]))
    return net


def _custom_network(params: dict, blk: CustomBlock, depth: int, seeds: list[int], input_dim: int,
                    output_dim: int) -> CustomResNet:
    """:func:`network` for a user block: its parameters on the :meth:`BlockPaths.stack` of each seed's
    ``BlockPaths.draw``, the input and output layers of each seed's own (read off a depth-1 network: they depend on
    the seed alone)."""
    path = PathSpec(params["init"], hurst=params.get("hurst"), lengthscale=params.get("lengthscale"),
                    resolution=depth if params["init"] == "fbm" else None)
    width, dtype = params["width"], getattr(torch, params["dtype"])
    paths = {s: BlockPaths.draw(blk, width, kind=path.kind, seed=s, dtype=dtype, **path.options())
             for s in dict.fromkeys(seeds)}
    kw = {"beta": params["beta"], "input_dim": input_dim, "output_dim": output_dim}
    layers = {s: CustomResNet(1, width, blk, paths=paths[s], seed=s, **kw) for s in paths}
    net = CustomResNet(depth, width, blk, paths=BlockPaths.stack([paths[s] for s in seeds]), **kw)
    with torch.no_grad():
        net.A.copy_(torch.cat([layers[s].A for s in seeds]))
        net.B.copy_(torch.cat([layers[s].B for s in seeds]))
    return net


def compute_point(params: dict, point: dict) -> list[dict]:
    """One depth: every (rule, lr0, seed) in batched ensembles of :func:`chunk` members, one row each
    (:data:`COLUMNS`)."""
    depth = point["depth"]
    members = _members(params, depth)
    runs = list(dict.fromkeys((lr, lr0, s) for _, lr0, lr, s in members))  # a run the rules share is trained once
    dtype = torch.float32 if params["dtype"] == "float32" else torch.float64
    data = {s: get_data(params["data"], seed=s, dtype=dtype) for s in dict.fromkeys(s for *_, s in runs)}
    first = next(iter(data.values()))
    size = chunk(params, depth)
    out = []
    for part in (runs[i: i + size] for i in range(0, len(runs), size)):
        net = network(params, depth, [s for *_, s in part], first.input_dim, first.output_dim)
        out += train_grid(net, [data[s] for *_, s in part], [lr for lr, _, _ in part], [s for *_, s in part],
                          layer_lrs=[lr0 if params["layers"] == "trained" else 0.0 for _, lr0, _ in part],
                          epochs=params["epochs"], batch_size=params["batch_size"], optimizer=params["optimizer"],
                          momentum=params["momentum"])
    got = dict(zip(runs, out))
    return [{"depth": depth, "rule": rule, "lr0": lr0, "lr": lr, "seed": s, **got[lr, lr0, s]}
            for rule, lr0, lr, s in members]


CHUNK_BYTES = 64 << 20  # a batched ensemble's working set: measured best on a 32 MiB last-level cache


def chunk(params: dict, depth: int) -> int:
    """How many runs train as one ensemble at ``depth``: as many as fit CHUNK_BYTES with, a member, its weights,
    their gradients and the optimizer's two moments (6 numbers a weight) and the states the adjoint keeps (2 a
    layer, input and unit). One big batch serves shallow networks, whose steps are all overhead; at depth the
    members' weights no longer fit the cache together and a step of the whole batch becomes memory-bound (Adam,
    L = 256, 85 runs of 5 epochs: 31.7 s as one ensemble, 26.3 s one at a time, 19.3 s in ensembles of 4 at 64 MiB;
    at L = 64: 5.1 s, 6.7 s in ensembles of 4, 5.3 s in ensembles of 16; benchmarks/README.md)."""
    itemsize = 4 if params["dtype"] == "float32" else 8
    per_member = depth * (6 * _entries(params) + 2 * params["batch_size"] * params["width"]) * itemsize
    return max(1, CHUNK_BYTES // per_member)


class TransferResult(list):
    """The rows of a transfer study (one per depth x rule x lr0 x seed) and what they show.

    Attributes:
        params: the study's params.
        loss: {rule: array (seeds, depths, lr0s)} of the metric, inf where the run diverged (or is not finite).
        best: {rule: [{"depth", "lr0", "loss", "edge"} per depth]}: the refined best lr0 (edge None, "low" or
            "high": a minimum on the grid's edge, not refined).
        slope: {rule: {"slope", "ci_low", "ci_high", "theory"}}: log2(best lr0) on log2(L).
        regret: {rule: [per depth: loss at the base depth's best lr0 of the grid - the best loss of the grid]}.
        gamma: the rule's exponent for the study's beta and optimizer.
    """

    def __init__(self, rows, params: dict, *, boot: int = 999):
        super().__init__(rows)
        self.params = params
        depths, lr0s = params["depths"], params["lr0s"]
        seeds = list(range(params["seed"], params["seed"] + params["seeds"]))
        self.gamma = exponent(params["beta"], params["optimizer"])
        self.loss: dict[str, np.ndarray] = {}
        for rule in params["rules"]:
            a = np.full((len(seeds), len(depths), len(lr0s)), np.inf)
            for r in rows:  # a sweep's rows come back with "True" / "False", a Result's with bools
                if r["rule"] == rule:
                    value = r[params["metric"]]
                    if r["diverged"] not in (True, "True") and value is not None and math.isfinite(value):
                        a[seeds.index(r["seed"]), depths.index(r["depth"]), lr0s.index(r["lr0"])] = value
            self.loss[rule] = a
        x = np.log2(lr0s)
        base = depths.index(params["base_depth"]) if params["base_depth"] in depths else None
        self.best, self.slope, self.regret = {}, {}, {}
        for rule, a in self.loss.items():
            curves = a.mean(0)
            self.best[rule] = [dict(depth=L, **best_lr0(x, c)) for L, c in zip(depths, curves)]
            self.slope[rule] = {**_slope_interval(a, x, depths, boot, params["seed"]),
                                "theory": 0.0 if rule == "depth" else self.gamma if params["layers"] == "frozen"
                                else None}
            if base is not None:
                i0 = int(np.argmin(curves[base]))
                self.regret[rule] = [float(c[i0] - c.min()) if np.isfinite(c.min()) else math.inf for c in curves]

    def edges(self) -> list[str]:
        """Where a best lr0 lies on the grid's edge: "rule none, L = 8: low"..."""
        return [f"rule {rule}, L = {b['depth']}: {b['edge']}" for rule, bs in self.best.items() for b in bs
                if b["edge"]]

    def summary(self) -> dict:
        """What the manifest records: the best lr0s, the slopes with their intervals, the regrets, the edges."""
        return {"gamma": self.gamma, "best_lr0": self.best, "slope": self.slope, "regret": self.regret,
                "edges": self.edges()}

    def plot(self, out=None):
        """Loss against lr0 per depth and rule, and the best lr0 against depth: see plots.transfer_figure."""
        from ..plots import transfer_figure

        return transfer_figure(self, out)


def best_lr0(x: np.ndarray, curve: np.ndarray) -> dict:
    """The minimum of ``curve`` over the grid ``x`` = log2 lr0, refined: {"lr0", "loss", "edge"}.

    Interior: the vertex of the parabola through the minimum and its two neighbours, kept between them. On the
    grid's first (last) point: that lr0, edge "low" ("high"). No finite loss: lr0 NaN, edge "none".
    """
    if not np.isfinite(curve).any():
        return {"lr0": math.nan, "loss": math.inf, "edge": "none"}
    i = int(np.argmin(curve))
    if i in (0, len(x) - 1):
        return {"lr0": float(2.0 ** x[i]), "loss": float(curve[i]), "edge": "low" if i == 0 else "high"}
    (x0, x1, x2), (y0, y1, y2) = x[i - 1: i + 2], curve[i - 1: i + 2]
    if not np.isfinite([y0, y2]).all():
        return {"lr0": float(2.0 ** x1), "loss": float(y1), "edge": None}
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    vertex = x1 if den == 0 else float(np.clip(x1 - 0.5 * num / den, x0, x2))
    return {"lr0": float(2.0**vertex), "loss": float(y1), "edge": None}


def _slope(x: np.ndarray, depths, curves: np.ndarray) -> float:
    """The least-squares slope of log2(best lr0) on log2(L), from the curves (depths, lr0s)."""
    best = np.log2([best_lr0(x, c)["lr0"] for c in curves])
    if not np.isfinite(best).all():
        return math.nan
    return float(np.polyfit(np.log2(depths), best, 1)[0])


def _slope_interval(loss: np.ndarray, x: np.ndarray, depths, boot: int, seed: int) -> dict:
    """The slope of the mean over seeds and its 95% percentile interval over resampled seeds."""
    return seed_interval(loss, lambda a: _slope(x, depths, a.mean(0)), boot, seed)


def seed_interval(values: np.ndarray, fit, boot: int, seed: int) -> dict:
    """{"slope": fit(values), "ci_low", "ci_high"}: the 95% percentile bootstrap interval of ``fit`` over the
    seeds, the rows of ``values`` resampled with replacement (:func:`scipy.stats.bootstrap`, ``boot`` resamples,
    its generator seeded by ``seed``); NaN bounds with one seed or a fit that is not finite."""
    from scipy.stats import bootstrap

    slope = fit(values)
    if values.shape[0] < 2 or not math.isfinite(slope):
        return {"slope": slope, "ci_low": math.nan, "ci_high": math.nan}
    with np.errstate(invalid="ignore"):
        res = bootstrap((np.arange(values.shape[0]),), lambda idx: fit(values[idx.astype(int)]), vectorized=False,
                        n_resamples=boot, method="percentile", rng=np.random.default_rng(seed))
    return {"slope": slope, "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high)}


def transfer(out, *, workers=None, scheduler=None, progress=True, figures=True, **options) -> TransferResult:
    """Run (or resume) the transfer study in ``out`` (locked throughout): results.csv (:data:`COLUMNS` and the
    sweep's point), manifest.json (:meth:`TransferResult.summary`) and transfer.png.

    ``options`` are those of :func:`study` (``net=``, ``path=`` specs too).
    """
    return summarised(study(**options), TransferResult, out, workers=workers, scheduler=scheduler,
                      progress=progress, figures=figures)


def summarised(st: Study, result, out, *, workers, scheduler, progress, figures):
    """Run (or resume) the sweep ``st`` in ``out``, locked throughout; ``result(rows, params)`` of its rows, its
    ``summary()`` added to the manifest (as JSON: inf and NaN as None) and its ``plot(out)`` unless not
    ``figures``."""
    check_executor(workers, scheduler)  # before the folder is made
    with claimed(out, KINDS[st.name], st.params), finishing(st, out):
        done = result(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress), st.params)
        store.update_manifest(out, **as_json(done.summary()))
        if figures:
            done.plot(out)
    return done


def as_json(value):
    """A summary as JSON: inf and NaN as None."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
