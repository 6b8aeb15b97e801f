"""Keyed random numbers: every draw is a pure function of (seed, key...), never of query order.

Each random object (a layer's weights, a node of a Brownian tree) gets its own 63-bit key mixed from the
study seed and its coordinates with SplitMix64, and is drawn from a generator re-seeded with that key.
So any depth, any chunk and any query order give the same numbers, and no global RNG state is touched.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import torch

_PARALLEL_MIN = 2**20  # draws of at least this many numbers are split over torch's threads

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix(seed: int, *parts: int) -> int:
    """A 63-bit key for the object at coordinates ``parts`` of the stream ``seed``."""
    h = _splitmix64(seed & _MASK)
    for p in parts:
        h = _splitmix64(h ^ (p & _MASK))
    return h >> 1


class KeyedNormal:
    """Draws tensors of i.i.d. standard normals (or other laws) keyed by integers.

    The numbers are drawn by CPU generators and copied to ``device``, so a path holds the same numbers on
    every device (torch's CUDA generator would give others) and ``.to(device)`` moves a path unchanged.

    Args:
        shape: shape of one draw, e.g. (ensemble, width, width).
        dtype, device: of the draws.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.device = torch.device(device)
        self._gens = [torch.Generator() for _ in range(torch.get_num_threads())]

    def fill(self, out: torch.Tensor, key: int, dist: str = "gaussian", gen: int = 0) -> torch.Tensor:
        """Fill ``out`` (of ``self.shape``) with the draw of law ``dist`` keyed by ``key``; unit variance.

        Gaussians are drawn in float32 (torch's vectorised Box-Muller, 3x faster than float64 on a CPU)
        and widened, so float32 and float64 paths of one seed hold the same numbers.
        """
        if out.device.type != "cpu":  # drawn on the CPU, then copied: the same numbers on every device
            return out.copy_(self.fill(torch.empty(out.shape, dtype=out.dtype), key, dist, gen))
        g = self._gens[gen]
        g.manual_seed(key)
        if dist == "gaussian":
            if out.dtype == torch.float32:
                return out.normal_(generator=g)
            return out.copy_(torch.empty(out.shape, dtype=torch.float32).normal_(generator=g))
        if dist == "uniform":  # U(-sqrt 3, sqrt 3): mean 0, variance 1
            return out.uniform_(-(3.0**0.5), 3.0**0.5, generator=g)
        if dist == "rademacher":
            return out.bernoulli_(0.5, generator=g).mul_(2.0).sub_(1.0)
        raise ValueError(f"dist must be one of 'gaussian', 'uniform', 'rademacher'; got {dist!r}")

    def draw(self, keys, dist: str = "gaussian") -> torch.Tensor:
        """Stack the draws for each key in ``keys``: shape (len(keys), *self.shape).

        Large draws are split over torch's threads, one generator each; every slice is still keyed by its
        own key, so the numbers do not depend on the number of threads. Drawn on the CPU, then moved.
        """
        out = torch.empty((len(keys), *self.shape), dtype=self.dtype)
        workers = len(self._gens) if out.numel() >= _PARALLEL_MIN else 1

        def part(w: int) -> None:
            for i in range(w, len(keys), workers):
                self.fill(out[i], keys[i], dist, gen=w)

        if workers == 1:
            part(0)
        else:
            list(_pool(workers).map(part, range(workers)))
        return out.to(self.device)


# The sub-streams of a seed, one per kind of random object: every entry point (ScaledResNet, simulate, the
# studies, converge) derives them from the user's seed through substream, so seed s builds the same network.
STREAMS = {"outer": 0, "inner": 1, "inputs": 2, "readout": 3, "targets": 4, "input_layer": 5, "output_layer": 6,
           "bootstrap": 7, "chunks": 8, "batches": 9, "masks": 10}


def substream(seed: int, name: str) -> int:
    """The seed (in [0, 2^62)) of the sub-stream ``name`` (a key of STREAMS) of the user's ``seed``."""
    return mix(seed, STREAMS[name]) % 2**62


def normal(shape, seed: int, name: str, dtype: torch.dtype = torch.float64, device="cpu") -> torch.Tensor:
    """Standard normals of ``shape`` keyed by the sub-stream ``name`` of ``seed`` (inputs, targets...)."""
    return KeyedNormal(tuple(shape), dtype, torch.device(device)).draw([substream(seed, name)])[0]


@lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="reslimit-draw")
