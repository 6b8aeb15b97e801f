"""Keyed random numbers: every draw is a pure function of (seed, key...), never of query order.

Each random object (a layer's weights, a node of a Brownian tree) gets its own 63-bit key mixed from the
study seed and its coordinates with SplitMix64 (:func:`mix`), and its numbers are those of a counter-based
generator, ARS-7 (Salmon, Moraes, Dror and Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3";
Random123's ARS1xm128i at its default of 7 rounds, a safety margin over the fewest rounds with no known
statistical flaw): number i of the draw keyed by K is a function of (K, i) alone, so any depth, chunk, query
order, thread count or machine gives the same numbers, and no global RNG state is touched.

ARS-7. The counter of number i, j = i div 4, and the key K, both as 128-bit little-endian blocks (K's upper
half 0), give the block v = j xor k_0, then six AES rounds v <- MixColumns(ShiftRows(SubBytes(v))) xor k_r
(r = 1..6) and a last one without MixColumns (xor k_7), with the round keys k_r = K + r (W0, W1), the two
64-bit halves added separately mod 2^64, W0 = 0x9E3779B97F4A7C15 (the golden ratio), W1 = 0xBB67AE8584CAA73B
(sqrt 3 - 1). Bytes 4 m .. 4 m + 3 of v (little-endian) are the word w_m, m = 0..3. Number i is a float32
made from word w_(i mod 4), or for gaussians from the pair (w0, w1) when i mod 4 < 2 and (w2, w3) else, by
float32 operations each rounded to nearest (no fused multiply-add):

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

The compiled version (``random.c``, built into the library of :mod:`reslimit.native`, on the CPU's AES
instructions where it has them, vectorised, on torch's OpenMP threads; checked against ARS-7's known answer
when the library loads) and :func:`_torch_draw`, the same operations in torch where no library can be built,
give the same bits (tests/test_rng.py). ``RESLIMIT_NATIVE=0`` switches off the compiled pass, not the
generator, whose numbers are the same either way. float64 draws hold the float32 numbers widened, so float32
and float64 paths of one seed hold the same numbers. The generator replaced torch's Mersenne Twister in version
0.1.0 (first Philox4x32-10, then ARS-7, whose words cost a third of Philox's on the AES instructions:
benchmarks/README.md, "Drawing"); every seed's numbers changed each time (CHANGELOG.md).
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import numpy as np
import torch

from . import native

_MASK = (1 << 64) - 1
_WORD = (1 << 32) - 1
_WEYL = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)  # ARS's key increments: the low and high 64-bit halves
_ROUNDS = 7
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


def _splitmix64(x):
    """SplitMix64's finaliser of x + its increment, mod 2^64: of a Python int, or of a numpy uint64 array."""
    if isinstance(x, np.ndarray):  # uint64 arithmetic wraps mod 2^64
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix(seed: int, *parts: int) -> int:
    """A 63-bit key for the object at coordinates ``parts`` of the stream ``seed``."""
    return _hash(seed, *parts) >> 1


def mixes(seed: int, *parts: int, last) -> np.ndarray:
    """[mix(seed, *parts, k) for k in last] (``last`` a range or an array of integers >= 0), vectorised: an int64
    array."""
    ks = np.arange(last.start, last.stop, last.step, dtype=np.uint64) if isinstance(last, range) else \
        np.asarray(last).astype(np.uint64)
    return (_splitmix64(ks ^ np.uint64(_hash(seed, *parts))) >> np.uint64(1)).astype(np.int64)


def _hash(seed: int, *parts: int) -> int:
    h = _splitmix64(seed & _MASK)
    for p in parts:
        h = _splitmix64(h ^ (p & _MASK))
    return h


def generate(out: torch.Tensor, keys: Sequence[int], dist: str = "gaussian", start: int = 0,
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
        held = torch.as_tensor(np.asarray(keys, dtype=np.int64))  # alive until the call returns
        lib.reslimit_random(out.data_ptr(), held.data_ptr(), len(keys), n, start, law, scale, threads)
    else:
        out.view(len(keys), n).copy_(_torch_draw(keys, n, law, start, scale))
    return out


def _torch_draw(keys: Sequence[int], n: int, law: int, start: int = 0, scale: float = 1.0) -> torch.Tensor:
    """Numbers start .. start + n - 1 of each key's draw (law: a code of LAWS, 0 the words), times ``scale``
    but for the words, (len(keys), n) float32: random.c's operations in torch, integers as int64, on blocks of
    at most _CHUNK (key, counter) pairs at a time."""
    out = torch.empty(len(keys), n, dtype=torch.float32)
    first, last = start // 4, -(-(start + n) // 4)
    span = max(1, min(last - first, _CHUNK))  # counters per block
    rows = max(1, _CHUNK // span)  # keys per block
    for r in range(0, len(keys), rows):
        for j0 in range(first, last, span):
            j = torch.arange(j0, min(j0 + span, last), dtype=torch.int64)
            w = ars(j, keys[r:r + rows]).unbind(-1)
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


def ars(counters: torch.Tensor, keys: Sequence[int]) -> torch.Tensor:
    """ARS-7 of each counter (an int64 tensor of n counters in [0, 2^63)) under each key in [0, 2^64): the words
    w0 .. w3 as an int64 tensor (len(keys), n, 4) of values in [0, 2^32).

    The block as four 32-bit columns (words), byte r of column c (from the lowest) AES's row r: a round's column c
    is sum_r rot_8r(T[row r of column c + r]) with T[x] = (2 S(x), S(x), S(x), 3 S(x)) (SubBytes, ShiftRows and
    MixColumns in one lookup a byte; the last round S(x) shifted to its row), then xor the round key's column c.
    """
    s = [counters & _WORD, counters >> 32, torch.zeros_like(counters), torch.zeros_like(counters)]
    s = [x[None] ^ k for x, k in zip(s, _round_keys(keys, 0))]
    for r in range(1, _ROUNDS + 1):
        tables = _TABLES if r < _ROUNDS else _LAST
        s = [tables[0][s[c] & 0xFF] ^ tables[1][(s[(c + 1) % 4] >> 8) & 0xFF] ^ tables[2][(s[(c + 2) % 4] >> 16) & 0xFF]
             ^ tables[3][s[(c + 3) % 4] >> 24] ^ k for c, k in enumerate(_round_keys(keys, r))]
    return torch.stack(s, dim=-1)


def _round_keys(keys: Sequence[int], r: int) -> list[torch.Tensor]:
    """The columns of k_r = K + r (W0, W1) of each key K: four (len(keys), 1) int64 tensors."""
    low = [(int(k) + r * _WEYL[0]) & _MASK for k in keys]
    high = r * _WEYL[1] & _MASK
    return [torch.tensor([[v] for v in column], dtype=torch.int64) for column in
            ([v & _WORD for v in low], [v >> 32 for v in low], [high & _WORD] * len(keys), [high >> 32] * len(keys))]


def _tables() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """AES's S-box S: the inverse in GF(2^8) (p runs over the powers of 3, q over those of its inverse), then the
    affine map q + rot(q, 1..4) + 0x63; the round's tables rot_8r(T) and the last round's S << 8 r, r = 0..3."""
    box, p, q = [0x63] * 256, 1, 1
    while True:
        p ^= ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        q ^= 0x09 if q & 0x80 else 0
        box[p] = q ^ 0x63
        for shift in range(1, 5):
            box[p] ^= ((q << shift) | (q >> (8 - shift))) & 0xFF
        if p == 1:
            break
    twice = [((v << 1) ^ (0x1B if v & 0x80 else 0)) & 0xFF for v in box]
    table = [t | v << 8 | v << 16 | (t ^ v) << 24 for v, t in zip(box, twice)]
    rounds = [torch.tensor([((x << 8 * r) | (x >> (32 - 8 * r))) & _WORD for x in table]) for r in range(4)]
    return rounds, [torch.tensor([v << 8 * r for v in box]) for r in range(4)]


_TABLES, _LAST = _tables()


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
            return generate(out, [key], dist)
        return out.copy_(generate(torch.empty(out.shape, dtype=torch.float32), [key], dist))

    def draw(self, keys, dist: str = "gaussian", scale: float = 1.0) -> torch.Tensor:
        """Stack the draws for each key in ``keys``, times ``scale``: shape (len(keys), *self.shape).

        One call draws them all, large draws split over torch's threads: each number is a function of its
        key and place only, so the split changes none. Drawn on the CPU in float32, then widened and moved;
        the product is that of ``draw(keys, dist).mul_(scale)`` in self.dtype, float32's taken while drawing
        (no second pass over the memory).
        """
        _law(dist)
        single = self.dtype == torch.float32
        out = generate(torch.empty((len(keys), *self.shape), dtype=torch.float32), keys, dist,
                       scale=scale if single else 1.0)
        out = out.to(device=self.device, dtype=self.dtype)
        return out if single or scale == 1.0 else out.mul_(scale)


def _law(dist: str) -> None:
    if dist not in LAWS:
        raise ValueError(f"dist must be one of 'gaussian', 'uniform', 'rademacher'; got {dist!r}")


# The sub-streams of a seed, one per kind of random object: every entry point (ScaledResNet, simulate, the
# studies, converge) derives them from the user's seed through substream, so seed s builds the same network.
STREAMS = {"outer": 0, "inner": 1, "inputs": 2, "readout": 3, "targets": 4, "input_layer": 5, "output_layer": 6,
           "bootstrap": 7, "chunks": 8, "batches": 9, "masks": 10, "theta": 11}


def substream(seed: int, name: str) -> int:
    """The seed (in [0, 2^62)) of the sub-stream ``name`` (a key of STREAMS) of the user's ``seed``."""
    return mix(seed, STREAMS[name]) % 2**62


def normal(shape, seed: int, name: str, dtype: torch.dtype = torch.float64, device="cpu") -> torch.Tensor:
    """Standard normals of ``shape`` keyed by the sub-stream ``name`` of ``seed`` (inputs, targets...)."""
    return KeyedNormal(tuple(shape), dtype, torch.device(device)).draw([substream(seed, name)])[0]

