"""Regularity of a weight sequence: the Hölder (Hurst) exponent of the path its weights are the increments of.

Weights V_1..V_L (a tensor (L, ..., p, q): L layers of p x q matrices, any batch dims between, e.g. the
ensemble of :meth:`reslimit.paths.WeightPath.weights`) define the path X_0 = 0, X_k = V_1 + ... + V_k.
Each of its scalar coordinates (one batch member's entry (i, j), a *column*) is a path of L + 1 points, and

* i.i.d. weights (:class:`reslimit.paths.IID`) make X a random walk: exponent 1/2;
* fBm increments (:class:`reslimit.paths.FractionalBrownian`, hurst H) make X_k = L^H B^H(k/L) / sqrt(d) a
  fractional Brownian motion on the grid: exponent H;
* values of a smooth path (:class:`reslimit.paths.Smooth`, V_k = Y(k/L) / sqrt(d)) make X a Riemann sum
  L int Y / sqrt(d), a C^1 path: exponent 1 (reported capped at 1, see :func:`regularity`).

The exponent says which scaling alpha_L = L^-beta the weights call for: the critical beta of
the block's :meth:`reslimit.blocks.Block.critical_beta` (H for res-1; max(H, 1/2) with ReLU inner blocks), the
lines the phase study (:mod:`reslimit.studies.phase`) measures; :meth:`Regularity.implied_beta` reads it off.

Example:
    >>> from reslimit.paths import FractionalBrownian
    >>> V = FractionalBrownian(8, ensemble=4, hurst=0.3, resolution=512, seed=1).weights(512)
    >>> r = regularity(V)                     # r.exponent about 0.3, r.ci_low < 0.3 < r.ci_high
    >>> r.implied_beta("res3", "relu")        # max(H, 1/2) = 0.5
"""

from __future__ import annotations

import fnmatch
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import _checks, _memory
from .blocks import get_block

MIN_LAYERS = 8  # the fewest layers measured: the default lags 1, 2 then have 7 and 5 second differences
MIN_COLUMNS = 4  # the confidence interval resamples columns: fewer give no interval worth the name
_LARGEST = 1e100  # entries above: the squares of the path's second differences could overflow
_ZERO = 1e-12  # a column's variogram below (_ZERO m rms(V))^2 is rounding: its path is linear (or m-periodic)


@dataclass(frozen=True)
class Regularity:
    """What :func:`regularity` measured on weights V_1..V_L (see the module docstring for X).

    Attributes:
        exponent: the Hölder exponent of X, min(raw_exponent, 1): 1 means smooth (C^1).
        ci_low, ci_high: the bootstrap percentile interval of ``exponent`` at ``level``, capped likewise.
        raw_exponent: half the least-squares slope of log S(m) on log m; in (1, 2] X is C^1 with a derivative
            of Hölder exponent raw_exponent - 1 (2 is the most second differences can see).
        se: the standard deviation of raw_exponent over the bootstrap draws.
        level: the confidence level of the interval.
        lags: the lags m the slope was fitted on.
        variogram: S(m) at those lags (see :func:`regularity`).
        max_norm: max over layers k and batch members of the operator (spectral) norm ||V_k||_2, unscaled: for
            i.i.d. d x d entries of variance s^2 / d it is about 2 s (Bai & Yin 1988, Ann. Probab. 16), a little
            above for the maximum over many layers.
        quadratic_variation: sum_{k=2}^{L} ||V_k - V_{k-1}||_F^2, averaged over batch members: the quadratic
            variation of the weights as a function of depth t = k/L. With the package's normalisation
            (entries of sqrt(d) V_k of variance s^2) its mean is 2 s^2 d (L - 1) for i.i.d. weights,
            (4 - 2^(2H)) s^2 d (L - 1) for fBm increments (2 (1 - rho(1)), rho(1) = 2^(2H-1) - 1 of fGn), and
            about s^2 d / (l^2 L) -> 0 for a Smooth path of lengthscale l (V_k - V_{k-1} = Y'(t) / (L sqrt d)).
        n_layers: L.
        n_columns: the number of scalar paths (batch members x p x q) averaged and resampled: all but those whose
            second differences vanish at a lag (see :func:`regularity`).
    """

    exponent: float
    ci_low: float
    ci_high: float
    raw_exponent: float
    se: float
    level: float
    lags: tuple[int, ...]
    variogram: tuple[float, ...]
    max_norm: float
    quadratic_variation: float
    n_layers: int
    n_columns: int

    def implied_beta(self, block: str = "res1", activation: str = "relu") -> float | None:
        """The critical beta of alpha_L = L^-beta the exponent implies for ``block`` with ``activation``.

        ``get_block(block, activation).critical_beta(exponent)``: the exponent for res-1; max(exponent, 1/2) for
        res-2 / res-3 with ReLU; for res-2 with another sigma the exponent where it is at least 1/2, else None (no
        theory). Smooth weights (exponent 1) give 1, the neural ODE scaling; i.i.d. weights 1/2.
        """
        if not isinstance(activation, str):
            raise ValueError(f"activation must be the name of an activation (e.g. 'relu'); got {activation!r}")
        return get_block(block, activation).critical_beta(self.exponent)

    def summary(self) -> str:
        """The measurements as lines of text (what ``reslimit regularity FILE`` prints under the file's name)."""
        pct = f"{100 * self.level:g}%"
        relu = self.implied_beta("res3", "relu")
        smooth = " (capped: the path is C^1)" if self.raw_exponent >= 1 else ""
        return "\n".join([
            f"Holder (Hurst) exponent {self.exponent:.4f}{smooth}, {pct} CI [{self.ci_low:.4f}, {self.ci_high:.4f}]"
            f" (raw {self.raw_exponent:.4f}, bootstrap SE {self.se:.2g}; lags {', '.join(map(str, self.lags))};"
            f" {self.n_layers} layers, {self.n_columns} columns)",
            f"implied critical beta: res-1 {self.exponent:.4f}; ReLU inner blocks (res-2, res-3) {relu:.4f}",
            f"max operator norm max_k ||V_k||_2: {self.max_norm:.4g}",
            f"quadratic variation sum_k ||V_k - V_(k-1)||_F^2 (mean over batch): {self.quadratic_variation:.4g}",
        ])


def _as_array(weights) -> np.ndarray:
    """``weights`` as a float64 array (L, ..., p, q), or a ValueError naming weights."""
    if isinstance(weights, (list, tuple)):
        if not weights:
            raise ValueError("weights must hold at least one layer; got an empty sequence")
        layers = [_as_array_layer(k, w) for k, w in enumerate(weights)]
        shapes = {a.shape for a in layers}
        if len(shapes) > 1:
            raise ValueError(f"weights must be layers of one shape (ragged shapes {sorted(shapes)} given)")
        array = np.stack(layers)
    elif isinstance(weights, (torch.Tensor, np.ndarray)):
        array = _checks.real_array("weights", weights).astype(np.float64)
    else:
        raise ValueError(f"weights must be a tensor or array (L, ..., p, q) or a list of layers; "
                         f"got {type(weights).__name__}")
    if array.ndim < 3:
        raise ValueError(f"weights must have shape (L, ..., p, q): layers of matrices; got shape {array.shape}")
    if array.shape[0] < MIN_LAYERS:
        raise ValueError(f"weights must have at least {MIN_LAYERS} layers; got {array.shape[0]}")
    if array.size == 0:
        raise ValueError(f"weights must have at least one column (batch members x p x q); got shape {array.shape}")
    if np.abs(array).max() > _LARGEST:
        raise ValueError(f"weights must have entries of magnitude at most {_LARGEST:g} (the variogram squares sums "
                         f"of them); got max |weights| = {np.abs(array).max():.3g}")
    return array


def _as_array_layer(k: int, layer) -> np.ndarray:
    if isinstance(layer, (torch.Tensor, np.ndarray)):
        return _checks.real_array(f"weights[{k}]", layer).astype(np.float64)
    raise ValueError(f"weights[{k}] must be a tensor or array; got {type(layer).__name__}")


def _default_lags(layers: int) -> tuple[int, ...]:
    """The dyadic lags 1, 2, 4, ... up to max(2, L/8)."""
    top = max(2, layers // 8)
    return tuple(2**j for j in range(int(math.log2(top)) + 1))


def _check_lags(lags, layers: int) -> tuple[int, ...]:
    if isinstance(lags, (str, bytes)) or not isinstance(lags, Sequence):
        raise ValueError(f"lags must be a sequence of integers; got {lags!r}")
    out = tuple(sorted({_checks.positive_int("lags", m) for m in lags}))
    if len(out) < 2 or 2 * out[-1] > layers:
        raise ValueError(f"lags must hold at least two distinct integers m >= 1 with 2m <= L = {layers}; got {lags!r}")
    return out


def _require_bootstrap(boot: int, columns: int, lags: int) -> None:
    """Refuse, before drawing, a bootstrap that would not fit in memory (its ``boot`` draws: an array of ``lags``
    floats each, kept in a list then stacked) or would run for hours: a draw is a Python iteration and about
    columns x (lags + 2) operations (counted at 10^10 a second, 10^5 a step of 10 us)."""
    argument, advice = f"boot={boot}", "use fewer bootstrap draws (boot=1000 is the default)"
    _memory.require(boot * (3 * 8 * lags + 112), f"the bootstrap's draws (boot x (3 x {lags} lags x 8 + 112) "
                    "bytes)", argument, advice)
    _memory.require_steps(boot * (1 + columns * (lags + 2) // 10**5), f"the bootstrap over {columns} columns "
                          f"(a draw a step, and one per 10^5 operations)", argument, advice)


def regularity(weights: torch.Tensor | np.ndarray | Sequence, *, lags: Sequence[int] | None = None,
               level: float = 0.95, boot: int = 1000,
               seed: int = 0) -> Regularity:
    """The Hölder exponent of the path X whose increments are ``weights``, with a bootstrap interval.

    Estimator (the second-order variogram; Istas & Lang 1997, Ann. IHP 33; Kent & Wood 1997, JRSS B 59): with
    columns c (the scalar coordinates of X, every index but the layer's) and second differences
    D_m X_k = X_{k+2m} - 2 X_{k+m} + X_k, k = 0..L-2m,

        S(m) = mean over c and k of (D_m X_k)^2,    raw_exponent = slope of log S(m) on log m / 2,

    the least-squares slope over the lags m. For fBm of index H (a random walk: H = 1/2)
    E (D_m X_k)^2 = (4 - 2^(2H)) sigma^2 m^(2H) exactly, so log E S(m) is linear in log m with slope 2H for
    every H in (0, 1), and the estimator is asymptotically normal for all of them (first differences are not
    for H > 3/4). For a C^(1+a) path S(m) ~ m^(2 + 2a): the raw exponent runs up to 2 and ``exponent`` is
    capped at 1, "smooth"; the weights of :class:`reslimit.paths.Smooth` give a raw exponent near 2 at lags
    below the lengthscale, lower beyond it, above 1 either way.

    Interval: the columns of the package's paths are independent copies (ensemble members and matrix
    entries), so S(m) is a mean of i.i.d. per-column variograms s_c(m); the bootstrap resamples the columns
    with replacement ``boot`` times, refits the slope and takes the percentile interval of the exponent.
    For trained weights, whose entries are dependent, the interval is optimistic. A column whose second
    differences vanish at a lag (to rounding: a linear X, e.g. a zero or constant entry, or one periodic with
    that lag) has no scaling to fit and is left out of S, the interval and ``n_columns``; at least 4 remain.

    Args:
        weights: a tensor or numpy array (L, ..., p, q), e.g. (L, E, d, d) from ``path.weights(L)``, or a
            list/tuple of L tensors/arrays of one shape (stacked); for a module see :func:`from_module`.
            At least 8 layers, finite.
        lags: the lags m (integers, 2m <= L); default the dyadic 1, 2, 4, ... up to max(2, L/8).
        level: the confidence level of the interval, in (0, 1).
        boot: the number of bootstrap draws, at least 10; refused when they would not fit in memory or would take
            more than 10^7 steps (see :mod:`reslimit._memory`).
        seed: seeds numpy's generator of the bootstrap.

    Returns:
        A :class:`Regularity`, also with the maximum operator norm and the quadratic variation of the weights.

    Raises:
        ValueError: naming the argument: weights not (L, ..., p, q), ragged, with fewer than 8 layers or 4
            columns left (constant weights leave none), non-finite; bad lags, level, boot or seed; a
            bootstrap (boot) too big for the memory or the time.
    """
    V = _as_array(weights)
    layers = V.shape[0]
    lags = _default_lags(layers) if lags is None else _check_lags(lags, layers)
    level = _checks.real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    boot = _checks.positive_int("boot", boot, minimum=10)
    rng = np.random.default_rng(_checks.seed("seed", seed))

    columns = V.reshape(layers, -1)
    X = np.concatenate([np.zeros((1, columns.shape[1])), np.cumsum(columns, axis=0)])
    per_column = np.stack([np.mean((X[2 * m:] - 2 * X[m:-m] + X[:-2 * m]) ** 2, axis=0) for m in lags], axis=1)
    floor = (_ZERO * np.asarray(lags) * math.sqrt(np.mean(columns**2))) ** 2
    per_column = per_column[(per_column > floor).all(axis=1)]
    n_columns = per_column.shape[0]
    if n_columns < MIN_COLUMNS:
        raise ValueError(f"weights must have at least {MIN_COLUMNS} columns (batch members x p x q) whose second "
                         f"differences vanish at no lag, for the interval to resample; got {n_columns} of "
                         f"{columns.shape[1]} (weights constant in k, or zero, give a linear X and none)")
    _require_bootstrap(boot, n_columns, len(lags))
    S = per_column.mean(axis=0)

    x = np.log(np.asarray(lags, dtype=np.float64))
    x -= x.mean()

    def half_slope(s: np.ndarray) -> np.ndarray:
        return np.log(s) @ x / (2 * x @ x)

    draws = np.stack([np.bincount(rng.integers(0, n_columns, n_columns), minlength=n_columns) @ per_column
                      for _ in range(boot)]) / n_columns
    raw_draws = half_slope(draws)
    raw = float(half_slope(S))
    low, high = np.quantile(raw_draws, [(1 - level) / 2, (1 + level) / 2])

    norms = np.linalg.norm(V, ord=2, axis=(-2, -1))
    members = math.prod(V.shape[1:-2])
    return Regularity(
        exponent=min(raw, 1.0), ci_low=min(float(low), 1.0), ci_high=min(float(high), 1.0), raw_exponent=raw,
        se=float(raw_draws.std(ddof=1)), level=level, lags=tuple(lags), variogram=tuple(map(float, S)),
        max_norm=float(norms.max()), quadratic_variation=float(np.sum(np.diff(V, axis=0) ** 2) / members),
        n_layers=layers, n_columns=n_columns,
    )


def from_module(module: torch.nn.Module, pattern: str, **options) -> Regularity:
    """:func:`regularity` of the parameters of ``module`` whose names match ``pattern``, as layers in order.

    ``pattern`` is an fnmatch pattern on the names of ``module.named_parameters()`` (``*`` matches dots too):
    e.g. "layers.*.weight" for the weights of an ``nn.ModuleList`` called layers. The layers are the matches
    in the module's registration order (a ModuleList's index order). ``options`` go to :func:`regularity`.

    Raises:
        ValueError: module is not a torch module, pattern not a string, no parameter matches (the names are
            listed), or the matches make bad weights (see :func:`regularity`).
    """
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if not isinstance(pattern, str):
        raise ValueError(f"pattern must be a string (an fnmatch pattern on parameter names); got {pattern!r}")
    named = list(module.named_parameters())
    layers = [p for name, p in named if fnmatch.fnmatchcase(name, pattern)]
    if not layers:
        shown = ", ".join(name for name, _ in named[:10]) + (", ..." if len(named) > 10 else "")
        raise ValueError(f"pattern {pattern!r} matches no parameter of the module; its parameters: {shown or 'none'}")
    return regularity(layers, **options)


def describe_file(path: str | os.PathLike, key: str = "V", **options) -> str:
    """The text ``reslimit regularity FILE [--key V]`` prints: the file, then :meth:`Regularity.summary`.

    ``path`` is an .npz file (as ``reslimit simulate --save`` writes: V (L, E, d, d) the outer weights, W the
    inner ones of res-2 / res-3); ``key`` names the array to measure. ``options`` go to :func:`regularity`.

    Raises:
        ValueError: the file is missing or not an .npz archive (naming path), or has no array ``key`` (naming
            key and listing the arrays it has), or its array makes bad weights.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"path must be an existing .npz file; got {path!r}")
    try:
        archive = _checks.npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"path {str(path)!r} is not a readable .npz archive: {err}") from None
    if key not in archive:
        raise ValueError(f"key {key!r} is not an array of {str(path)!r}; it has {', '.join(archive)}")
    weights = archive[key]
    try:
        result = regularity(weights, **options)
    except ValueError as err:
        raise ValueError(f"{path} [{key}]: {err}") from None
    return f"{path} [{key}] shape {weights.shape}\n{result.summary()}"
