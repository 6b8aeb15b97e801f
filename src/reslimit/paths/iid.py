"""I.i.d. weights: V_k = std * Z_k / sqrt(cols), the Z_k independent with unit-variance entries."""

from __future__ import annotations

import torch

from .. import _checks
from .._rng import KeyedNormal, mixes
from .._types import Device, DType
from ..init import path_std, scheme_name
from .base import WeightPath

DISTS = ("gaussian", "uniform", "rademacher")


class IID(WeightPath):
    """Independent, identically distributed layer weights (the usual initialisation).

    V_k = std * Z_k / sqrt(cols), Z_k (width x cols, cols = width unless given: d x d) with i.i.d. entries of mean
    0 and variance 1 drawn from ``dist``
    (gaussian; uniform on [-sqrt 3, sqrt 3]; rademacher +-1). Layer k's weights are the same at every
    depth, so this is *not* a refinement-consistent path: it has no continuous limit to evaluate. Its
    natural scaling is beta = 1/2, where the network approximates the neural SDE driven by Brownian
    motion (use :class:`Brownian` to compare pathwise).

    ``init`` names a scheme of :mod:`reslimit.init` ("standard", "lecun", "glorot"/"xavier", "he"/"kaiming")
    and sets std = sqrt(cols init.variance(init, cols, width)), so that the entries of V_k have the scheme's
    variance for a width x cols layer (fan-in cols); for a d x d layer (he: 2/d, std = sqrt 2; glorot and lecun:
    1/d, std = 1; standard: 1/(3d), std = sqrt(1/3));
    ``dist`` stays the law (the scheme's "normal" is dist "gaussian", its "uniform" dist "uniform"). ``std``
    (default 1) and ``init`` are two ways of setting the same number: give one, not both.

    Example:
        >>> V = IID(40, ensemble=8, seed=1).weights(1000)   # (1000, 8, 40, 40)
    """

    name = "iid"

    kind = "iid"
    refinement_consistent = False

    def __init__(self, width: int, ensemble: int = 1, *, dist: str = "gaussian", seed: int = 0,
                 std: float | None = None, init: str | None = None, dtype: DType = torch.float64,
                 device: Device = "cpu", cols: int | None = None):
        if init is not None:
            if std is not None:
                raise ValueError(f"std and init both set the entries' variance: give one, not both; got std={std!r}, "
                                 f"init={init!r}")
            std = path_std(init, width, cols)
        super().__init__(width, ensemble, seed=seed, std=1.0 if std is None else std, dtype=dtype, device=device,
                         cols=cols)
        self._init = None if init is None else scheme_name(init)
        self._dist = _checks.choice("dist", dist, DISTS)
        self._draw = KeyedNormal(self.shape, self.dtype, self.device)

    dist = property(lambda self: self._dist)
    init = property(lambda self: self._init, doc="The scheme of reslimit.init that set std, or None.")
    natural_beta = 0.5
    exact_second_moment = True

    def _repr_args(self) -> dict:
        return super()._repr_args() | {"dist": self._dist} | ({} if self._init is None else {"init": self._init})

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        return self._draw.draw(mixes(self.seed, 0, last=range(start, stop)), self._dist,
                               scale=self.std / self.cols**0.5)
