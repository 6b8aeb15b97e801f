"""Ten classes of faults in one table: for each, a command a user can type, the state of the folder it meets,
and what it must give (exit status and the one line on stderr). The detailed tables live beside the code they
test: test_inputs.py (classes 7-10), test_memory.py (6), test_native.py (5), test_faults.py and test_sweep.py
(2-4, kill -9, Ctrl-C); ``python robustness/probes.py`` throws some 900 probes of these kinds."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import reslimit as rl
from reslimit import native
from reslimit.cli import main

SCALING = ["scaling", "--depths", "2,4", "--width", "4", "--ensemble", "2", "--betas", "0.5,1"]


def _nothing(out):
    pass


def _scaled_then_manifest_lost(out):
    assert main([*SCALING, "--out", str(out)]) == 0
    (out / "manifest.json").unlink()


def _scaled_on_the_other_engine(out, monkeypatch):
    assert main([*SCALING, "--out", str(out)]) == 0
    other = "torch" if native.engine("res3", "relu", torch.float32) == "compiled" else "compiled"
    monkeypatch.setattr(native, "engine", lambda *args: other)


def _locked_by_another_process(out, request):
    out.mkdir()
    hold = ("import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    request.addfinalizer(holder.kill)
    assert holder.stdout.readline() == "held\n"


def _damaged_kernel(out, monkeypatch):
    """A kernel cache whose library is cut in half (it used to SIGBUS every process that loaded it)."""
    cache = out / "cache"
    env = {**os.environ, "RESLIMIT_CACHE": str(cache)}
    build = "import torch; from reslimit import native; print(native.status(torch.float32))"
    assert "compiled kernel" in subprocess.run([sys.executable, "-c", build], env=env, capture_output=True,
                                               text=True, check=True).stdout
    for lib in cache.glob("*.so"):
        lib.write_bytes(lib.read_bytes()[: lib.stat().st_size // 2])
    monkeypatch.setenv("RESLIMIT_CACHE", str(cache))


RAN = (0, 1)  # the command ran: 0, or 1 for a verdict that failed at these tiny sizes
# (class, what the folder holds, the command after "reslimit", exit status, a fragment of stderr)
TABLE = [
    (1, _nothing, ["scaling", "--init", "fbm", "--hurst", "0.7", "--depths", "2,4", "--width", "4", "--ensemble",
                   "2", "--betas", "0.5,1"], 0, ""),
    (2, _scaled_then_manifest_lost, [*SCALING, "--seed", "1"], 2,
     "holds rows of another study (its ledger points.jsonl: it does not match these parameters"),
    (2, _scaled_then_manifest_lost, SCALING, 0, ""),
    (3, _locked_by_another_process, SCALING, 2, "is being written by another reslimit process (lock"),
    (4, _scaled_on_the_other_engine, SCALING, 2, "its rows would differ by rounding"),
    (6, _nothing, ["simulate", "--init", "smooth", "--lengthscale", "1e-9"], 2, "lengthscale=1e-09 needs about"),
    (6, _nothing, ["simulate", "--width", "100000"], 2, "width=100000"),
    (7, _nothing, ["scaling", *SCALING[1:], "--workers", str(10**12)], 2, "workers must be at most"),
    (8, _nothing, ["simulate", "--activation", "leaky_relu:nan"], 2, "slope"),
    (8, _nothing, ["scaling", "--init", "smooth", "--lengthscale", "nan", *SCALING[1:]], 2, "--lengthscale"),
    (8, _nothing, ["simulate", "--seed", str(2**64)], 2, "seed must be an integer in [0, 2^63 - 1]"),
    (8, _nothing, ["converge", "--depths", "4,8,16", "--out", ""], 2, "--out"),
    (10, _nothing, ["converge", "--width", "2", "--samples", "2", "--depths", "1:4:3"], RAN, ""),
    (10, _nothing, ["converge", "--width", "2", "--samples", "2", "--depths", "4:16:3", "--reference-factor", "4"],
     RAN, ""),  # depths whose grids do not nest: the reference on their lcm's
    (10, _nothing, ["converge", "--width", "2", "--samples", "2", "--depths", "8:1000:x2"], 2,
     "1000 is not 8 x 2^n (the nearest are 512 and 1024"),
]


@pytest.mark.parametrize("cls,setup,argv,code,fragment", TABLE,
                         ids=[f"class{c}-{s.__name__.strip('_')}-{i}" for i, (c, s, *_) in enumerate(TABLE)])
def test_each_class_gives_a_result_or_one_clear_line(tmp_path, monkeypatch, request, capsys, cls, setup, argv,
                                                     code, fragment):
    out = tmp_path / "study"
    names = setup.__code__.co_varnames[: setup.__code__.co_argcount]
    setup(out, **{k: v for k, v in {"monkeypatch": monkeypatch, "request": request}.items() if k in names})
    monkeypatch.delenv("RESLIMIT_DEBUG", raising=False)
    if argv[0] in ("scaling", "converge") and "--out" not in argv:
        argv = [*argv, "--out", str(out)]
    capsys.readouterr()
    start = time.monotonic()
    got = main(argv)
    err = capsys.readouterr().err
    assert time.monotonic() - start < 60
    assert "Traceback" not in err
    if code is RAN:
        assert got in RAN and "error" not in err, err
    else:
        assert got == code, err
    if code and code is not RAN:
        assert err.startswith("reslimit: error: ") and err.count("\n") == 1 and fragment in err, err


@pytest.mark.slow  # builds, damages and rebuilds the kernel in fresh processes
def test_a_damaged_kernel_is_rebuilt_and_the_command_runs(tmp_path, monkeypatch):
    """Class 5 through the command line, in a fresh process: a kernel cut in half is rebuilt, not loaded."""
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: the torch loop serves, nothing is cached")
    _damaged_kernel(tmp_path, monkeypatch)
    run = subprocess.run([sys.executable, "-c", "import sys; from reslimit.cli import main; sys.exit(main())",
                          "simulate", "--block", "res3", "--dtype", "float32", "--depth", "8", "--width", "4"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "diverged: 0 of 128 samples" in run.stdout


# Class 9: the Python API, (call, the exception or None, a fragment of its message)
API = [
    (lambda: rl.converge("sde", width=2, depths=[4, 8, 16], samples=4, dtype=torch.float32).params["dtype"], None,
     "float32"),
    (lambda: rl.converge("sde", width=2, depths=[4, 8, 16], samples=4, dtype="float64").params["dtype"], None,
     "float64"),
    (lambda: rl.converge("sde", width=2, depths=[4, 8, 16], samples=4, reference_factor=0), ValueError,
     "reference_factor must be an integer >= 2"),
    (lambda: rl.converge("ode", width=2, depths=[4, 8, 16], samples=4, lengthscale="abc"), ValueError,
     "lengthscale must be"),
    (lambda: rl.NeuralODE(block="res1", outer=None), ValueError, "outer must be a WeightPath"),
    (lambda: rl.NeuralSDE(block="res1", outer=rl.Brownian(2)).solve(torch.full((3, 2), float("nan")), steps=4),
     ValueError, "h0"),
    (lambda: rl.NeuralODE(block="res1", outer=rl.Smooth(2)).solve(np.zeros((3, 2)), [0.0, 1.0]).shape, None,
     "torch.Size([2, 1, 3, 2])"),
    (lambda: rl.NeuralODE(block="res1", outer=rl.Smooth(2)).solve(torch.zeros(3, 2), [0.0, float("nan")]),
     ValueError, "ts"),
]


@pytest.mark.parametrize("call,error,fragment", API, ids=[f"api{i}" for i in range(len(API))])
def test_the_api_takes_what_it_documents_and_names_what_it_refuses(call, error, fragment):
    if error is None:
        assert str(call()) == fragment
    else:
        with pytest.raises(error, match=None) as caught:
            call()
        assert fragment in str(caught.value)


def test_a_refused_command_leaves_nothing_behind(tmp_path, capsys):
    """Refusals come before the first file: no study folder for a bad pool size, no run for a missing folder."""
    out = tmp_path / "study"
    assert main([*SCALING, "--workers", "1000000", "--out", str(out)]) == 2
    assert not out.exists()
    save = tmp_path / "missing" / "run.npz"
    assert main(["simulate", "--depth", "4", "--width", "2", "--save", str(save)]) == 2
    assert "save: the folder of" in capsys.readouterr().err and not save.parent.exists()
    assert main(["simulate", "--depth", "4", "--width", "2", "--save", str(tmp_path / "run.npz")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]  # written whole, under its name only
