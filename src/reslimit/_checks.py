"""Argument checks shared by the public entry points: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed's range, as numpy's and Python's generators take it too
INT_MAX = 2**63 - 1  # a count (depth, width, epochs...) above this fits no int64 tensor size nor a float's exactness
LR_MAX = 1e30  # learning rates: float32 optimizers multiply gradients by lr (float32 overflows at 3.4e38)
LENGTHSCALE = (1e-300, 1e300)  # the smooth path's arithmetic (c l, c / (h l)) stays finite inside
SLOPE_MAX = 100.0  # |slope| of "leaky_relu:<slope>": beyond it a deep network's states overflow float64
SLOPE = f"a slope in [-{SLOPE_MAX:g}, {SLOPE_MAX:g}]"  # what leaky_relu:<slope> takes, for errors


def positive_int(name: str, value, minimum: int = 1) -> int:
    """An integer in [minimum, 2^63 - 1] (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if int(value) > INT_MAX:
        raise ValueError(f"{name} must be an integer in [{minimum}, 2^63 - 1]; got {_shown(value)}")
    return int(value)


def _shown(value) -> str:
    """``repr(value)``, or its number of digits for an integer too long to read in a message."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(int(value)) >= 10**30:
        return f"an integer of {len(str(abs(int(value))))} digits"
    return repr(value)


def lengthscale(value) -> float:
    """The length scale l of a smooth path: a real in [1e-300, 1e300]."""
    return real("lengthscale", value, low=LENGTHSCALE[0], high=LENGTHSCALE[1])


def leaky_slope(spec) -> float | None:
    """The slope s of ``spec`` = "leaky_relu:<s>" when it is a number with |s| <= 100; None otherwise (the caller
    names what it takes)."""
    try:
        slope = float(spec.split(":", 1)[1])
    except (ValueError, IndexError, AttributeError):
        return None
    return slope if abs(slope) <= SLOPE_MAX else None  # nan and +-inf fail too


def learning_rate(name: str, value) -> float:
    """A learning rate: a real in (0, 1e30]."""
    return real(name, value, low=0.0, high=LR_MAX, low_open=True)


def hidden(value, width: int, block) -> int:
    """The hidden width M of V (d x M) and W (M x d): ``value``, an integer >= 1, or None for M = ``width``; refused
    for a ``block`` without inner weights (its ``inner`` False: g(h) = sigma(h) is in R^d)."""
    if value is None:
        return width
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"hidden must be an integer >= 1 (the hidden width M: V is d x M, W is M x d) or None "
                         f"(M = width); got {value!r}")
    positive_int("hidden", value)  # at most 2^63 - 1
    if not block.inner:
        raise ValueError(f"hidden must be None for block {block.name!r} ({block.formula}), which has no inner "
                         f"weights W: its g is in R^d, V is d x d; got hidden={value!r}")
    return int(value)


def seed(name: str, value) -> int:
    """A seed: an integer in [0, 2^63 - 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= SEED_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2^63 - 1]; got {_shown(value)}")
    return int(value)


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


def folder(name: str, value) -> Path:
    """A path to write into: a non-empty str or os.PathLike (an empty one would mean the current folder)."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(f"{name} must be a non-empty path; got {value!r}")
    return Path(value)


def file_in_folder(name: str, value) -> Path:
    """A file to write: a non-empty path (:func:`folder`) whose folder exists."""
    path = folder(name, value)
    if not path.resolve().parent.is_dir():
        raise ValueError(f"{name}: the folder of {str(path)!r} does not exist; create it or write elsewhere")
    return path


def npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of the .npz file at ``path``, read without unpickling (``np.load(allow_pickle=False)``), as a dict.

    An .npz file is a zip archive of .npy arrays: a file that does not start as one (a text file, an .npy array, a
    pickle) is refused by its first bytes, before numpy would take it for a pickle and say so; the ValueError
    says what the file holds, and the caller names the file.
    """
    with open(path, "rb") as f:  # ours to close, also when a damaged zip makes np.load raise
        head = f.read(6)
        if head.startswith(b"\x93NUMPY"):
            raise ValueError("it holds a single array (an .npy file), not an archive of named arrays")
        if not head.startswith(b"PK"):
            raise ValueError(f"it is not np.savez's zip of arrays: it starts {head!r}")
        f.seek(0)
        with np.load(f, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}


def real_array(name: str, value) -> np.ndarray:
    """``value`` (an array, a tensor, nested lists) as a numpy array of real numbers or bools, all finite; a
    ValueError naming ``name`` for a ragged, complex, string or object array, or a NaN or an inf."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name} must hold real numbers; got a tensor of dtype {value.dtype}")
        value = value.detach().cpu()
        value = (value if value.dtype in (torch.float32, torch.float64) or not value.is_floating_point()
                 else value.double()).numpy()
    try:
        value = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise ValueError(f"{name} must be an array of real numbers; got ragged {type(value).__name__}") from None
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; got an array of dtype {value.dtype}")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = "NaN" if np.isnan(value).any() else "inf"
        raise ValueError(f"{name} must hold finite numbers; it contains {bad}")
    return value


def dtype(value) -> torch.dtype:
    """torch.float32 or torch.float64, given as such or by name ("float32", "float64")."""
    if isinstance(value, str):
        value = DTYPES.get(value, value)
    if value not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64 (or 'float32', 'float64'); got {value!r}")
    return value


def device(name: str, value) -> torch.device:
    """A torch device ("cpu", "cuda", "cuda:1", a torch.device...) that this torch can use."""
    try:
        value = torch.device(value)
    except (TypeError, RuntimeError, ValueError):
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda:0'; got {value!r}") from None
    if value.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {str(value)!r} is not available: this torch sees no CUDA device; use 'cpu'")
    if value.type == "cuda" and (value.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"{name} {str(value)!r} is not available: this torch sees {torch.cuda.device_count()} CUDA "
                         f"device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if value.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} {str(value)!r} is not available: this torch has no MPS backend; use 'cpu'")
    if value.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'mps' (with an index, e.g. 'cuda:0'); got {str(value)!r}")
    return value


def state(name: str, value, *, ensemble: int, width: int, dtype: torch.dtype, device, owner: str) -> torch.Tensor:
    """A batch of states, shape (ensemble, batch, width), every entry finite.

    ``value`` is a tensor of ``dtype`` on ``device`` (those of ``owner``, e.g. "the path"), or an array of
    numbers (numpy array, nested lists) converted to one; shape (ensemble, batch, width), or (batch, width)
    fed to every ensemble member.
    """
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(_numbers(name, value, "a tensor or an array of numbers"), dtype=dtype, device=device)
    if value.dim() not in (2, 3) or value.shape[-1] != width or (value.dim() == 3 and value.shape[0] != ensemble):
        shape = (ensemble, *value.shape) if value.dim() == 2 else tuple(value.shape)
        raise ValueError(f"{name} must have shape (ensemble={ensemble}, batch, {width}) or (batch, {width}); "
                         f"got {shape}")
    if value.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} like {owner}; got {value.dtype}")
    device = torch.device(device)
    if value.device.type != device.type or device.index not in (None, value.device.index):
        raise ValueError(f"{name} must be on device {device} like {owner}; got {value.device}")
    _finite(name, value)  # on the states given, before the expansion to every member
    return value.expand(ensemble, *value.shape) if value.dim() == 2 else value


def times(name: str, value, *, dtype: torch.dtype, device) -> torch.Tensor:
    """Times in [0, 1], strictly increasing: a non-empty 1-D tensor, array or list, returned as a tensor of
    ``dtype`` on ``device`` (strictly increasing in that dtype too)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
    ts = torch.as_tensor(_numbers(name, value, "a 1-D sequence of times"), dtype=dtype, device=device)
    if ts.dim() != 1 or len(ts) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of times; got shape {tuple(ts.shape)}")
    _finite(name, ts)
    if ts.min() < 0 or ts.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1]; got times from {ts.min().item()!r} to {ts.max().item()!r}")
    steps = ts.diff()
    if (steps <= 0).any():
        i = int(torch.nonzero(steps <= 0)[0, 0])
        raise ValueError(f"{name} must be strictly increasing (in {dtype}); got {name}[{i}] = {ts[i].item()!r} "
                         f"followed by {ts[i + 1].item()!r}")
    return ts


def on_grid(name: str, ts: torch.Tensor, steps: int, owner: str) -> list[int]:
    """The integers k with ts = k / steps, for times ``ts`` checked by :func:`times`; a ValueError naming ``name``
    and ``owner`` (what has the grid) when a time is off the grid."""
    scaled = ts.detach().double().cpu() * steps
    k = scaled.round()
    off = (scaled - k).abs() > 4 * torch.finfo(ts.dtype).eps * steps
    if off.any():
        i = int(torch.nonzero(off)[0, 0])
        raise ValueError(f"{name} must lie on the grid k/{steps} of {owner}; got {name}[{i}] = {ts[i].item()!r}")
    return [int(v) for v in k.tolist()]


def every_times(steps: int, every, dtype: torch.dtype, device) -> torch.Tensor:
    """The times k * every / steps, k = 0..steps/every, for ``every`` a positive divisor of ``steps``."""
    every = positive_int("every", every)
    if steps % every:
        raise ValueError(f"every must divide steps={steps}; got {every}")
    return torch.arange(0, steps + 1, every, dtype=torch.float64).div_(steps).to(device, dtype)


def _numbers(name: str, value, wanted: str) -> np.ndarray:
    """``value`` as a float64 numpy array, or ValueError naming ``name``."""
    try:
        if np.iscomplexobj(value):
            raise TypeError
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {wanted}; got {type(value).__name__}") from None


def _finite(name: str, value: torch.Tensor) -> None:
    """ValueError naming ``name`` if ``value`` holds a NaN or an inf. A finite sum proves every entry finite (a NaN
    or an inf makes the sum NaN or inf), in one pass and with no boolean tensor; only a sum that overflows or is
    not finite is checked entry by entry."""
    if value.is_floating_point() and torch.isfinite(value.sum()):
        return
    if not torch.isfinite(value).all():
        bad = "NaN" if torch.isnan(value).any() else "inf"
        raise ValueError(f"{name} must hold finite numbers; it contains {bad}")
