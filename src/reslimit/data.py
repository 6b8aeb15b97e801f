"""Data that ships, no download: scikit-learn's digits, a synthetic teacher task, and a user's own arrays.

Every builder returns a :class:`Dataset`: a train/test split whose features are standardised with the
training split's statistics,

    X <- (X - mean) / std,   mean, std = the per-feature mean and (population) std of the training rows,

where a feature constant on the training rows (e.g. digits' always-blank corner pixels) is only
centred (std taken as 1). The test rows use the same mean and std, so their mean is close to 0, not exactly 0.
Targets are not rescaled. Splits are made by ``sklearn.model_selection.train_test_split`` with
``random_state = seed mod 2^32`` (the range scikit-learn takes), stratified by class for classification:
``ceil(test_fraction n)`` rows go to the test split.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from . import _checks
from ._rng import normal
from ._types import Device, DType, Folder
from .resnet import ScaledResNet

Tensor = torch.Tensor
Array = Union[Tensor, np.ndarray, Sequence]  # a tensor, a numpy array or nested lists of numbers
TASKS = ("classification", "regression")
MIN_SAMPLES = 10  # fewer rows than this are refused
NPZ_KEYS = "an .npz for reslimit needs X (n, features) and y (n,); X_test and y_test (optional, together) keep a split"


@dataclass(frozen=True)
class Dataset:
    """A train/test split: features standardised with the training split's mean and std, and targets.

    Attributes:
        X_train, X_test: features, float tensors of shape (n_train, input_dim) and (n_test, input_dim).
        y_train, y_test: int64 class indices 0..n_classes-1 of shape (n,) for classification; float targets
            of shape (n, output_dim) for regression.
        task: "classification" or "regression".
        name: where the data came from ("digits", "synthetic", an .npz file's name, "arrays").
        mean, std: the training split's per-feature statistics the features were standardised with (shape
            (input_dim,); std 1 where a feature is constant): a new input x is fed as (x - mean) / std.
        classes: the original labels, sorted, of class indices 0, 1, ... (None for regression).
    """

    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    task: str
    name: str
    mean: Tensor
    std: Tensor
    classes: tuple | None = None

    @property
    def n_classes(self) -> int | None:
        """The number of classes (None for regression)."""
        return None if self.classes is None else len(self.classes)

    @property
    def input_dim(self) -> int:
        """The number of features."""
        return self.X_train.shape[1]

    @property
    def output_dim(self) -> int:
        """What a network's output layer needs: n_classes (classification) or the target dimension."""
        n = self.n_classes
        return n if self.task == "classification" and n is not None else self.y_train.shape[1]

    def to(self, device: Device | None = None, dtype: DType | None = None) -> Dataset:
        """A copy on ``device`` whose float tensors (features, statistics, regression targets) have ``dtype``;
        None keeps each as it is. Class labels stay int64."""
        device = None if device is None else _checks.device("device", device)
        dtype = None if dtype is None else _checks.dtype(dtype)

        def move(t: Tensor) -> Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        moved: dict[str, Any] = {f: move(getattr(self, f)) for f in
                                 ("X_train", "y_train", "X_test", "y_test", "mean", "std")}
        return dataclasses.replace(self, **moved)

    def __repr__(self) -> str:
        kind = f"{self.n_classes} classes" if self.task == "classification" else f"output_dim={self.output_dim}"
        return (f"Dataset({self.name!r}, {self.task}, {kind}, input_dim={self.input_dim}, "
                f"train={len(self.X_train)}, test={len(self.X_test)}, dtype={self.X_train.dtype})")


def digits(*, seed: int = 0, test_fraction: float = 0.2, dtype: DType = torch.float32) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of 8x8 pixels (values 0..16, flattened to 64 features),
    10 classes, shipped inside scikit-learn (no download).

    Split stratified by class, ``random_state = seed mod 2^32``; test_fraction 0.2 gives 1,437 training and
    360 test images. Pixels are standardised with the training split's statistics (module docstring).
    """
    X, y = _digits()
    return from_arrays(X, y, task="classification", seed=seed, test_fraction=test_fraction, dtype=dtype,
                       name="digits")


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, read once a process (a sweep splits them once per seed and depth), read-only."""
    X, y = load_digits(return_X_y=True)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def synthetic(*, n: int = 1000, input_dim: int = 8, output_dim: int = 1, depth: int = 8, width: int = 32,
              noise: float = 0.1, seed: int = 0, test_fraction: float = 0.2, dtype: DType = torch.float32) -> Dataset:
    """A regression task whose targets come from a random teacher network:

        x ~ N(0, I_input_dim),   y = B h_depth + noise * eps,   eps ~ N(0, I_output_dim),

    with h_0 = A x and h_{k+1} = h_k + depth^-1/2 V_{k+1} tanh(W_{k+1} h_k), the teacher being
    ``ScaledResNet(depth, width, beta=0.5, block="res2", activation="tanh", seed=seed, input_dim=input_dim,
    output_dim=output_dim)`` in float64 (A, V, W, B i.i.d. Gaussian, A and B with variance 1/fan_in). x and eps
    are drawn from the seed table's streams "inputs" and "targets" of ``seed``. The split is unstratified
    (``random_state = seed mod 2^32``); the student sees x standardised with the training split's statistics.
    """
    n = _checks.positive_int("n", n, MIN_SAMPLES)
    input_dim = _checks.positive_int("input_dim", input_dim)
    output_dim = _checks.positive_int("output_dim", output_dim)
    noise = _checks.real("noise", noise, low=0.0)
    seed = _checks.seed("seed", seed)
    teacher = ScaledResNet(depth, width, beta=0.5, block="res2", activation="tanh", seed=seed, input_dim=input_dim,
                           output_dim=output_dim)
    X = normal((n, input_dim), seed, "inputs")
    with torch.no_grad():
        y = teacher(X)[0] + noise * normal((n, output_dim), seed, "targets")
    return from_arrays(X, y, task="regression", seed=seed, test_fraction=test_fraction, dtype=dtype,
                       name="synthetic")


def from_arrays(X: Array, y: Array, *, X_test: Array | None = None, y_test: Array | None = None,
                task: str | None = None, seed: int = 0, test_fraction: float = 0.2, dtype: DType = torch.float32,
                name: str = "arrays") -> Dataset:
    """A Dataset from numpy arrays or torch tensors.

    Args:
        X: features of shape (n, features); images (n, h, w, ...) are flattened to (n, h * w * ...).
        y: class labels (n,) or regression targets (n,) / (n, output_dim), as many rows as X.
        X_test, y_test: a test split to keep (both or neither); without them the rows of X, y are split.
        task: "classification" or "regression"; None infers it from y: integer (or bool) labels mean
            classification, floats regression (pass task="classification" for labels stored as 0.0, 1.0...).
            Class labels may be any integers: they become indices 0..K-1 in sorted order (``Dataset.classes``).
        seed: of the split, ``random_state = seed mod 2^32``, stratified by class for classification.
        test_fraction: in (0, 1): ceil(test_fraction n) rows go to the test split (ignored with X_test).
        dtype: of the features (and regression targets): torch.float32 or torch.float64.
        name: the Dataset's name.

    Raises:
        ValueError: naming the array and what is allowed, on: X not numeric or 1-D, y not (n,) / (n, k),
            mismatched lengths, NaN or inf, fewer than 10 rows, a single class, a class too small for a
            stratified split (2 rows, and at least one per class on each side), test labels not among y's.
    """
    arrays = {"X": X, "y": y, "X_test": X_test, "y_test": y_test}
    return _build(arrays, "{}", task=task, seed=seed, test_fraction=test_fraction, dtype=dtype, name=name)


def load_npz(path: Folder, *, task: str | None = None, seed: int = 0, test_fraction: float = 0.2,
             dtype: DType = torch.float32) -> Dataset:
    """A Dataset from an .npz file (``np.savez(path, X=..., y=...)``) holding arrays X (n, features) and
    y (n,), and optionally X_test and y_test (together): that split is then kept and test_fraction ignored.
    The other options are those of :func:`from_arrays`; errors name the file and the array.
    """
    path = _checks.folder("path", path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file; {NPZ_KEYS}")
    try:
        arrays = _checks.npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not an .npz file numpy can read ({e}); {NPZ_KEYS}") from None
    for key in ("X", "y"):
        if key not in arrays:
            raise ValueError(f"{path} has no array {key!r} (it holds {sorted(arrays)}); {NPZ_KEYS}")
    arrays = {key: arrays.get(key) for key in ("X", "y", "X_test", "y_test")}
    return _build(arrays, f"{path}[{{!r}}]", task=task, seed=seed, test_fraction=test_fraction, dtype=dtype,
                  name=path.name)


DATASETS = {"digits": digits, "synthetic": synthetic}  # the names get_data takes besides a path to an .npz file


def get_data(spec: Folder, **options) -> Dataset:
    """The data ``reslimit train --data`` names: "digits" (:func:`digits`), "synthetic" (:func:`synthetic`) or a
    path to an .npz file (:func:`load_npz`); ``options`` go to that function."""
    if isinstance(spec, str) and spec in DATASETS:
        return DATASETS[spec](**options)
    if isinstance(spec, (str, os.PathLike)) and (os.fspath(spec).endswith(".npz") or os.path.isfile(spec)):
        return load_npz(spec, **options)
    raise ValueError(f"data must be 'digits', 'synthetic' or the path of an .npz file; got {spec!r}")


def _build(arrays: dict, where: str, *, task, seed, test_fraction, dtype, name) -> Dataset:
    """Check and split the arrays X, y (X_test, y_test); ``where.format(key)`` names an array in errors."""
    label = where.format
    seed = _checks.seed("seed", seed)
    test_fraction = _checks.real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    dtype = _checks.dtype(dtype)
    if task is not None:
        _checks.choice("task", task, TASKS)
    if (arrays["X_test"] is None) != (arrays["y_test"] is None):
        given, missing = ("X_test", "y_test") if arrays["y_test"] is None else ("y_test", "X_test")
        raise ValueError(f"{label(given)} was given without {label(missing)}: give both to keep a test split, "
                         "or neither to split X and y")
    X, y = _features(label("X"), arrays["X"]), _checks.real_array(label("y"), arrays["y"])
    _same_rows(label("X"), X, label("y"), y)
    if len(X) < MIN_SAMPLES:
        raise ValueError(f"{label('X')} has {len(X)} rows; at least {MIN_SAMPLES} are needed")
    if task is None:
        task = "classification" if y.dtype.kind in "biu" else "regression"
    split = arrays["X_test"] is not None
    if split:
        X_test = _features(label("X_test"), arrays["X_test"])
        y_test = _checks.real_array(label("y_test"), arrays["y_test"])
        _same_rows(label("X_test"), X_test, label("y_test"), y_test)
        if len(X_test) == 0 or X_test.shape[1] != X.shape[1]:
            raise ValueError(f"{label('X_test')} must have rows of {label('X')}'s {X.shape[1]} features; "
                             f"got shape {X_test.shape}")
    if task == "classification":
        classes = np.unique(_labels(label("y"), y))
        if len(classes) < 2:
            raise ValueError(f"{label('y')} holds a single class ({classes[0].item()!r}); classification needs "
                             "at least 2 (use task='regression' for real-valued targets)")
        if split:
            y_test = _labels(label("y_test"), y_test)
            unknown = np.setdiff1d(y_test, classes)
            if len(unknown):
                raise ValueError(f"{label('y_test')} holds labels that {label('y')} has not: "
                                 f"{unknown[:10].tolist()}")
            y_test = np.searchsorted(classes, y_test)
        y = np.searchsorted(classes, y)
    else:
        classes = None
        y = _targets(label("y"), y)
        if split:
            y_test = _targets(label("y_test"), y_test)
            if y_test.shape[1] != y.shape[1]:
                raise ValueError(f"{label('y_test')} must have {label('y')}'s {y.shape[1]} target columns; "
                                 f"got shape {y_test.shape}")
    if not split:
        train, test = _split(label("y"), None if classes is None else y, classes, len(X), test_fraction, seed)
        X, X_test, y, y_test = X[train], X[test], y[train], y[test]
    mean, std = _statistics(label("X"), X)
    X, X_test = (X - mean) / std, (X_test - mean) / std
    target = torch.int64 if classes is not None else dtype
    return Dataset(torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=target),
                   torch.as_tensor(X_test, dtype=dtype), torch.as_tensor(y_test, dtype=target), task, name,
                   torch.as_tensor(mean, dtype=dtype), torch.as_tensor(std, dtype=dtype),
                   None if classes is None else tuple(c.item() for c in classes))


def _features(name: str, value) -> np.ndarray:
    """Features as float64 (n, features): 2-D as given, (n, h, w, ...) flattened."""
    X = _checks.real_array(name, value)
    if X.ndim < 2:
        raise ValueError(f"{name} must be 2-D (n, features), or (n, h, w, ...) images to flatten; got shape "
                         f"{X.shape}" + (" (one feature per row: X.reshape(-1, 1))" if X.ndim == 1 else ""))
    if X.shape[1:].count(0):
        raise ValueError(f"{name} must have at least one feature; got shape {X.shape}")
    if len(X) == 0:
        raise ValueError(f"{name} has no rows; at least {MIN_SAMPLES} are needed")
    return X.reshape(len(X), -1).astype(np.float64)


def _statistics(name: str, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-feature mean and std of the training rows ``X``, std 1 for a constant feature; a ValueError naming
    ``name`` and the feature whose std float64 cannot hold (values so small that it underflows, or so large
    that their squares overflow)."""
    with np.errstate(all="ignore"):
        mean, std = X.mean(0), X.std(0)
    constant = X.min(0) == X.max(0)
    bad = ~constant & ~((std >= np.finfo(np.float64).tiny) & np.isfinite(std) & np.isfinite(mean))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}'s feature {j} (of the training rows) has a std float64 cannot hold (values from "
                         f"{X[:, j].min():.3g} to {X[:, j].max():.3g}); rescale it to magnitudes between 1e-150 and "
                         "1e150")
    std[constant] = 1.0  # constant features: only centred
    return mean, std


def _same_rows(x_name: str, X: np.ndarray, y_name: str, y: np.ndarray) -> None:
    if y.ndim == 0 or len(y) != len(X):
        raise ValueError(f"{x_name} and {y_name} must have the same number of rows (samples); got {len(X)} rows "
                         f"in {x_name} and shape {y.shape} for {y_name}")


def _labels(name: str, y: np.ndarray) -> np.ndarray:
    """Class labels: a 1-D array of integers (floats allowed where they are whole numbers)."""
    if y.ndim != 1:
        raise ValueError(f"{name} must hold one class label per row, shape (n,); got shape {y.shape}")
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise ValueError(f"{name} must hold integer class labels for task='classification'; got "
                         f"{y[y != np.round(y)][0].item()!r} (use task='regression' for real-valued targets)")
    return y.astype(np.int64)


def _targets(name: str, y: np.ndarray) -> np.ndarray:
    """Regression targets as float64 (n, output_dim): (n,) becomes (n, 1)."""
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise ValueError(f"{name} must hold regression targets of shape (n,) or (n, output_dim); got shape {y.shape}")
    return y.reshape(len(y), -1).astype(np.float64)


def _split(name: str, labels: np.ndarray | None, classes, n: int, test_fraction: float, seed: int):
    """Train and test row indices: ceil(test_fraction n) test rows, stratified by the class indices ``labels``
    (of the original labels ``classes``) unless None."""
    n_test = math.ceil(test_fraction * n)
    if n_test >= n:
        raise ValueError(f"test_fraction={test_fraction} leaves no training row of {n}; it must be at most "
                         f"(n - 1)/n = {(n - 1) / n:.6g}")
    if labels is not None:
        counts = np.bincount(labels)
        if counts.min() < 2:
            raise ValueError(f"{name}'s class {classes[counts.argmin()].item()!r} has a single row; a stratified "
                             "split needs at least 2 per class (drop that class, or give X_test and y_test)")
        if min(n_test, n - n_test) < len(counts):
            raise ValueError(f"a stratified split of {n} rows with test_fraction={test_fraction} gives "
                             f"{n - n_test} training and {n_test} test rows, fewer than the {len(counts)} classes; "
                             "each side needs a row of every class (change test_fraction or give X_test and y_test)")
    return train_test_split(np.arange(n), test_size=n_test, stratify=labels, random_state=seed % 2**32)
