"""The rate of a convergence: the slope of log(mean error) on log(depth), with a bootstrap interval.

    slope = argmin_s min_c sum_L (log mean_m e_{L,m} - c - s log L)^2

over the depths L whose mean error is above the float floor (rounding, not discretisation), and its percentile
interval over ``boot`` resamplings of the samples m (the columns of the errors). A leaf: the comparator, the
studies and the claims all fit their rates here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _checks, _memory

# errors below this are rounding, not discretisation: left out of the fit (per dtype of the study)
FLOAT_FLOOR = {"float64": 1e-12, "float32": 1e-5}


@dataclass(frozen=True)
class Rate:
    """A fitted slope of log(mean error) on log(depth), with its bootstrap interval."""

    slope: float
    ci_low: float
    ci_high: float


def fit_rate(depths: Sequence[int] | np.ndarray, errors: np.ndarray, *, boot: int = 1000, seed: int = 0,
             level: float = 0.95, floor: float = FLOAT_FLOOR["float64"]) -> Rate:
    """Least-squares slope of log(mean_m errors[:, m]) on log(depths), bootstrap over the samples m.

    Args:
        depths: (K,) depths L.
        errors: (K, M) errors per depth and sample.
        boot: bootstrap resamplings of the M samples; seed: their generator's seed; level: of the interval.
        floor: depths whose mean error is at most this (rounding, not discretisation) are left out.

    Raises:
        ValueError: fewer than 2 depths have a mean error above ``floor``; ``boot`` not a positive integer, or its
            resamplings (boot x (K + 1) x M x 8 bytes) too big for the memory.
    """
    depths, errors = np.asarray(depths, dtype=float), np.asarray(errors, dtype=float)
    keep = errors.mean(1) > floor
    if keep.sum() < 2:
        raise ValueError("fewer than 2 depths have errors above the float floor: nothing to fit")
    x, err = np.log(depths[keep]), errors[keep]
    slope = np.polyfit(x, np.log(err.mean(1)), 1)[0]
    boot = _checks.positive_int("boot", boot)
    _memory.require(8 * boot * err.size + 8 * boot * err.shape[1], "the bootstrap's resampled errors (boot x "
                    "(depths + 1) x samples x 8 bytes)", f"boot={boot}", "use fewer bootstrap resamplings")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, err.shape[1], size=(boot, err.shape[1]))
    boot_means = np.log(err[:, idx].mean(2))  # (K, boot)
    boot_slopes = np.polyfit(x, boot_means, 1)[0]
    lo, hi = np.quantile(boot_slopes, [(1 - level) / 2, (1 + level) / 2])
    return Rate(float(slope), float(lo), float(hi))
