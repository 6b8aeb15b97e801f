"""The contract every weight path honours.

A weight path X is a random matrix-valued function on [0, 1] with an ensemble of independent draws:
X(t) has shape (ensemble, width, cols), ``cols`` = width unless given (a square d x d path). It feeds both sides
of a comparison:

* ``weights(L)`` gives the weights V_1..V_L of a depth-L network, shape (L, ensemble, width, cols),
  normalised by the fan-in so that the entries of sqrt(cols) * V_k have variance ``std**2`` (then
  E||V_k u||^2 = (width / cols) std^2 ||u||^2 for a fixed u in R^cols);
* ``evaluate(s, t=None)`` gives the value X(s), or the increment X(t) - X(s), that a continuous
  solver integrates against.

One seed gives one path whatever is asked of it and in whatever order: ``weights(16)`` and
``weights(1024)`` are two discretisations of the same path. ``weights(L, start, stop)`` returns layers
start..stop-1 only, with the very numbers of the full call, so deep networks draw their weights in chunks.
Every query first estimates its memory and time (``_cost``) and refuses, with a ValueError naming the argument,
what would not fit (:mod:`reslimit._memory`).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from .. import _checks, _memory
from .._rng import KeyedNormal
from .._types import Device, DType, Times

_Path = TypeVar("_Path", bound="WeightPath")  # to() returns a path of its own class

PATHS: dict[str, type[WeightPath]] = {}  # name -> class: filled by each subclass that sets ``name``


class WeightPath(ABC):
    """Base class of the weight processes.

    Subclasses set ``name`` to be registered in :data:`PATHS` under it (so that ``make_path``, the specs and the
    CLI's ``--init`` know them), ``kind`` ("increments": V_k is a scaled increment of X over [k/L, (k+1)/L];
    "values": V_k = X((k+1)/L); "iid": no continuous path), ``natural_beta`` (the scaling
    alpha_L = L^-beta under which the network has a non-degenerate limit) and ``limit`` (the name of that
    limit in :data:`reslimit.limits.LIMITS`, None without one), and implement ``_weights``. A path that drives an
    SDE also sets ``sde_type``, the calculus of its limit: "ito" (Brownian) or "stratonovich" (fBm with H > 1/2,
    whose Young integral is the Stratonovich one).
    """

    name: ClassVar[str | None] = None  # its key in PATHS (make_path, PathSpec.kind, --init); None: not registered
    kind: ClassVar[str]
    refinement_consistent: ClassVar[bool] = True
    limit: ClassVar[str | None] = None  # the name of the continuous limit (reslimit.limits) it drives, if any
    sde_type: ClassVar[str | None] = None  # "ito" or "stratonovich": the calculus of the SDE it drives, if any
    # whether its layers V_k are independent, centred, of variance std^2/cols per entry: then the second moment of
    # the network is exactly (1 + c alpha^2)^L - 1 (reslimit.theory.second_moment), for any cols (hidden width)
    exact_second_moment: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None:
            PATHS[name] = cls

    def __init__(self, width: int, ensemble: int = 1, *, seed: int = 0, std: float = 1.0, dtype: DType = torch.float64,
                 device: Device = "cpu", cols: int | None = None):
        self._width = _checks.positive_int("width", width)
        self._cols = self._width if cols is None else _checks.positive_int("cols", cols)
        self._ensemble = _checks.positive_int("ensemble", ensemble)
        self._seed = _checks.seed("seed", seed)
        self._std = _checks.real("std", std, low=0.0, low_open=True)
        self._dtype = _checks.dtype(dtype)
        self._device = _checks.device("device", device)

    # Read-only description -------------------------------------------------------------------
    width = property(lambda self: self._width, doc="The rows of the weights (d for V, the hidden width M for W).")
    cols = property(lambda self: self._cols, doc="The columns of the weights, their fan-in (width unless given).")
    ensemble = property(lambda self: self._ensemble, doc="E: number of independent draws.")
    seed = property(lambda self: self._seed, doc="The seed every number of the path derives from.")
    std = property(lambda self: self._std, doc="Standard deviation of the entries of sqrt(cols) V.")
    dtype = property(lambda self: self._dtype)
    device = property(lambda self: self._device)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of X(t): (ensemble, width, cols)."""
        return (self._ensemble, self._width, self._cols)

    @property
    @abstractmethod
    def natural_beta(self) -> float:
        """The beta of alpha_L = L^-beta under which this path's network has a continuous limit."""

    def to(self: _Path, device: Device | None = None, dtype: DType | None = None) -> _Path:
        """This path on ``device`` and in ``dtype`` (each unchanged when None); ``self`` when nothing changes.

        The same numbers on every device (draws are made on the CPU); in another dtype, the same to its rounding.
        """
        device = self._device if device is None else _checks.device("device", device)
        dtype = self._dtype if dtype is None else _checks.dtype(dtype)
        if (device, dtype) == (self._device, self._dtype):
            return self
        new = copy.copy(self)
        new._device, new._dtype = device, dtype
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(new, name, value.to(device, dtype if value.is_floating_point() else value.dtype))
            elif isinstance(value, KeyedNormal):
                setattr(new, name, KeyedNormal(value.shape, dtype if value.dtype == self._dtype else value.dtype,
                                               device))
        return new

    def check_limit(self) -> None:
        """Refuse, with a ValueError, a path of this class whose parameters leave its limit (fBm: hurst <= 1/2)."""

    def _repr_args(self) -> dict:
        square = {} if self._cols == self._width else {"cols": self._cols}
        return {"ensemble": self._ensemble, "seed": self._seed, "std": self._std} | square

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({self._width}, {args}, dtype={self._dtype}, device={str(self._device)!r})"

    # Queries ---------------------------------------------------------------------------------
    def weights(self, depth: int, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Weights V_{start+1}..V_{stop} of a depth-``depth`` network: shape (stop - start, E, width, cols)."""
        depth = _checks.positive_int("depth", depth)
        stop = depth if stop is None else stop
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start <= depth:
            raise ValueError(f"start must be an integer in [0, depth={depth}]; got {start!r}")
        if isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or not start <= stop <= depth:
            raise ValueError(f"stop must be an integer in [start={start}, depth={depth}]; got {stop!r}")
        self._check_depth(depth)
        layers = "" if (start, stop) == (0, depth) else f" (layers {start}..{stop - 1})"
        self._require(stop - start, depth, f"depth={depth}{layers}",
                      "draw the weights in chunks (ScaledResNet(..., stream=True)) or use a smaller depth")
        return self._weights(depth, int(start), int(stop))

    def _cost(self, count: int, depth: int | None) -> tuple[int, int]:
        """(bytes, Python loop steps) to compute ``count`` values X(t) or weights, at the times k/depth or (depth
        None) any: count x E x width x cols x itemsize bytes and one keyed draw each, unless a subclass says
        otherwise."""
        return count * self._value_bytes, count

    @property
    def _value_bytes(self) -> int:
        """Bytes of one X(t): E x width x cols x itemsize."""
        return self._ensemble * self._width * self._cols * self._dtype.itemsize

    def _require(self, count: int, depth: int | None, argument: str, advice: str) -> None:
        """Refuse ``count`` values whose :meth:`_cost` would not fit in memory or time."""
        nbytes, steps = self._cost(count, depth)
        what = f"{count} values of the {type(self).__name__} path"
        size = "width^2" if self._cols == self._width else "width x cols"
        _memory.require(nbytes, f"{what} (ensemble x {size} x {self._dtype.itemsize} bytes each, with temporaries)",
                        argument, advice, self._device)
        _memory.require_steps(steps, what, argument, advice)

    def _check_depth(self, depth: int) -> None:
        """Refuse depths the path cannot discretise exactly (fBm: depths dividing its resolution)."""

    @abstractmethod
    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor: ...

    def evaluate(self, s: Times, t: Times | None = None) -> torch.Tensor:
        """X(s), or the increment X(t) - X(s) when ``t`` is given.

        ``s`` (and ``t``) are floats in [0, 1], giving shape (E, width, cols), or 1-D sequences of such,
        giving shape (len(s), E, width, cols).
        """
        s_arr = self._check_times("s", s)
        count = len(s_arr) * (1 if t is None else 2)
        self._require(count, None, f"len(s)={len(s_arr)}", "evaluate fewer times at once")
        if t is None:
            out = self._values(s_arr)
        else:
            t_arr = self._check_times("t", t)
            if t_arr.shape != s_arr.shape:
                raise ValueError(f"t must have the shape of s {s_arr.shape}; got {t_arr.shape}")
            if np.any(t_arr < s_arr):
                raise ValueError("t must be >= s for an increment X(t) - X(s)")
            both = self._values(np.concatenate([s_arr, t_arr]))
            out = both[len(s_arr):] - both[: len(s_arr)]
        return out[0] if np.ndim(s) == 0 else out

    @staticmethod
    def _check_times(name, value) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
            raise ValueError(f"{name} must be a time or 1-D sequence of times in [0, 1]; got {value!r}")
        return arr

    def _values(self, times: np.ndarray) -> torch.Tensor:
        """X at each of ``times`` (1-D float64 array): shape (len(times), E, width, cols)."""
        raise ValueError(f"{type(self).__name__} weights have no continuous path to evaluate")


class OnPaths(nn.Module):
    """An nn.Module driven by the weight paths ``outer`` (and ``inner``, or None): ``.to``, ``.cuda``, ``.double``...
    move and cast the paths with the module's tensors. A subclass sets both, then calls :meth:`_track_paths`."""

    outer: WeightPath
    inner: WeightPath | None
    _where: torch.Tensor

    def _track_paths(self) -> None:
        """Register the empty buffer that tells where the module lives (moved by nn.Module, read by _apply)."""
        self.register_buffer("_where", torch.empty(0, dtype=self.outer.dtype, device=self.outer.device),
                             persistent=False)

    ensemble = property(lambda self: self.outer.ensemble)
    dtype = property(lambda self: self.outer.dtype)
    device = property(lambda self: self.outer.device)

    def _apply(self, fn, *args, **kwargs):
        """nn.Module's move or cast of the tensors (.to, .cuda, .cpu, .double...), and of the paths with them."""
        super()._apply(fn, *args, **kwargs)
        self.outer = self.outer.to(self._where.device, self._where.dtype)
        self.inner = None if self.inner is None else self.inner.to(self._where.device, self._where.dtype)
        return self
