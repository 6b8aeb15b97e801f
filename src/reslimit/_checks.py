"""Argument checks shared by the public entry points: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    return positive_int(name, value, minimum=0)


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real in the interval given by low/high (open ends where asked)."""
    lo_br, hi_br = ("(" if low_open else "["), (")" if high_open else "]")
    allowed = f"a real number in {lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return v


def choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def dtype(value) -> torch.dtype:
    if isinstance(value, str):
        value = DTYPES.get(value, value)
    if value not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {value!r}")
    return value
