"""Lipschitz weight paths: V_k = X((k+1)/L) for a smooth X, the regime of the neural ODE limit."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable

import numpy as np
import torch

from .. import _checks, _memory
from .._rng import KeyedNormal, mixes
from .._types import Device, DType
from .base import WeightPath

_COS, _SIN = 1, 2  # key tags of the coefficients
_TOL = 1e-10  # target of the covariance error of the spectral quadrature, see Smooth
_C = math.sqrt(2.0 * math.log(1.0 / _TOL))  # exp(-_C**2 / 2) = _TOL
_KEY_BYTES = 48  # a key of the coefficients' draw: a Python int and its list slot
_BLOCK_BYTES = 64 * 2**20  # the (T, 2K+1) feature matrices are built for blocks of times of about this size


class _LipschitzPath(WeightPath):
    """A path with a derivative, read by its values: weights(L)[k] = X((k+1)/L) / sqrt(cols) (cols = d unless
    given)."""

    kind = "values"
    natural_beta = 1.0
    limit = "ode"

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        return self._values(np.arange(start + 1, stop + 1, dtype=np.float64) / depth).div_(self.cols**0.5)

    def derivative(self, t) -> torch.Tensor:
        """dX/dt at ``t``: a time in [0, 1] gives (E, width, cols), a 1-D sequence of times (len(t), E, width,
        cols)."""
        times = self._check_times("t", t)
        self._require(len(times), None, f"len(t)={len(times)}", "ask for fewer times at once")
        out = self._derivatives(times)
        return out[0] if np.ndim(t) == 0 else out

    @abstractmethod
    def _derivatives(self, times: np.ndarray) -> torch.Tensor:
        """dX/dt at each of ``times`` (1-D float64 array): shape (len(times), E, width, cols)."""


class Smooth(_LipschitzPath):
    """Independent Gaussian-process entries with the RBF kernel, exact at any time, with derivative.

    Each entry of X is a centred Gaussian process on [0, 1] with
    Cov(X(s), X(t)) = std^2 exp(-(s - t)^2 / (2 l^2)), l = ``lengthscale``, and weights(L)[k] =
    X((k+1)/L) / sqrt(cols) (cols = d unless given: X(t) is then width x cols), so the entries of sqrt(cols) V_k
    have variance std^2 and the depth-L network with
    alpha_L = 1/L is the Euler scheme of the neural ODE dH/dt = X(t) g(H) / sqrt(d), with error O(1/L)
    (X is smooth, hence Lipschitz; Marion et al. 2022, arXiv 2206.06929).

    Construction (spectral quadrature): the kernel is E cos(w tau) with w ~ N(0, 1/l^2). The trapezoidal
    rule with step h = 2 pi / P, P = 1 + c l, c = sqrt(2 ln 1e10), truncated at K = ceil(c / (h l)), gives
    X(t) = std sum_{k=0}^{K} sqrt(a_k) (A_k cos(k h t) + B_k sin(k h t)),
    a_0 = h l / sqrt(2 pi), a_k = 2 h l / sqrt(2 pi) exp(-(k h l)^2 / 2),
    with A_k, B_k independent (E, d, d) standard normals keyed by (seed, k). X is exactly Gaussian with
    covariance sum_k a_k cos(k h tau), which by Poisson summation is the P-periodised kernel minus a
    spectral tail: for |tau| <= 1 the aliases add < 2e-10 and the tail <= 2 Q(c) < 1e-11, so the kernel
    is matched to < 3e-10 with 2K + 1 ~ c (1 + c l) / (pi l) features (39 at l = 0.1, 233 at l = 0.01).
    Values and derivatives are one (T, 2K+1) @ (2K+1, E d d) matmul; the coefficients are drawn at
    construction, (2K + 1) E d^2 numbers.

    Example:
        >>> path = Smooth(16, ensemble=4, lengthscale=0.2, seed=1)
        >>> V = path.weights(100)                     # (100, 4, 16, 16)
        >>> dX = path.derivative([0.0, 0.5])          # (2, 4, 16, 16)
    """

    name = "smooth"

    def __init__(self, width: int, ensemble: int = 1, *, lengthscale: float = 0.1, seed: int = 0, std: float = 1.0,
                 dtype: DType = torch.float64, device: Device = "cpu", cols: int | None = None):
        super().__init__(width, ensemble, seed=seed, std=std, dtype=dtype, device=device, cols=cols)
        self._lengthscale = _checks.lengthscale(lengthscale)
        step = 2.0 * math.pi / (1.0 + _C * self._lengthscale)
        n = math.ceil(_C / (step * self._lengthscale))
        self._require_features(2 * n + 1)
        self._freq = step * np.arange(n + 1.0)
        amp = (
            step
            * self._lengthscale
            / math.sqrt(2.0 * math.pi)
            * np.exp(-0.5 * (self._freq * self._lengthscale) ** 2)
        )
        amp[1:] *= 2.0
        self._amp = np.sqrt(amp)
        keys = np.concatenate([mixes(self.seed, _COS, last=range(n + 1)), mixes(self.seed, _SIN, last=range(1, n + 1))])
        normals = KeyedNormal(self.shape, torch.float64, self.device).draw(
            keys
        )  # float32: the same path rounded
        self._coef = normals.reshape(len(keys), -1).to(self.dtype)

    def _require_features(self, features: int) -> None:
        """Refuse 2K+1 features whose coefficients (2K+1) x E x d^2 x 8 bytes (plus their itemsize copy and keys)
        or keyed draws would not fit; the advice inverts 2K+1 <= c (1 + c l) / (pi l) + 3 for l."""
        per_feature = math.prod(self.shape) * (8 + (self.dtype.itemsize if self.dtype != torch.float64 else 0))
        argument = f"lengthscale={self._lengthscale!r}"

        def advice(most: int) -> str:
            low = _C / (math.pi * (most - 3) - _C**2) if math.pi * (most - 3) > _C**2 else math.inf
            return f"use lengthscale >= {low:.3g} (at most {most} features)"

        most = min(_memory.affordable(per_feature + _KEY_BYTES, self.device), _memory.MAX_STEPS)
        _memory.require(features * (per_feature + _KEY_BYTES), f"the smooth path's {features} spectral features "
                        f"((2K+1) x ensemble x width^2 x {per_feature // math.prod(self.shape)} bytes)", argument,
                        advice(most), self.device)
        _memory.require_steps(features, f"the keyed draws of the smooth path's {features} spectral features",
                              argument, advice(_memory.MAX_STEPS))

    lengthscale = property(lambda self: self._lengthscale, doc="l of the kernel exp(-(s-t)^2 / (2 l^2)).")
    n_features = property(lambda self: self._coef.shape[0], doc="2K + 1 cos/sin features of the quadrature.")

    def _repr_args(self) -> dict:
        return super()._repr_args() | {"lengthscale": self._lengthscale}

    def covariance(self, tau: float | np.ndarray) -> np.ndarray:
        """Cov(X(s), X(s + tau)) of this construction, std^2 sum_k a_k cos(k h tau), for an array ``tau``.

        It differs from the kernel std^2 exp(-tau^2 / (2 l^2)) by < 3e-10 std^2 for |tau| <= 1.
        """
        return (
            self.std**2
            * np.cos(np.multiply.outer(np.asarray(tau, dtype=np.float64), self._freq))
            @ self._amp**2
        )

    def _cost(self, count: int, depth: int | None) -> tuple[int, int]:
        """The values, count x E x d^2 x itemsize, and one block's feature matrices (about 5 arrays of
        block x (2K+1) float64, _BLOCK_BYTES in all); a step (~10 us) per 100 features evaluated (cos, sin) and per
        10^4 multiply-adds of the matmul, count x (2K+1) x (100 + E d^2) / 10^4 steps."""
        work = count * self.n_features
        return count * self._value_bytes + min(40 * work, _BLOCK_BYTES), work * (100 + math.prod(self.shape)) // 10**4

    def _combine(self, times: np.ndarray, features) -> torch.Tensor:
        """std * [cos | sin] @ coef: (T, E, d, d), for ``features(phase)`` = the (T, K+1) cos and (T, K) sin
        features at phase = times x frequencies, built for blocks of times of _BLOCK_BYTES."""
        out = torch.empty((len(times), self._coef.shape[1]), dtype=self.dtype, device=self.device)
        block = max(1, _BLOCK_BYTES // (40 * self.n_features))
        for first in range(0, len(times), block):
            cos, sin = features(np.outer(times[first : first + block], self._freq))
            feats = torch.as_tensor(np.concatenate([cos, sin[:, 1:]], axis=1), dtype=self.dtype, device=self.device)
            torch.matmul(feats, self._coef, out=out[first : first + block])
        return out.mul_(self.std).reshape(len(times), *self.shape)

    def _values(self, times: np.ndarray) -> torch.Tensor:
        return self._combine(times, lambda phase: (self._amp * np.cos(phase), self._amp * np.sin(phase)))

    def _derivatives(self, times: np.ndarray) -> torch.Tensor:
        rate = self._amp * self._freq
        return self._combine(times, lambda phase: (-rate * np.sin(phase), rate * np.cos(phase)))


class FunctionPath(_LipschitzPath):
    """A deterministic path given by the user: X(t) = std * fn(t), weights(L)[k] = X((k+1)/L) / sqrt(cols).

    Args:
        fn: t (a float in [0, 1]) -> tensor (or array) of shape (ensemble, width, cols), or
            (width, cols) shared by the whole ensemble.
        width, ensemble: d and E.  cols: the columns of X(t); None: width (a d x d path).
        derivative: optional t -> dfn/dt, same shapes; needed only by :meth:`derivative`.
        std, dtype, device: as for every path; there is no seed, nothing is random.

    Raises:
        ValueError: ``fn`` is not callable, or fn(0) (checked at construction) or any later fn(t) does not
            have the expected shape.

    Example:
        >>> path = FunctionPath(lambda t: torch.eye(3) * t, 3)   # X(t) = t I, shared by the ensemble
        >>> V = path.weights(10)                                  # (10, 1, 3, 3)
    """

    def __init__(self, fn: Callable[[float], object], width: int, ensemble: int = 1, *,
                 derivative: Callable[[float], object] | None = None, std: float = 1.0, dtype: DType = torch.float64,
                 device: Device = "cpu", cols: int | None = None):
        super().__init__(width, ensemble, seed=0, std=std, dtype=dtype, device=device, cols=cols)
        for name, f in (("fn", fn), ("derivative", derivative)):
            if not callable(f) and not (name == "derivative" and f is None):
                raise ValueError(f"{name} must be a function of t; got {f!r}")
        self._fn, self._dfn = fn, derivative
        self._call("fn", fn, 0.0)

    def __repr__(self) -> str:
        def name(f):
            return "None" if f is None else getattr(f, "__name__", repr(f))

        return (
            f"FunctionPath({name(self._fn)}, {self.width}, ensemble={self.ensemble}, "
            + ("" if self.cols == self.width else f"cols={self.cols}, ") +
            f"derivative={name(self._dfn)}, std={self.std!r}, dtype={self.dtype}, device={str(self.device)!r})"
        )

    def _cost(self, count: int, depth: int | None) -> tuple[int, int]:
        """The values fn(t) and their stacked copy, 2 count x E x width x cols x itemsize; one call of fn a step."""
        return 2 * count * self._value_bytes, count

    def _call(self, name: str, f, t: float) -> torch.Tensor:
        out = torch.as_tensor(f(float(t)), dtype=self.dtype, device=self.device)
        if out.shape == self.shape[1:]:
            out = out.expand(self.shape)
        if out.shape != self.shape:
            raise ValueError(
                f"{name}(t) must return shape {self.shape} (ensemble, width, cols) or "
                f"{self.shape[1:]} (width, cols); found {tuple(out.shape)} at t={t}"
            )
        return out

    def _values(self, times: np.ndarray) -> torch.Tensor:
        return torch.stack([self._call("fn", self._fn, t) for t in times]).mul_(self.std)

    def _derivatives(self, times: np.ndarray) -> torch.Tensor:
        if self._dfn is None:
            raise ValueError("derivative was not given to FunctionPath, so dX/dt is unknown")
        return torch.stack([self._call("derivative", self._dfn, t) for t in times]).mul_(self.std)
