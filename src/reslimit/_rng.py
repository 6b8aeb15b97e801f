"""Keyed random numbers: every draw is a pure function of (seed, key...), never of query order.

Each random object (a layer's weights, a node of a Brownian tree) gets its own 63-bit key mixed from the
study seed and its coordinates with SplitMix64 (:func:`mix`), and its numbers are those of a counter-based
generator, Philox4x32-10 (Salmon, Moraes, Dror and Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3"),
under that key: number i of the draw keyed by K is a function of (K, i) alone, so any depth, chunk, query
order, thread count or machine gives the same numbers, and no global RNG state is touched.

Philox4x32-10. With (k0, k1) = (K mod 2^32, K div 2^32) and the counter of number i,
j = i div 4, as the block (c0, c1, c2, c3) = (j mod 2^32, j div 2^32, 0, 0), ten rounds

    (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)),

(hi, lo: the top and bottom 32 bits of the 64-bit product; M0 = 0xD2511F53, M1 = 0xCD9E8D57), the key
bumped by (W0, W1) = (0x9E3779B9, 0xBB67AE85) mod 2^32 between rounds, give the words (w0, w1, w2, w3).
Number i is a float32 made from word w_(i mod 4), or for gaussians from the pair (w0, w1) when i mod 4 < 2
and (w2, w3) else, by float32 operations each rounded to nearest (no fused multiply-add):

- "uniform": (2 k + 1) sqrt(3) 2^-24 with k = int32(w) >> 8 in [-2^23, 2^23): U(-sqrt 3, sqrt 3) on a
  symmetric grid of 2^24 points, mean 0 exactly, variance 3 (1 - 2^-48).
- "rademacher": -1 where w's top bit is set, else 1.
- "gaussian": Box-Muller on the pair (a, b): z = r cos(theta) (i even), r sin(theta) (i odd), with
  r = sqrt(-2 log u), u = float32(a) 2^-32 + 2^-33 in [2^-33, 1] (all 32 bits of a: |z| <= sqrt(66 log 2)
  = 6.76, a cut-off of probability 1.4e-11; near it the law is that of a's discrete grid),
  theta = 2 pi b / 2^32 = (pi / 2)(q + f), q = ((b + 2^29) >> 30) mod 4 and f = int32(4 b mod 2^32) 2^-32
  in [-1/2, 1/2) (the reduction is exact, in integers), (cos, sin)(theta) = (c, s), (-s, c), (-c, -s),
  (s, -c) for q = 0, 1, 2, 3, where s = f S(f^2) ~ sin(pi f / 2) and c = C(f^2) ~ cos(pi f / 2) are
  polynomials of degree 7 and 8 fitted here (errors within 1.7 and 1.3 ulp), and
  log u = e log 2 + log m with u = 2^e m, m in [sqrt(1/2), sqrt 2) (Cephes' logf: x = m - 1,
  log m = x - x^2 / 2 + x^3 P(x), within 1 ulp or so; log 2 split in two).

The compiled version (``random.c``, built into the library of :mod:`reslimit.native` and vectorised, on
torch's OpenMP threads) and :func:`_torch_draw`, the same operations in torch where no library can be built,
give the same bits (tests/test_rng.py). ``RESLIMIT_NATIVE=0`` switches off the compiled pass, not the
generator, whose numbers are the same either way. float64 draws hold the float32 numbers widened, so float32
and float64 paths of one seed hold the same numbers. Philox replaced torch's Mersenne Twister, re-seeded with
each key, in issue 17 (commit 4cbd603; README.md, "Continuous limits and the comparator"): every seed's
numbers changed then.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import torch

from . import native

_MASK = (1 << 64) - 1
_WORD = (1 << 32) - 1
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
LAWS = {"gaussian": 1, "uniform": 2, "rademacher": 3}  # random.c's codes; 0: the bare words
_PARALLEL_MIN = 2**16  # draws of at least this many numbers run on torch's threads
_CHUNK = 2**18  # counters per step of the torch version
# random.c's float32 constants: sqrt 2, sqrt(3) 2^-24, the low part of log 2, then its polynomials' coefficients
_SQRT2, _SQRT3_24, _LOG2_LOW = map(float.fromhex, ("0x1.6a09e6p+0", "0x1.bb67aep-24", "-0x1.bd0106p-13"))
_LOG_P = tuple(map(float.fromhex, ("0x1.204376p-4", "-0x1.d7a370p-4", "0x1.de4a34p-4", "-0x1.fcba9ep-4",
                                   "0x1.23d37ep-3", "-0x1.555ca0p-3", "0x1.999d58p-3", "-0x1.fffff8p-3",
                                   "0x1.555554p-2")))
_SIN = tuple(map(float.fromhex, ("-0x1.2d930cp-8", "0x1.465e92p-4", "-0x1.4abbbap-1", "0x1.921fb6p+0")))
_COS = tuple(map(float.fromhex, ("0x1.d99f54p-11", "-0x1.55c4eap-6", "0x1.03c1dap-2", "-0x1.3bd3ccp+0", "1.0")))


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


def philox(out: torch.Tensor, keys: Sequence[int], dist: str = "gaussian", start: int = 0,
           scale: float = 1.0) -> torch.Tensor:
    """Fill ``out``, a contiguous float32 CPU tensor of len(keys) rows of n numbers, with numbers start .. start
    + n - 1 of each key's draw of law ``dist`` ("gaussian", "uniform", "rademacher"; "bits": the words
    themselves, as float32's bytes), times float32(``scale``) (rounded to float32, as torch's ``mul_`` rounds;
    not the bits). Compiled where the library builds, else :func:`_torch_draw`: the same bits.
    """
    law = 0 if dist == "bits" else LAWS[dist]
    n = out.numel() // max(len(keys), 1)
    lib = native._library(torch.float32)
    if isinstance(lib, ctypes.CDLL):
        threads = torch.get_num_threads() if out.numel() >= _PARALLEL_MIN else 1
        held = torch.tensor(keys, dtype=torch.int64)  # alive until the call returns
        lib.reslimit_philox(out.data_ptr(), held.data_ptr(), len(keys), n, start, law, scale, threads)
    else:
        out.view(len(keys), n).copy_(_torch_draw(keys, n, law, start, scale))
    return out


def _torch_draw(keys: Sequence[int], n: int, law: int, start: int = 0, scale: float = 1.0) -> torch.Tensor:
    """Numbers start .. start + n - 1 of each key's draw (law: a code of LAWS, 0 the words), times ``scale``
    but for the words, (len(keys), n) float32: random.c's operations in torch, integers as int64, on blocks of
    at most _CHUNK (key, counter) pairs at a time."""
    out = torch.empty(len(keys), n, dtype=torch.float32)
    key = torch.tensor(keys, dtype=torch.int64)[:, None]
    first, last = start // 4, -(-(start + n) // 4)
    span = max(1, min(last - first, _CHUNK))  # counters per block
    rows = max(1, _CHUNK // span)  # keys per block
    for r in range(0, len(keys), rows):
        k0, k1 = key[r:r + rows] & _WORD, key[r:r + rows] >> 32
        for j0 in range(first, last, span):
            j = torch.arange(j0, min(j0 + span, last), dtype=torch.int64)
            zero = torch.zeros_like(j)
            w = _philox((j & _WORD, j >> 32, zero, zero), (k0, k1))
            if law == LAWS["gaussian"]:
                z = [*_box_muller(w[0], w[1]), *_box_muller(w[2], w[3])]
            elif law == LAWS["uniform"]:
                z = [(2 * (_int32(x) >> 8) + 1).float() * _SQRT3_24 for x in w]
            elif law == LAWS["rademacher"]:
                z = [torch.where(x >= 2**31, -1.0, 1.0).float() for x in w]
            else:
                z = [_int32(x).to(torch.int32).view(torch.float32) for x in w]
            # counter j's four numbers are numbers 4 j .. 4 j + 3
            numbers = torch.stack(z if law == 0 else [x * scale for x in z], dim=-1).flatten(1)
            a, b = max(start, 4 * j0), min(start + n, 4 * (j0 + len(j)))
            out[r:r + rows, a - start:b - start] = numbers[:, a - 4 * j0:b - 4 * j0]
    return out


def _philox(c: tuple, k: tuple) -> list[torch.Tensor]:
    """Philox4x32-10 of the counters c = (c0, c1, c2, c3) under the keys k = (k0, k1): 32-bit words in int64
    tensors (broadcast together); the words (w0, w1, w2, w3)."""
    c0, c1, c2, c3 = c
    k0, k1 = k
    for _ in range(10):
        h0, l0 = _mulhilo(c0, _M0)
        h1, l1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = h1 ^ c1 ^ k0, l1, h0 ^ c3 ^ k1, l0
        k0, k1 = (k0 + _W0) & _WORD, (k1 + _W1) & _WORD
    return [c0, c1, c2, c3]


def _mulhilo(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) of the 64-bit product a m, a in [0, 2^32) as int64 and m < 2^32, without overflowing int64:
    a m = t 2^16 + (a m_lo mod 2^16), t = (a m_lo) div 2^16 + a m_hi < 2^49, m = m_hi 2^16 + m_lo."""
    low = a * (m & 0xFFFF)
    t = (low >> 16) + a * (m >> 16)
    return t >> 16, ((t & 0xFFFF) << 16) | (low & 0xFFFF)


def _int32(x: torch.Tensor) -> torch.Tensor:
    """The word x in [0, 2^32) read as a signed 32-bit integer (an int64 tensor)."""
    return x - ((x >> 31) << 32)


def _box_muller(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """r (cos, sin) of the words' angle: random.c's box_muller, operation for operation, in float32."""
    # sqrt correctly rounded, as C's: float64's, rounded to float32, is (torch's float32 sqrt can be 1 ulp off)
    r = (_log_unit(a.float() * 2.0**-32 + 2.0**-33) * -2.0).double().sqrt().float()
    f = _int32((b << 2) & _WORD).float() * 2.0**-32
    t = f * f
    s = torch.full_like(t, _SIN[0])
    for coefficient in _SIN[1:]:
        s = s * t + coefficient
    s = s * f
    c = torch.full_like(t, _COS[0])
    for coefficient in _COS[1:]:
        c = c * t + coefficient
    q = ((b + 2**29) >> 30) & 3
    odd = (q & 1).bool()
    x, y = torch.where(odd, s, c), torch.where(odd, c, s)
    return r * torch.where(((q + 1) & 2).bool(), -x, x), r * torch.where((q & 2).bool(), -y, y)


def _log_unit(u: torch.Tensor) -> torch.Tensor:
    """log u for float32 u in [2^-33, 1]: random.c's log_unit, operation for operation."""
    bits = u.view(torch.int32)
    m = ((bits & 0x7FFFFF) | 0x3F800000).view(torch.float32)  # in [1, 2)
    big = m > _SQRT2  # above sqrt 2 as float32: halved
    m = torch.where(big, m * 0.5, m)
    fe = ((bits >> 23) - 127 + big.int()).float()
    x = m - 1.0
    z = x * x
    y = torch.full_like(x, _LOG_P[0])
    for coefficient in _LOG_P[1:]:
        y = y * x + coefficient
    y = y * x
    y = y * z
    y = y + fe * _LOG2_LOW
    y = y + z * -0.5
    return (x + y) + fe * 0.693359375


class KeyedNormal:
    """Draws tensors of i.i.d. standard normals (or other laws) keyed by integers.

    The numbers are drawn on the CPU (Philox4x32-10, see the module) and copied to ``device``, so a path holds
    the same numbers on every device and ``.to(device)`` moves a path unchanged.

    Args:
        shape: shape of one draw, e.g. (ensemble, width, width).
        dtype, device: of the draws.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.device = torch.device(device)

    def fill(self, out: torch.Tensor, key: int, dist: str = "gaussian") -> torch.Tensor:
        """Fill ``out`` (of ``self.shape``) with the draw of law ``dist`` keyed by ``key``; unit variance.

        Drawn in float32 on the CPU and widened or copied: float32 and float64 paths of one seed hold the
        same numbers, on every device.
        """
        _law(dist)
        if out.dtype == torch.float32 and out.device.type == "cpu" and out.is_contiguous():
            return philox(out, [key], dist)
        return out.copy_(philox(torch.empty(out.shape, dtype=torch.float32), [key], dist))

    def draw(self, keys, dist: str = "gaussian", scale: float = 1.0) -> torch.Tensor:
        """Stack the draws for each key in ``keys``, times ``scale``: shape (len(keys), *self.shape).

        One call draws them all, large draws split over torch's threads: each number is a function of its
        key and place only, so the split changes none. Drawn on the CPU in float32, then widened and moved;
        the product is that of ``draw(keys, dist).mul_(scale)`` in self.dtype, float32's taken while drawing
        (no second pass over the memory).
        """
        _law(dist)
        single = self.dtype == torch.float32
        out = philox(torch.empty((len(keys), *self.shape), dtype=torch.float32), list(keys), dist,
                     scale=scale if single else 1.0)
        out = out.to(device=self.device, dtype=self.dtype)
        return out if single or scale == 1.0 else out.mul_(scale)


def _law(dist: str) -> None:
    if dist not in LAWS:
        raise ValueError(f"dist must be one of 'gaussian', 'uniform', 'rademacher'; got {dist!r}")


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

