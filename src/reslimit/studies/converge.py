"""The converge study: depth-L networks beside their continuous limit on the same path, over depths.

For each sample m (an independent draw of the weight path, one input h_0 of unit norm) and depth L:

    path error      e_L = max_k ||H_{k/L} - h_k||       terminal error   ||H_1 - h_L||
    gradient error  ||P_0 - p_0||   with p the network's adjoint and P that of the limit, both for the
                    loss 1/2 ||h_L - y||^2 (resp. 1/2 ||H_1 - y||^2) and a fixed target y,

then the rate: the least-squares slope of log(mean over samples of e_L) against log L, with a percentile
bootstrap interval over samples, beside the theory (ode -1, sde -1/2, fbm 1 - 2H).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _checks, store
from .._rng import STREAMS, mix, normal, substream
from .._types import Device, DType, Folder
from ..blocks import get_block
from ..compare import check_depths, check_size, measure, reference_grid
from ..limits import Limit, get_limit
from ..paths import Smooth
from ..rates import FLOAT_FLOOR, Rate, fit_rate
from ..specs import takes_specs
from .protocol import LEDGER, Kind, claimed, figures
from .sweep import Study, check_executor, finishing, run_study

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HURST = 0.8  # the Hurst index of limit fbm when none is given
KIND = Kind("converge", "`reslimit converge --out DIR` (reslimit.converge(..., out=DIR))",
            plot=lambda rows, params: Convergence.from_rows(params, rows).plot(),
            files=(*figures("convergence"), LEDGER))


@dataclass
class Convergence:
    """Errors of the networks against their limit over depths, and the fitted rates.

    Attributes:
        params: the study's parameters (see :func:`converge`).
        depths: (K,) depths.
        path_error, terminal_error, grad_error: (K, M) per depth and sample.
        rate, grad_rate: fitted on path_error and grad_error.
        theory: the theoretical slope; tolerance: |rate.slope - theory| allowed; passed: the verdict.
    """

    params: dict
    depths: np.ndarray
    path_error: np.ndarray
    terminal_error: np.ndarray
    grad_error: np.ndarray
    rate: Rate = field(init=False)
    grad_rate: Rate = field(init=False)
    theory: float = field(init=False)
    tolerance: float = field(init=False)
    passed: bool = field(init=False)

    def __post_init__(self):
        seed, floor = substream(self.params["seed"], "bootstrap"), FLOAT_FLOOR[self.params["dtype"]]
        self.rate = fit_rate(self.depths, self.path_error, seed=seed, floor=floor)
        self.grad_rate = fit_rate(self.depths, self.grad_error, seed=seed, floor=floor)
        limit = get_limit(self.params["limit"])
        self.theory = limit.rate(self.params.get("hurst"))
        self.tolerance = limit.tolerance
        self.passed = bool(abs(self.rate.slope - self.theory) <= self.tolerance)

    def rows(self) -> list[dict]:
        """Tidy rows: one per depth x sample."""
        return [
            {"depth": int(L), "sample": m, "path_error": float(self.path_error[i, m]),
             "terminal_error": float(self.terminal_error[i, m]), "grad_error": float(self.grad_error[i, m])}
            for i, L in enumerate(self.depths) for m in range(self.path_error.shape[1])
        ]

    def save(self, out: Folder) -> None:
        """Write out/results.csv (one row per depth x sample), out/manifest.json and out/convergence.png.

        Raises ValueError, before writing anything, if :func:`reslimit.studies.protocol.claimed` refuses ``out``
        (empty, another command's, other parameters, a user's files, being written by another process).
        """
        with claimed(out, KIND, self.params) as out:  # reentrant: converge(out=...) holds it already
            store.write_rows(out / "results.csv", self.rows())
            self.plot(out / "convergence.png")
            store.write_manifest(out, self.params, study=KIND, **self.summary())

    def plot(self, path: Folder | None = None) -> Figure:
        """Path and gradient errors against L beside the theory's slope: :func:`reslimit.plots.convergence_figure`
        (a matplotlib Figure), saved as ``path`` (PNG, and PDF beside it) when given."""
        from .. import plots

        return plots.convergence_figure(self, path)

    def summary(self) -> dict:
        """The verdict and rates, as written to manifest.json, and the reference's grid G (the lcm of the depths)
        and solver steps N (:func:`reslimit.compare.reference_grid`)."""
        grid, steps = reference_grid(self.params["depths"], self.params["reference_factor"])
        return {"slope": self.rate.slope, "ci_low": self.rate.ci_low, "ci_high": self.rate.ci_high,
                "theory": self.theory, "tolerance": self.tolerance, "passed": self.passed,
                "grad_rate": asdict(self.grad_rate), "reference": {"grid": grid, "steps": steps}}

    @classmethod
    def load(cls, out) -> Convergence:
        """The Convergence saved in ``out`` (by :meth:`save`, ``converge(out=...)`` or ``reslimit converge``).

        Returns:
            A Convergence with the manifest's params and the (K, M) errors of results.csv; its rates and verdict
            are fitted again (the bootstrap is seeded: they equal the saved ones).

        Raises:
            ValueError: naming the folder if it does not exist, lacks manifest.json or results.csv, holds an
                unreadable one or another kind of study (see :func:`reslimit.load`).
        """
        from ..results import load

        result = load(out)
        if result.kind is not KIND:
            raise ValueError(f"{str(out)!r} holds a {result.study} study, not a converge one (written by "
                             f"{KIND.writer}); read it with reslimit.load")
        table = repr(str(Path(out) / "results.csv"))
        return cls.from_rows(result.params, result.rows(), where=table)

    @classmethod
    def from_rows(cls, params: dict, rows, where: str = "rows") -> Convergence:
        """The Convergence of ``params`` from its tidy rows (:meth:`rows`: one per depth x sample, in any order).

        Raises:
            ValueError: naming ``where`` if a column lacks or the rows are not one per depth and sample.
        """
        depths, samples = params["depths"], params["samples"]
        names = ("path_error", "terminal_error", "grad_error")
        lacking = [n for n in ("depth", "sample", *names) if rows and n not in rows[0]]
        if lacking:
            raise ValueError(f"{where} has no column {', '.join(lacking)}; rerun {KIND.writer} into a new folder")
        cells = {(int(row["depth"]), int(row["sample"])): row for row in rows}
        expected = [(L, m) for L in depths for m in range(samples)]
        if len(rows) != len(expected) or set(cells) != set(expected):
            raise ValueError(f"{where} does not hold one row per depth in {depths} and sample 0..{samples - 1} "
                             f"({len(rows)} rows for {len(expected)}); rerun {KIND.writer} into a new folder")
        errors = (np.array([float(cells[key][n]) for key in expected]).reshape(len(depths), samples) for n in names)
        return cls(params, np.array(depths), *errors)


def _paths(limit: Limit, params: dict, inner_needed: bool, resolution: int):
    """The outer path of the limit and, for res2/res3, a smooth inner path: seeds of the sub-streams "outer" and
    "inner" of the study seed (reslimit._rng.STREAMS), as for ScaledResNet(seed=...)."""
    seed, width, samples = params["seed"], params["width"], params["samples"]
    dtype = _checks.dtype(params["dtype"])
    options = {"lengthscale": params["lengthscale"], "hurst": params["hurst"], "resolution": resolution}
    device = params.get("device", "cpu")
    outer = limit.make_path(width, samples, seed=substream(seed, "outer"), dtype=dtype, device=device, **options)
    inner = Smooth(width, samples, lengthscale=params["lengthscale"], seed=substream(seed, "inner"), dtype=dtype,
                   device=device) if inner_needed else None
    return outer, inner


@takes_specs(kind="limit", limit=True)
def converge(limit: str = "sde", *, block: str = "res1", activation: str | None = None, width: int = 16,
             depths: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024), samples: int = 64, seed: int = 0,
             hurst: float | None = None, lengthscale: float = 0.1, reference_factor: int | None = None,
             chunk: int | None = None, out: Folder | None = None, workers: int | None = None,
             scheduler: str | None = None, progress: bool = False, dtype: DType = "float64",
             device: Device = "cpu") -> Convergence:
    """Errors of depth-L networks against their limit, over ``depths``, on one path per sample.

    The samples are computed in points of ``chunk`` samples each (a sweep of :mod:`reslimit.studies.sweep`):
    with ``out`` each finished point is kept on disk at once, so a killed run resumes where it stopped, and
    ``workers`` or ``scheduler`` compute the points in parallel, with the same numbers.

    Args:
        limit: "ode" (Smooth weights, beta = 1), "sde" (Brownian, beta = 1/2) or "fbm" (fractional
            Brownian with hurst > 1/2, beta = hurst): a key of :data:`reslimit.limits.LIMITS`.
        block, activation: the residual block; res2/res3 read W from a smooth inner path. activation None:
            relu for res3 (its only one), tanh otherwise.
        width: d.  depths: >= 3 distinct depths, any: the reference is read on the grid of their least common
            multiple G (the largest depth when each divides it), see ``reference_factor``.
        samples: independent path draws M.
        seed: every number derives from it, in [0, 2^63 - 1], through the sub-streams of reslimit._rng.STREAMS
            (the outer path's seed is ``substream(seed, "outer")``, as for ``ScaledResNet(seed=seed)``).
        hurst: fbm only, in (1/2, 1); None: 0.8 (``HURST``).  lengthscale: of the smooth paths, > 0.
        reference_factor: an integer >= 2: the reference solves on a grid at least ``reference_factor`` times
            finer than the largest depth, in N steps, the least multiple of G at least largest x factor
            (:func:`reslimit.compare.reference_grid`; N = largest x factor when each depth divides the largest,
            and the manifest's ``reference`` says G and N); None for the limit's default
            (LIMITS[limit].reference_factor: ode 2 with rk4, sde 64 with Euler-Maruyama, fbm 8 with Heun).
        chunk: samples per point, 1..samples (default: all, one point). Point c draws its paths, inputs and
            targets from the seed ``chunk_seed(seed, c)`` (``seed`` itself for c = 0), so the numbers depend on
            ``chunk`` but not on ``workers`` or ``scheduler``.
        out: a directory to keep the study in (results.csv with a ``point`` column, manifest.json with the
            fitted rates, convergence.png; see :func:`reslimit.load`); refused before any computing if it holds
            a study with other parameters or is being written by another process. Rerun to resume.
        workers: compute the points on a local pool of this many processes; scheduler: on the Dask cluster at
            "tcp://HOST:PORT". Neither: in this process.
        progress: show a progress bar over points.
        dtype: of the paths, the inputs, the networks and the reference: "float64" (default) or "float32" (or
            the torch dtypes); float32 errors at or below 1e-5 count as rounding (``FLOAT_FLOOR``).
        device: where the paths, the networks and the reference live ("cpu", "cuda", ...); the errors come
            back to the CPU.

    Returns:
        A :class:`Convergence` with the errors (K, M), the fitted rates and the verdict.
    """
    limit = get_limit(limit)
    depths = check_depths(depths)
    samples = _checks.positive_int("samples", samples)
    width = _checks.positive_int("width", width)
    seed = _checks.seed("seed", seed)
    if "hurst" in limit.options:
        hurst = limit.beta(HURST if hurst is None else hurst)
    elif hurst is not None:
        raise ValueError(f"hurst is for limit 'fbm' only; got hurst={hurst!r} with limit {limit.name!r}")
    lengthscale = _checks.lengthscale(lengthscale)
    dtype = _checks.dtype(dtype)
    device = _checks.device("device", device)
    chunk = samples if chunk is None else _checks.positive_int("chunk", chunk)
    if chunk > samples:
        raise ValueError(f"chunk must be at most samples={samples} (samples per point); got {chunk}")
    factor = limit.reference_factor if reference_factor is None else reference_factor
    factor = _checks.positive_int("reference_factor", factor, minimum=2)  # 1: the reference is the depth-top net
    blk = get_block(block, activation)
    check_size(limit, depths, factor, chunk, width, dtype, blk.inner, device,
                "samples" if chunk == samples else "chunk")
    check_executor(workers, scheduler)
    params = {"limit": limit.name, "block": block, "activation": blk.activation.name, "width": width,
              "depths": depths, "samples": samples, "seed": seed, "hurst": hurst, "lengthscale": lengthscale,
              "reference_factor": factor, "dtype": str(dtype).replace("torch.", ""), "chunk": chunk,
              "device": str(device)}
    points = [{"chunk": c, "first": first, "count": min(chunk, samples - first)}
              for c, first in enumerate(range(0, samples, chunk))]
    study = Study("converge", params, points, compute_point)
    if out is None and workers is None and scheduler is None:
        points = tqdm(points, desc=f"{limit.name} samples", unit="point", disable=not progress)
        return Convergence.from_rows(params, [row for point in points for row in compute_point(params, point)])
    with tempfile.TemporaryDirectory() if out is None else nullcontext(out) as where, \
            claimed(where, KIND, params) as folder, finishing(study, where):
        conv = Convergence.from_rows(params, run_study(study, folder, workers=workers, scheduler=scheduler,
                                                       progress=progress))
        if out is not None:
            conv.plot(folder / "convergence.png")
            store.update_manifest(folder, **conv.summary())
    return conv


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of the samples of point ``chunk`` of a converge study of ``seed``: seed itself for chunk 0, else
    a sub-stream mixed from both (so chunks are independent draws)."""
    return seed if chunk == 0 else mix(seed, STREAMS["chunks"], chunk) % 2**62


def compute_point(params: dict, point: dict) -> list[dict]:
    """One point of a converge study: its ``count`` samples' errors at every depth, as tidy rows."""
    blk = get_block(params["block"], params["activation"])
    errors = _measure(params | {"seed": chunk_seed(params["seed"], point["chunk"]), "samples": point["count"]}, blk)
    return [{"depth": int(L), "sample": point["first"] + m, "path_error": float(errors[0][i, m]),
             "terminal_error": float(errors[1][i, m]), "grad_error": float(errors[2][i, m])}
            for i, L in enumerate(params["depths"]) for m in range(point["count"])]


def _measure(params: dict, blk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(path, terminal, gradient) errors, each (K, M): the paths and inputs of ``params``, then
    :func:`reslimit.compare.measure`."""
    limit, width, depths, samples, seed = (params[k] for k in ("limit", "width", "depths", "samples", "seed"))
    limit, factor, dtype = get_limit(limit), params["reference_factor"], _checks.dtype(params["dtype"])
    device = torch.device(params["device"])
    outer, inner = _paths(limit, params, blk.inner, reference_grid(depths, factor)[1])  # fbm: resolution N
    h0 = normal((samples, 1, width), seed, "inputs", dtype, device)
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    target = normal((samples, 1, width), seed, "targets", dtype, device)
    return measure(limit, blk, outer, inner, h0, target, depths, factor)
