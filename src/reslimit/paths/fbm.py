"""Matrix fractional Brownian motion, exact on the grid k / resolution by circulant embedding."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .. import _checks, _memory
from .._rng import KeyedNormal, mix
from .._types import Device, DType
from .base import WeightPath

_NOISE = 1  # key tag of the normals of a chunk of entries
_CHUNK = 1024  # complex columns per keyed chunk: one FFT gives 2 * _CHUNK entries (real and imaginary parts)


def fgn_autocovariance(hurst: float, n: int) -> np.ndarray:
    """gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2, k = 0..n: the autocovariance of unit fGn."""
    k = np.arange(n + 1, dtype=np.float64)
    return 0.5 * (np.abs(k + 1) ** (2 * hurst) - 2 * k ** (2 * hurst) + np.abs(k - 1) ** (2 * hurst))


def circulant_eigenvalues(gamma: np.ndarray) -> np.ndarray:
    """Eigenvalues of the 2n-circulant with first row (gamma_0..gamma_n, gamma_{n-1}..gamma_1).

    Raises:
        ValueError: an eigenvalue is negative beyond rounding (-1e-12 max), so the embedding is no
            covariance and the sample would not have the law of ``gamma``.
    """
    lam = np.fft.fft(np.concatenate([gamma, gamma[-2:0:-1]])).real
    if lam.min() < -1e-12 * lam.max():
        raise ValueError(
            f"the circulant embedding has a negative eigenvalue {lam.min():.3g}: not a covariance"
        )
    return np.clip(lam, 0.0, None)


class FractionalBrownian(WeightPath):
    """A d x d matrix fractional Brownian motion B^H (independent entries) times ``std``, exact on a grid.

    Each entry is a centred Gaussian process with Cov(B^H(s), B^H(t)) = (s^2H + t^2H - |t - s|^2H) / 2,
    so Var B^H(t) = t^2H and the increments on a grid of step 1/n are n^-H times unit fractional Gaussian
    noise, gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2. weights(L)[k] =
    L^H std (B^H((k+1)/L) - B^H(k/L)) / sqrt(cols) (cols = d unless given): each weight has the law of an i.i.d.
    Gaussian initialisation (entries of sqrt(cols) V with variance std^2), consecutive weights are correlated as fGn,
    and with alpha_L = L^-H (``natural_beta`` = H) the network is the Euler scheme of
    dH = (std / sqrt(d)) dB^H_t g(H). For H > 1/2 this is a Young equation and the Euler scheme converges
    pathwise with order 2H - 1 (Neuenkirch & Nourdin 2007, J. Theor. Probab. 20); H = 1/2 is Brownian
    motion (the Ito limit, order 1/2 for the SDE of the same path); H < 1/2 is beyond the Young regime.

    Sampling (Davies & Harte 1987, Biometrika 74; Dietrich & Newsam 1997, SIAM J. Sci. Comput. 18): the
    fGn covariance of size n = ``resolution`` is embedded in a circulant of size 2n whose eigenvalues
    lam_j (the FFT of its first row) are >= 0 for every H in (0, 1). With xi, eta independent standard
    normal vectors, Y = FFT(sqrt(lam / 2n) (xi + i eta)) has Re Y and Im Y independent with the circulant
    covariance, so each FFT gives two entries: their first n terms are exact fGn. The entries are
    generated in chunks of 2 * 1024, the normals of chunk c keyed by (seed, c), all columns of a chunk in
    one batched torch.fft call: the path is a function of the seed (and shape, resolution) alone. The FFTs
    run in the path's dtype, so a float32 path equals the float64 path of its seed to float32 rounding
    (the normals are the same numbers), not bit for bit.

    The path is known on the grid k / n only: weights(L) exists for L dividing ``resolution`` (any other
    depth raises), and evaluate(s, t) for times on the grid. The grid, (n + 1) E d^2 numbers, is
    generated on the first query and cached on the object; a chunk's FFT needs 2n * 1024 complex numbers.

    Example:
        >>> path = FractionalBrownian(16, ensemble=4, hurst=0.75, resolution=1024, seed=2)
        >>> V = path.weights(256)                     # (256, 4, 16, 16)
        >>> B = path.evaluate(0.5)                    # std * B^H(1/2), (4, 16, 16)
    """

    name = "fbm"

    kind = "increments"

    def __init__(self, width: int, ensemble: int = 1, *, hurst: float = 0.5, resolution: int = 4096, seed: int = 0,
                 std: float = 1.0, dtype: DType = torch.float64, device: Device = "cpu", cols: int | None = None):
        super().__init__(width, ensemble, seed=seed, std=std, dtype=dtype, device=device, cols=cols)
        self._hurst = _checks.real("hurst", hurst, low=0.0, high=1.0, low_open=True, high_open=True)
        self._resolution = _checks.positive_int("resolution", resolution)
        self._require_grid()
        self._eig = circulant_eigenvalues(fgn_autocovariance(self._hurst, self._resolution))
        self._grid: torch.Tensor | None = None

    hurst = property(lambda self: self._hurst, doc="H: Var B^H(t) = t^2H; H = 1/2 is Brownian motion.")
    resolution = property(lambda self: self._resolution, doc="n: the path is sampled at the times k / n.")

    limit = "fbm"
    sde_type = "stratonovich"  # the Young integral (H > 1/2) is the Stratonovich one: Heun's scheme solves it

    @property
    def natural_beta(self) -> float:
        """H: alpha_L = L^-H makes the network the Euler scheme of the fBm-driven equation."""
        return self._hurst

    def check_limit(self) -> None:
        """The fbm limit is a Young equation: it needs hurst > 1/2."""
        if self._hurst <= 0.5:
            raise ValueError(f"hurst must be > 1/2 for the fbm limit (the Young regime); got {self._hurst!r}")

    def _repr_args(self) -> dict:
        return super()._repr_args() | {"hurst": self._hurst, "resolution": self._resolution}

    def to(self, device: Device | None = None, dtype: DType | None = None) -> FractionalBrownian:
        """This path on ``device`` and in ``dtype``, its grid drawn first in this path's dtype when the dtype changes:
        the copy holds these numbers to the new dtype's rounding (a float32 path drawn afresh computes its FFTs in
        float32, a relative 1e-6 from the float64 path of its seed)."""
        if dtype is not None and _checks.dtype(dtype) != self.dtype:
            self._path()
        return super().to(device, dtype)

    def _require_grid(self) -> None:
        """Refuse a resolution n whose eigenvalues (about 64 n bytes of numpy arrays), grid and one chunk's FFT
        ((n + 1) E d^2 itemsize + 96 n cols bytes, cols = min(1024, E d^2 / 2) complex columns) would not fit."""
        n, argument = self._resolution, f"resolution={self._resolution}"
        advice = f"use a smaller resolution (resolution={_memory.affordable(64)} at most)"
        _memory.require(64 * n, "the circulant eigenvalues (about 64 x resolution bytes)", argument, advice)
        cols = min(_CHUNK, -(-math.prod(self.shape) // 2))
        per_node = self._value_bytes + 96 * cols
        advice = f"use a smaller resolution (resolution={_memory.affordable(per_node, self.device)} at most)"
        _memory.require(n * per_node, f"the fBm grid and one chunk's FFT ((resolution + 1) x ensemble x width^2 x "
                        f"{self.dtype.itemsize} bytes + resolution x 96 x {cols} bytes)", argument, advice, self.device)

    def _cost(self, count: int, depth: int | None) -> tuple[int, int]:
        """Values are read from the cached grid: the gathered values and their differences, no draws."""
        return 2 * (count + 1) * self._value_bytes, 0

    def _check_depth(self, depth: int) -> None:
        if self._resolution % depth:
            n = self._resolution
            small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
            allowed = sorted(set(small) | {n // k for k in small})
            raise ValueError(
                f"depth={depth} does not divide resolution={self._resolution}: the path is known "
                f"only on the grid k/resolution, so the allowed depths are its divisors {allowed}"
            )

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        step = self._resolution // depth
        x = self._path()[start * step:stop * step + 1:step]  # a view: no copy of the grid
        return torch.diff(x, dim=0).mul_(depth**self._hurst / self.cols**0.5)

    def _values(self, times: np.ndarray) -> torch.Tensor:
        """std * B^H at ``times``, each a multiple of 1/resolution within 1e-12."""
        idx = np.rint(times * self._resolution)
        off = np.abs(times - idx / self._resolution) > 1e-12
        if off.any():
            raise ValueError(
                f"FractionalBrownian is known only on the grid k/resolution (resolution="
                f"{self._resolution}); got times off it: {times[off]}"
            )
        return self._path()[torch.as_tensor(idx.astype(np.int64), device=self.device)]

    def _path(self) -> torch.Tensor:
        """std * B^H at k / n, k = 0..n: shape (n + 1, E, d, d), generated once and cached.

        Computed in the path's dtype (a float32 path's FFTs in complex64, 3-4x faster than complex128 here), each
        chunk's FFT along its rows' contiguous axis and its partial sums entry by entry, then copied to time-major
        while the chunk is in cache; the chunks on torch's threads, side by side (each writes its own columns).
        """
        if self._grid is None:
            n, entries = self._resolution, math.prod(self.shape)
            scale = self.std * n**-self._hurst  # folded into sqrt(lam / 2n): the FFT is linear
            sqrt_lam = torch.as_tensor(np.sqrt(self._eig / (2 * n)) * scale, dtype=self.dtype, device=self.device)
            grid = torch.empty((n + 1, entries), dtype=self.dtype, device=self.device)
            grid[0] = 0.0

            def chunk(c: int) -> None:  # entries first .. first + count: real parts' first, then imaginary
                first = 2 * _CHUNK * c
                cols, count = min(_CHUNK, -(-(entries - first) // 2)), min(2 * _CHUNK, entries - first)
                z = KeyedNormal((cols, 2 * n, 2), self.dtype, self.device).draw([mix(self.seed, _NOISE, c)])[0]
                y = torch.fft.fft(torch.view_as_complex(z).mul_(sqrt_lam), dim=-1)[:, :n].cumsum(-1)  # re and im
                parts = torch.view_as_real(y)
                grid[1:, first:first + cols] = parts[..., 0].T
                grid[1:, first + cols:first + count] = parts[:count - cols, :, 1].T

            chunks = -(-entries // (2 * _CHUNK))
            if chunks > 1 and torch.get_num_threads() > 1:  # torch runs each FFT on one thread: chunks side by side
                with ThreadPoolExecutor(min(chunks, torch.get_num_threads())) as pool:
                    list(pool.map(chunk, range(chunks)))
            else:
                for c in range(chunks):
                    chunk(c)
            self._grid = grid.view(n + 1, *self.shape)
        return self._grid
