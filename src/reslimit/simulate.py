"""One scaled ResNet at initialisation on standard normal inputs: what ``reslimit simulate`` runs.

    h_0 ~ N(0, I_d),   h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}),   alpha_L = L^-beta,
    r = ||h_L - h_0|| / ||h_0||

and, where the weights are i.i.d. (the path's ``exact_second_moment``) and the block has a constant
c = E||g(h)||^2 / ||h||^2 (its ``second_moment()``), the exact E r^2 = (1 + c alpha_L^2)^L - 1
beside the measurement (Marion, Fermanian, Biau, Vert 2022, proof of Lemma 1).

Every number derives from one seed through the sub-streams of ``reslimit._rng.STREAMS``, as in
``ScaledResNet(seed=...)``: V from the path seeded ``substream(seed, "outer")``, W from ``substream(seed,
"inner")``, the inputs h_0 from the stream "inputs". So ``simulate(seed=s, init="iid")`` runs the very network
``ScaledResNet(depth, width, seed=s, ...)`` builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _checks, _memory, demo, store, theory
from ._rng import normal, substream
from ._types import ActivationSpec, Device, DType, Folder
from .blocks import get_block
from .paths import make_path
from .resnet import ScaledResNet
from .specs import takes_specs


@dataclass(frozen=True, eq=False)
class Simulation:
    """One run of :func:`simulate`.

    Attributes:
        net: the network (its ``V``, ``W``, ``alpha``, ``block``...).
        init: the name of the weight path (a key of ``reslimit.PATHS``).
        h0, hL: the inputs and the outputs, shape (ensemble, samples, width).
        states: every state h_0, ..., h_L, shape (depth + 1, ensemble, samples, width), when asked for; else None.
        statistics: r = ||h_L - h_0|| / ||h_0|| summarised by :func:`reslimit.demo.sample_statistics`.
        c: the constant of the exact identity where it holds (i.i.d. weights, a block whose
            ``second_moment()`` is not None); else None.
        theory: (1 + c alpha_L^2)^L - 1 where ``c`` is known; else None.
        params: the arguments of the run, the seeds of its paths, alpha and the versions (JSON-able).
    """

    net: ScaledResNet
    init: str
    h0: torch.Tensor
    hL: torch.Tensor
    states: torch.Tensor | None
    statistics: dict
    c: float | None
    theory: float | None
    params: dict

    def save(self, path: Folder) -> None:
        """Write ``path`` (.npz): V, W (res2, res3), h (every state), alpha, beta and params (a JSON string).

        Written under a fresh temporary name and renamed into place once whole (:func:`reslimit.store.replacing`),
        so a Ctrl-C or a full disk leaves no half-written run and no write follows a link. Needs the states:
        ``simulate(..., states=True)`` or ``save=path``.
        """
        if self.states is None:
            raise ValueError("save needs every state h_k: run simulate(..., states=True) or simulate(..., save=PATH)")
        path = _checks.file_in_folder("save", path)
        net = self.net
        arrays: dict[str, Any] = {"V": net.V, "h": self.states} | ({"W": net.W} if net.inner is not None else {})
        with store.replacing(path) as f:  # a file object: np.savez then adds no suffix
            fields: dict[str, Any] = {"alpha": net.alpha, "beta": net.beta, "params": json.dumps(self.params)}
            np.savez(f, **fields, **{k: v.detach().cpu().numpy() for k, v in arrays.items()})


@takes_specs
def simulate(*, block: str = "res3", init: str = "iid", depth: int = 100, width: int = 16, beta: float = 0.5,
             activation: ActivationSpec = "relu", ensemble: int = 8, samples: int = 16, seed: int = 0,
             dtype: DType = "float64", dist: str = "gaussian", hurst: float | None = None,
             lengthscale: float | None = None, resolution: int | None = None, states: bool = False,
             save: Folder | None = None, device: Device = "cpu", hidden: int | None = None) -> Simulation:
    """Run one scaled ResNet at initialisation on ``samples`` standard normal inputs per ensemble member.

    Args:
        block, activation: the residual block (``reslimit.BLOCKS``) and sigma (relu, the only one of res3).
        init: the weight path of V (and W), a key of ``reslimit.PATHS``.
        depth, width, beta: L, d and alpha_L = L^-beta.
        ensemble: E independent weight draws.  samples: inputs h_0 per draw.
        seed: in [0, 2^63 - 1]; the paths and inputs derive from it as in ``ScaledResNet(seed=...)``.
        dtype: "float64" or "float32" (or the torch dtype).
        dist: law of the entries of i.i.d. weights (init "iid"): "gaussian", "uniform" (on [-sqrt 3, sqrt 3])
            or "rademacher"; other inits take only the default.
        hurst, resolution: of fBm weights (init "fbm"); lengthscale: of smooth weights. None: the path's default.
        states: keep every state h_0, ..., h_L (memory (L + 1) x E x samples x d), as :meth:`Simulation.save`
            needs.
        save: a .npz path to write the run to (:meth:`Simulation.save`); its folder is checked before the run.
        device: where the paths, the network and the inputs live ("cpu", "cuda"...).
        hidden: M, the hidden width of res2/res3 (V d x M of variance 1/M, W M x d of variance 1/d: the exact
            identity keeps its c for every M); None: M = d.

    Returns:
        A :class:`Simulation`.
    """
    samples = _checks.positive_int("samples", samples)
    seed = _checks.seed("seed", seed)
    dtype = _checks.dtype(dtype)
    device = _checks.device("device", device)
    if save is not None:
        save = _checks.file_in_folder("save", save)  # refused before the run, not after it
    keep = bool(states) or save is not None
    if init == "iid":
        options: dict[str, Any] = {"dist": dist}
    elif dist != "gaussian":
        raise ValueError(f"dist is for init 'iid' (i.i.d. weights) only; got dist={dist!r} with init {init!r}")
    else:
        options = {}
    options |= {k: v for k, v in (("hurst", hurst), ("lengthscale", lengthscale), ("resolution", resolution))
                if v is not None}
    blk = get_block(block, activation)
    M = _checks.hidden(hidden, _checks.positive_int("width", width), blk)
    seeds = {"outer": substream(seed, "outer"), "inner": substream(seed, "inner") if blk.inner else None}
    shapes = {"outer": (width, hidden), "inner": (M, None if hidden is None else width)}  # cols None: square

    def path(stream: str):
        rows, cols = shapes[stream]
        return make_path(init, rows, ensemble, seed=seeds[stream], dtype=dtype, device=device, **options,
                         **({} if cols is None else {"cols": cols}))

    net = ScaledResNet(depth, width, beta=beta, block=block, activation=activation, outer=path("outer"),
                       inner=path("inner") if blk.inner else None, stream=False, hidden=hidden)
    layers = net.depth + 1 if keep else 3  # every state when kept; else h_0, h_L and a working copy
    _memory.require(layers * net.ensemble * samples * net.width * dtype.itemsize, "the states h",
                    f"samples={samples} with ensemble={net.ensemble}, width={net.width}"
                    + (f", depth={net.depth} (every layer kept, for states or save)" if keep else ""),
                    "use fewer samples" + (" or keep no states (no save, --save)" if keep else ""), device)
    h0 = normal((net.ensemble, samples, net.width), seed, "inputs", dtype, device)
    with torch.no_grad():
        h = net.trajectory(h0) if keep else None
        hL = net(h0) if h is None else h[-1]
    c = net.block.second_moment() if net.outer.exact_second_moment else None
    versions = store.versions()
    params = {"block": net.block.name, "activation": net.block.activation.name, "init": init, "depth": net.depth,
              "width": net.width, "beta": net.beta, "alpha": net.alpha, "ensemble": net.ensemble, "samples": samples,
              "seed": seed, "outer_seed": seeds["outer"], "inner_seed": seeds["inner"],
              "dtype": str(dtype).replace("torch.", ""), **options, **({} if hidden is None else {"hidden": M}),
              "reslimit": versions["reslimit"], "torch": versions["torch"]}
    run = Simulation(net=net, init=init, h0=h0, hL=hL, states=h, statistics=demo.sample_statistics(h0, hL), c=c,
                     theory=None if c is None else theory.second_moment(c, net.alpha, net.depth), params=params)
    if save is not None:
        run.save(save)
    return run

