"""The type aliases of the public API's hints (the checks of ``_checks.py`` say what each accepts at run time)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Union

import numpy as np
import torch

DType = Union[torch.dtype, str]  # torch.float32 / torch.float64, or "float32" / "float64"
Device = Union[torch.device, str]  # "cpu", "cuda", "cuda:1", a torch.device
Times = Union[torch.Tensor, np.ndarray, Sequence[float], float]  # times in [0, 1]
States = Union[torch.Tensor, np.ndarray, Sequence]  # (E, batch, d) or (batch, d) states, or an array of numbers
Folder = Union[str, os.PathLike]  # a study folder or a file to write
ActivationSpec = Union[str, Callable]  # a name of ACTIVATIONS, "leaky_relu:<slope>", an Activation or a callable
