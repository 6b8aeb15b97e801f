"""The keyed generator of reslimit._rng: ARS-7, its laws, and the compiled and torch versions' bits."""

import ctypes
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from reslimit import _rng, native
from reslimit._rng import KeyedNormal, mix

COMPILED = isinstance(native._library(torch.float32), ctypes.CDLL)
compiled = pytest.mark.skipif(not COMPILED, reason="no C compiler: the torch version serves every draw")
KS_ALPHA = 1e-3
N = 10**6


def words(t: torch.Tensor) -> list[int]:
    return [int(x) & 0xFFFFFFFF for x in t.view(torch.int32).flatten()]


def draw(keys, n, dist="gaussian", start=0, scale=1.0) -> torch.Tensor:
    return _rng.generate(torch.empty(len(keys), n, dtype=torch.float32), keys, dist, start, scale)


# Random123's known answers for ARS-7 (its test of ars1xm128i at 7 rounds): key, counter, the block's bytes
KAT = [(1, 1, "2b1623350cd214dc7740187993411872"), (1, 256, "2de6b66fa461b668f380126f32b9cd22")]


def block(w: torch.Tensor) -> str:
    return b"".join((int(x) & 0xFFFFFFFF).to_bytes(4, "little") for x in w).hex()


@pytest.mark.parametrize("key, counter, expected", KAT)
def test_ars_matches_random123s_known_answers(key, counter, expected):
    assert block(_rng.ars(torch.tensor([counter]), [key])[0, 0]) == expected


@pytest.mark.parametrize("key, counter, expected", KAT)
def test_the_draws_words_are_ars_of_key_and_counter(key, counter, expected):
    # number i of key K: word i mod 4 of the block of counter j = i div 4
    assert block(draw([key], 4, "bits", start=4 * counter)[0].view(torch.int32)) == expected
    key, start = 0x7EDCBA9876543210, 4 * (5 << 32) + 8  # a counter past 2^32, a key past 2^32
    w = _rng.ars(torch.tensor([(5 << 32) + 2, (5 << 32) + 3]), [key])[0]
    assert words(draw([key], 6, "bits", start=start)) == [int(x) for x in w.flatten()][:6]


def test_a_library_whose_generator_misses_the_known_answer_is_refused(tmp_path, monkeypatch):
    if not COMPILED:
        pytest.skip("no C compiler")
    monkeypatch.setattr(native, "ARS_KNOWN", (1, 2, native.ARS_KNOWN[2]))  # counter 2's block is another
    monkeypatch.setenv("RESLIMIT_CACHE", str(tmp_path))
    why = native._kernel("float")
    assert isinstance(why, str) and "not ARS-7's known answer 2b1623350cd214dc" in why


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or shutil.which(os.environ.get("CC", "cc")) is None,
                    reason="the AES-NI and portable paths are built here on x86-64 only")
@pytest.mark.parametrize("flags", [["-mno-vaes"], ["-mno-vaes", "-mno-aes"]], ids=["aes-ni", "portable"])
def test_each_path_of_the_compiled_generator_gives_the_same_bits(flags, tmp_path):
    # the library's own build takes the fastest path the CPU has; the others are built here, random.c alone
    lib_path = tmp_path / "random.so"
    source = Path(_rng.__file__).with_name("random.c")
    run = subprocess.run([os.environ.get("CC", "cc"), "-O2", "-march=native", *flags, "-shared", "-fPIC",
                          str(source), "-o", str(lib_path)], capture_output=True, text=True)
    if run.returncode:
        pytest.skip(f"cannot build random.c with {flags}: {run.stderr[-200:]}")
    lib = ctypes.CDLL(str(lib_path))
    keys, n, start = [1, 2**63 - 1, mix(3, 4)], 4 * 128 + 7, 9
    for law in (0, *_rng.LAWS.values()):
        out = torch.empty(len(keys), n, dtype=torch.float32)
        held = torch.tensor(keys, dtype=torch.int64)
        lib.reslimit_random(ctypes.c_void_p(out.data_ptr()), ctypes.c_void_p(held.data_ptr()), ctypes.c_int64(3),
                            ctypes.c_int64(n), ctypes.c_int64(start), ctypes.c_int(law), ctypes.c_float(0.5),
                            ctypes.c_int(1))
        assert torch.equal(out.view(torch.int32), _rng._torch_draw(keys, n, law, start, 0.5).view(torch.int32))


@compiled
@pytest.mark.parametrize("dist", ["bits", "gaussian", "uniform", "rademacher"])
def test_compiled_and_torch_versions_give_the_same_bits(dist):
    law = 0 if dist == "bits" else _rng.LAWS[dist]
    cases = [([0], 4, 0), ([1, 2**62 + 5, 12345678901234], 1001, 3), ([7, 9], 77, 129), ([2**63 - 1], 3, 0),
             ([5], 10, 2**34 - 3), ([mix(1, k) for k in range(5)], 4 * 128 + 1, 0), ([11], 2**17 + 13, 5)]
    for keys, n, start in cases:
        for scale in (1.0, 0.3):
            got = draw(keys, n, dist, start, scale)
            assert torch.equal(got.view(torch.int32), _rng._torch_draw(keys, n, law, start, scale).view(torch.int32))


@compiled
def test_compiled_gaussians_match_torch_on_a_million_numbers_and_the_tails():
    """No fused multiply-add nor other reordering in the compiled transform: every bit equal, tails included."""
    got = draw([mix(2, 3)], N)
    assert torch.equal(got.view(torch.int32), _rng._torch_draw([mix(2, 3)], N, 1).view(torch.int32))
    # the words nearest 0 and 2^32 (u = 2^-33 and u = 1: the largest |z| and z = 0)
    a = torch.tensor([0, 1, 2, 255, 2**24, 2**32 - 1, 2**32 - 129, 2**31])
    zc, zs = _rng._box_muller(a, a * 0 + 12345)
    assert torch.all(torch.isfinite(zc)) and float(zc.abs().max()) <= (66 * np.log(2)) ** 0.5 + 1e-6


def test_without_the_library_the_torch_version_gives_the_same_numbers(monkeypatch):
    keys, shape = [mix(5, k) for k in range(3)], (2, 5, 7)
    expected = {dist: KeyedNormal(shape, torch.float64, "cpu").draw(keys, dist, scale=0.7) for dist in _rng.LAWS}
    monkeypatch.setattr(native, "_library", lambda dtype: "no compiler")
    for dist, numbers in expected.items():
        assert torch.equal(KeyedNormal(shape, torch.float64, "cpu").draw(keys, dist, scale=0.7), numbers)


def test_numbers_do_not_depend_on_chunks_order_or_threads():
    key, n = mix(9, 1), 200_003
    whole = draw([key], n)[0]
    cuts = [0, 1, 5, 64, 129, 4096, 77_777, n]
    pieces = torch.cat([draw([key], b - a, start=a)[0] for a, b in zip(cuts, cuts[1:])])
    assert torch.equal(whole, pieces)
    backwards = torch.empty(n)
    for a, b in reversed(list(zip(cuts, cuts[1:]))):
        backwards[a:b] = draw([key], b - a, start=a)[0]
    assert torch.equal(whole, backwards)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = draw([key], n)[0]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(whole, alone)
    # a key's draw is the same alone or among others, and fill gives draw's rows
    keys = [mix(9, k) for k in range(4)]
    many = KeyedNormal((3, 100), torch.float32, "cpu").draw(keys)
    for k, row in zip(keys, many):
        assert torch.equal(KeyedNormal((3, 100), torch.float32, "cpu").fill(torch.empty(3, 100), k), row)
        assert torch.equal(KeyedNormal((3, 100), torch.float32, "cpu").fill(torch.empty(100, 3).mT, k), row)


def test_float64_draws_hold_the_float32_numbers_widened():
    keys = [mix(4, k) for k in range(3)]
    for dist in _rng.LAWS:
        single = KeyedNormal((6, 6), torch.float32, "cpu").draw(keys, dist)
        assert torch.equal(KeyedNormal((6, 6), torch.float64, "cpu").draw(keys, dist), single.double())
        assert torch.equal(KeyedNormal((6, 6), torch.float64, "cpu").fill(torch.empty(6, 6), keys[0], dist),
                           single[0].double())
    # a scale: float32 draws take it as mul_ would (rounded once, in float32), float64 ones after widening
    scaled = KeyedNormal((6, 6), torch.float32, "cpu").draw(keys, "gaussian", scale=0.3)
    assert torch.equal(scaled, KeyedNormal((6, 6), torch.float32, "cpu").draw(keys).mul_(0.3))
    assert torch.equal(KeyedNormal((6, 6), torch.float64, "cpu").draw(keys, scale=0.3),
                       KeyedNormal((6, 6), torch.float64, "cpu").draw(keys).mul_(0.3))


def moments_within_4_se(z: np.ndarray, var: float = 1.0, fourth: float = 3.0) -> None:
    """Mean 0, E z^2 = var and E z^4 = fourth (for its SE), each within 4 standard errors."""
    assert abs(z.mean()) < 4 * np.sqrt(var / z.size)
    se2 = np.sqrt((fourth - var**2) / z.size)
    assert abs(np.mean(z**2) - var) < 4 * se2 + 1e-12


def test_gaussians_have_the_normal_law():
    z = draw([mix(1, 2)], N)[0].double().numpy()
    moments_within_4_se(z)
    assert abs(np.mean(z**4) - 3) < 4 * np.sqrt((105 - 9) / z.size)  # Var z^4 = E z^8 - 9 = 96
    assert stats.kstest(z, "norm").pvalue > KS_ALPHA
    # each of the four places of a counter (cos and sin of two pairs) has the law too
    for m in range(4):
        assert stats.kstest(z[m::4], "norm").pvalue > KS_ALPHA
    assert np.abs(z).max() <= (66 * np.log(2)) ** 0.5  # the cut-off of u >= 2^-33


def test_uniforms_and_signs_have_their_laws():
    u = draw([mix(1, 3)], N, "uniform")[0].double().numpy()
    moments_within_4_se(u, fourth=9 / 5)
    assert np.abs(u).max() < 3**0.5
    assert stats.kstest(u, "uniform", args=(-(3**0.5), 2 * 3**0.5)).pvalue > KS_ALPHA
    s = draw([mix(1, 4)], N, "rademacher")[0].double().numpy()
    assert set(np.unique(s)) == {-1.0, 1.0} and abs(s.mean()) < 4 / np.sqrt(s.size)


@pytest.mark.parametrize("dist", list(_rng.LAWS))
def test_draws_of_different_keys_and_places_are_uncorrelated(dist):
    n = 200_000
    keys = [mix(8, 0, k) for k in range(4)] + [0, 1]  # a path's neighbouring layers, and adjacent raw keys
    z = draw(keys, n, dist).double().numpy()
    r = np.corrcoef(z)[np.triu_indices(len(keys), 1)]
    assert np.max(np.abs(r)) < 4 / np.sqrt(n)  # SE of a sample correlation is 1/sqrt(n)
    x = z[0]
    for lag in (1, 2, 3, 4, 5):  # the places of one counter (cos, sin of a pair) and of the next
        assert abs(np.corrcoef(x[:-lag], x[lag:])[0, 1]) < 4 / np.sqrt(n)
    if dist == "gaussian":  # the radius is shared by the pair: their squares are uncorrelated too
        assert abs(np.corrcoef(x[0::2] ** 2, x[1::2] ** 2)[0, 1]) < 4 / np.sqrt(n / 2)


def test_an_unknown_law_is_named():
    with pytest.raises(ValueError, match="dist must be one of"):
        KeyedNormal((2,), torch.float32, "cpu").draw([1], "cauchy")


def test_the_torch_versions_blocks_of_keys_and_counters_change_no_number(monkeypatch):
    keys, n, start = [mix(6, k) for k in range(40)], 1001, 3
    for law in (0, *_rng.LAWS.values()):
        whole = _rng._torch_draw(keys, n, law, start, 0.5)
        monkeypatch.setattr(_rng, "_CHUNK", 64)  # blocks of 64 counters of one key, or of 64 keys
        assert torch.equal(_rng._torch_draw(keys, n, law, start, 0.5).view(torch.int32), whole.view(torch.int32))
        assert torch.equal(_rng._torch_draw(keys, 9, law, 2, 0.5).view(torch.int32),
                           _rng._torch_draw(keys, 11, law, 0, 0.5)[:, 2:].view(torch.int32))
        monkeypatch.undo()
