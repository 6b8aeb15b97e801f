"""Scaling regimes at initialisation: how ||h_L - h_0|| / ||h_0|| and ||p_0 - p_L|| / ||p_L|| grow with L.

For alpha_L = L^-beta and weights of a given kind, the network at initialisation tends to the identity
(both ratios -> 0), explodes (-> inf) or stays non-degenerate, according to beta against a critical value
(Marion, Fermanian, Biau, Vert 2022, Sections 3-4): 1/2 for i.i.d. (and Brownian-increment) weights,
1 for smooth weights, H for fBm increments at first order. One weight draw serves every beta: the betas
are stacked along the batch, each input row with its own alpha_L (``ScaledResNet.adjoint(alpha=...)``).

The backward states come from the loss 1/2 sum (B h_L - y)^2 of a linear read-out B (entries N(0, 1/d))
against a random target y ~ N(0, 1): p_L = B^T (B h_L - y).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _checks, _memory, native, store
from .._rng import normal, substream
from ..blocks import get_block
from ..paths import PATHS, make_path, path_options
from ..paths.iid import DISTS
from ..resnet import ScaledResNet, diverged
from ..specs import takes_specs
from .protocol import LEDGER, Kind, claimed, figures
from .sweep import Study, check_executor, finishing, run_study

KIND = Kind("scaling", "`reslimit scaling --out DIR` (reslimit.studies.scaling.scaling)",
            plot=lambda rows, params: ScalingResult(rows, params).plot()[0],
            files=(*figures("scaling", "histograms"), LEDGER))
INITS = tuple(PATHS)  # "iid", "brownian", "smooth", "fbm"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# The depths of ``reslimit scaling`` by default, 10:1000:10 (np.linspace(10, 1000, 10, dtype=int)).
DEPTHS = (10, 120, 230, 340, 450, 560, 670, 780, 890, 1000)
HURST = 0.5  # the Hurst index of fBm weights when none is given


def ratios(net: ScaledResNet, betas, samples: int, seed: int) -> dict:
    """Hidden and gradient ratios of ``net`` for every beta at once, on ``samples`` inputs per draw.

    Inputs h_0 ~ N(0, I_d), read-out B and target y are keyed by the sub-streams "inputs", "readout" and
    "targets" of ``seed`` (reslimit._rng.STREAMS), the same for every beta and depth. Returns arrays of shape
    (len(betas), E, samples): "hidden" ||h_L - h_0|| / ||h_0||, "grad" ||p_0 - p_L|| / ||p_L|| and "diverged"
    (a non-finite h_L or p_0).
    """
    E, d, nb, dtype, device = net.ensemble, net.width, len(betas), net.dtype, net.device
    h0 = normal((E, samples, d), seed, "inputs", dtype, device)
    B = normal((E, 1, d), seed, "readout", dtype, device) / math.sqrt(d)
    y = normal((E, samples, 1), seed, "targets", dtype, device)
    rows_h0 = h0.repeat(1, nb, 1)  # row b * samples + i: input i under beta b
    alpha = torch.tensor([float(net.depth) ** -b for b in betas], dtype=dtype,
                         device=device).repeat_interleave(samples)
    out = {}

    def grad_output(hL):
        out["hL"] = hL.clone()
        residual = torch.bmm(hL, B.mT) - y.repeat(1, nb, 1)  # B h_L - y, (E, nb * samples, 1)
        return torch.nan_to_num(residual * B, nan=0.0, posinf=0.0, neginf=0.0)

    with torch.no_grad():
        p = net.adjoint(rows_h0, grad_output, every=net.depth, alpha=alpha)
    p0, pL, hL = p[0], p[-1], out["hL"]
    hidden = (hL - rows_h0).norm(dim=-1) / rows_h0.norm(dim=-1)
    grad = (p0 - pL).norm(dim=-1) / pL.norm(dim=-1)
    bad = diverged(hL) | diverged(p0)

    def split(x):  # (E, nb * samples) -> (nb, E, samples)
        return x.reshape(E, nb, samples).permute(1, 0, 2).cpu().numpy()

    return {"hidden": split(hidden), "grad": split(grad), "diverged": split(bad)}


def paths(params: dict, hurst: float | None = None, resolution: int | None = None):
    """(outer, inner or None): the study's paths, keyed by the study seed alone (the same at every point): seeds
    ``substream(seed, "outer")`` and ``substream(seed, "inner")``, as for ScaledResNet(seed=seed)."""
    dtype = DTYPES[params["dtype"]]

    def path(stream):
        options = path_options(params["init"], dist=params["dist"], lengthscale=params["lengthscale"],
                               hurst=params["hurst"] if hurst is None else hurst, resolution=resolution)
        return make_path(params["init"], params["width"], params["ensemble"], seed=substream(params["seed"], stream),
                         dtype=dtype, device=params.get("device", "cpu"), **options)

    return path("outer"), path("inner") if get_block(params["block"], params["activation"]).inner else None


def network(params: dict, depth: int, outer, inner) -> ScaledResNet:
    """The study's network at ``depth`` on the given paths; weights streamed past 1 GiB."""
    weights = depth * params["ensemble"] * params["width"] ** 2 * DTYPES[params["dtype"]].itemsize
    return ScaledResNet(depth, params["width"], beta=0.0, block=params["block"], activation=params["activation"],
                        outer=outer, inner=inner, stream=weights * (1 if inner is None else 2) > 2**30)


def rows(params: dict, point: dict, result: dict, betas) -> list[dict]:
    """Tidy rows, one per beta x draw x input, from :func:`ratios`' arrays, with the study's parameters."""
    fixed = {k: params[k] for k in ("init", "block", "activation", "width", "seed", "dtype")}
    if params["init"] == "fbm" and "hurst" not in point:
        fixed["hurst"] = params["hurst"]
    out = []
    for b, beta in enumerate(betas):
        for e in range(params["ensemble"]):
            for i in range(params["samples"]):
                bad = bool(result["diverged"][b, e, i])
                out.append({**point, "beta": beta, "draw": e, "input": i, **fixed,
                            "hidden_ratio": float(result["hidden"][b, e, i]),
                            "grad_ratio": float(result["grad"][b, e, i]),
                            "status": "diverged" if bad else "ok"})
    return out


def compute_point(params: dict, point: dict) -> list[dict]:
    """One depth of the scaling study: every beta, draw and input (a sweep's unit of work)."""
    net = network(params, point["depth"], *paths(params, resolution=point["depth"]))
    return rows(params, point, ratios(net, params["betas"], params["samples"], params["seed"]), params["betas"])


def critical(params: dict) -> float | None:
    """The theory's critical beta: the block's ``critical_beta`` of the path's first-order beta (1/2 i.i.d. and
    Brownian, 1 smooth, H fBm; for fBm with ReLU inner blocks max(H, 1/2)); None where none is claimed."""
    block = get_block(params["block"], params["activation"])
    return block.critical_beta(theory_params(params)["first_order"])


def theory_params(params: dict) -> dict:
    """``params`` with what theory.growth reads of the study's path: "exact" (its ``exact_second_moment``) and
    "first_order" (its natural beta, the critical beta of the first-order term: H for fBm)."""
    path = PATHS[params["init"]]
    first = params["hurst"] if params["init"] == "fbm" else path.natural_beta
    return params | {"exact": path.exact_second_moment, "first_order": first}


def medians(rows: list[dict], params: dict, ratio: str = "hidden_ratio") -> np.ndarray:
    """Median ratio over draws and inputs, shape (hursts, depths, betas); diverged samples count as +inf.

    For a scaling study (no "hursts" in params) the first axis has length 1 and a "hurst" column (the
    fixed H of fBm weights) is not an axis. Every cell of the grid must have rows (KeyError naming it otherwise).
    """
    axes = [params.get("hursts", [None]), params["depths"], params["betas"]]
    where = [{v: i for i, v in enumerate(axis)} for axis in axes]
    try:  # each row's cell of the grid, flattened
        cell = np.array([(where[0][r["hurst"]] if "hursts" in params else 0) * len(axes[1]) * len(axes[2])
                         + where[1][r["depth"]] * len(axes[2]) + where[2][r["beta"]] for r in rows], dtype=np.int64)
    except KeyError as error:
        raise KeyError(f"a row's (hurst, depth, beta) is not on the study's grid: {error}") from None
    values = np.array([r[ratio] if r["status"] == "ok" else math.inf for r in rows], dtype=np.float64)
    shape = tuple(map(len, axes))
    counts = np.bincount(cell, minlength=math.prod(shape))
    if not counts.all():
        empty = np.unravel_index(int(np.argmin(counts)), shape)
        raise KeyError(f"no rows at (hurst, depth, beta) = {tuple(axis[i] for axis, i in zip(axes, empty))}")
    order = np.argsort(cell, kind="stable")
    if (counts == counts[0]).all():  # every cell has as many rows (a finished study): one vectorised median
        return np.median(values[order].reshape(-1, counts[0]), axis=1).reshape(shape)
    groups = np.split(values[order], np.cumsum(counts)[:-1])
    return np.array([np.median(g) for g in groups]).reshape(shape)


def slopes(median: np.ndarray, depths) -> np.ndarray:
    """s(H, beta): least-squares slope of log median against log L, shape (hursts, betas); +-inf past overflow."""
    y = np.log(median)  # (hursts, depths, betas)
    x = np.log(depths) - np.mean(np.log(depths))
    with np.errstate(invalid="ignore"):
        s = np.einsum("d,hdb->hb", x, y) / np.sum(x**2)
    over = ~np.isfinite(y).all(axis=1)
    s[over] = np.where(np.isposinf(y).any(axis=1), math.inf, -math.inf)[over]
    return s


def critical_betas(rows: list[dict], params: dict, ratio: str = "hidden_ratio") -> dict[float, float | None]:
    """For each H, the beta where d log median(ratio) / d log L changes sign from + to - (interpolated).

    None where the slope has no such sign change on the grid of betas (all explode or all vanish), or
    with a single depth. A scaling study (no "hursts" in params) gives {None: beta}.
    """
    if len(params["depths"]) < 2:
        return dict.fromkeys(params.get("hursts", [None]))
    s = slopes(medians(rows, params, ratio), params["depths"])
    return {h: _sign_change(params["betas"], s[i]) for i, h in enumerate(params.get("hursts", [None]))}


def _sign_change(betas, slopes) -> float | None:
    for i in range(len(betas) - 1):
        s0, s1 = slopes[i], slopes[i + 1]
        if s0 > 0 and s1 <= 0:
            if math.isinf(s0) or math.isinf(s1):
                return float(betas[i + 1] if math.isinf(s0) else betas[i])
            return float(betas[i] + s0 / (s0 - s1) * (betas[i + 1] - betas[i]))
    return None


@takes_specs
def study(init="iid", block="res3", activation="relu", betas=(0.25, 0.5, 1.0), depths=DEPTHS, width=40,
          ensemble=50, samples=1, seed=0, hurst=None, lengthscale=0.1, dtype="float32", dist="gaussian",
          device="cpu") -> Study:
    """The scaling study as a sweep: one point per depth, every beta computed on the same draw.

    ``dist`` is the law of the entries of i.i.d. weights (init "iid"): "gaussian", "uniform" on [-sqrt 3, sqrt 3]
    (the published experiments' weights) or "rademacher", each of variance 1; other inits take only the default.
    It is kept in the params (None for other inits, as ``hurst`` is for inits other than fbm).
    Its engine (kept in the manifest) is native.engine's for the block, activation and dtype on the CPU, the
    torch loop on another ``device`` ("cuda"...); weights streamed past 1 GiB take the torch loop either way, at
    the same depths on every machine.
    """
    init = _checks.choice("init", init, INITS)
    if init == "iid":
        dist = _checks.choice("dist", dist, DISTS)
    elif dist != "gaussian":
        raise ValueError(f"dist is for init 'iid' (i.i.d. weights) only; got dist={dist!r} with init {init!r}")
    else:
        dist = None
    get_block(block, activation)  # validates block and activation
    if not isinstance(activation, str):
        raise TypeError("activation must be a name for a study (it is stored in the manifest)")
    betas = [_checks.real("betas", b, low=0.0) for b in betas]
    depths = [_checks.positive_int("depths", L) for L in depths]
    if not betas or not depths:
        raise ValueError(f"betas and depths must be non-empty; got betas={betas}, depths={depths}")
    if init == "fbm":
        hurst = _checks.real("hurst", HURST if hurst is None else hurst, low=0.0, high=1.0, low_open=True,
                             high_open=True)
    elif hurst is not None:
        raise ValueError(f"hurst is for init 'fbm' only; got hurst={hurst!r} with init {init!r}")
    params = {"init": init, "block": block, "activation": activation, "betas": betas, "depths": depths,
              "width": _checks.positive_int("width", width), "ensemble": _checks.positive_int("ensemble", ensemble),
              "samples": _checks.positive_int("samples", samples), "seed": _checks.seed("seed", seed),
              "hurst": hurst, "lengthscale": _checks.lengthscale(lengthscale),
              "dtype": _checks.choice("dtype", dtype, tuple(DTYPES)), "dist": dist,
              "device": str(_checks.device("device", device))}
    state = params["ensemble"] * len(betas) * params["samples"] * params["width"] * DTYPES[params["dtype"]].itemsize
    _memory.require(state * (max(depths) + 7), "one point's states, the adjoint keeping every layer's (ensemble x "
                    "betas x samples x width x (depth + 7) x itemsize)",
                    f"samples={params['samples']} with ensemble={params['ensemble']}, {len(betas)} betas, width "
                    f"{params['width']} and depth {max(depths)}", "use fewer samples, betas, draws or depths",
                    params["device"])
    _memory.require_steps(max(depths), "the loop over depth (a layer a step)", f"depth={max(depths)}",
                          "use a smaller depth")  # the network's own check, before the folder
    engine = native.engine(block, activation, DTYPES[params["dtype"]]) if params["device"] == "cpu" else "torch"
    return Study("scaling", params, [{"depth": L} for L in depths], compute_point, engine)


class ScalingResult(list):
    """The rows of a scaling study, a list of dicts (one per beta x depth x draw x input), and what they show.

    Attributes:
        params: the study's params (as in its manifest).
        critical_beta, critical_beta_grad: the beta where the median hidden (gradient) ratio stops depending
            on L (:func:`critical_betas`), None where the grid shows no sign change.
        critical_beta_theory: the theory's (:func:`critical`).
    """

    def __init__(self, rows, params: dict):
        super().__init__(rows)
        self.params = params
        self.critical_beta = critical_betas(self, params)[None]
        self.critical_beta_grad = critical_betas(self, params, "grad_ratio")[None]
        self.critical_beta_theory = critical(params)

    def medians(self, ratio: str = "hidden_ratio") -> np.ndarray:
        """The median ``ratio`` over draws and inputs, shape (depths, betas); +inf where over half diverged."""
        return medians(self, self.params, ratio)[0]

    def plot(self, out=None):
        """(scaling, histograms): :func:`reslimit.plots.scaling_figures`, saved in ``out`` when given."""
        from ..plots import scaling_figures

        return scaling_figures(self, theory_params(self.params), out)


def scaling(out, *, workers=None, scheduler=None, progress=True, figures=True, **options) -> ScalingResult:
    """Run (or resume) the scaling study in ``out``: results.csv, manifest.json and the figures.

    ``options`` are those of :func:`study`. ``out`` is locked throughout (see run_study). Returns the rows as
    a :class:`ScalingResult` (a list, with the params, the critical betas and ``.plot()``).
    """
    st = study(**options)
    check_executor(workers, scheduler)  # before the folder is made
    with claimed(out, KIND, st.params), finishing(st, out):
        result = ScalingResult(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress),
                               st.params)
        store.update_manifest(out, critical_beta=result.critical_beta, critical_beta_grad=result.critical_beta_grad,
                             critical_beta_theory=result.critical_beta_theory)
        if figures:
            result.plot(out)
    return result

