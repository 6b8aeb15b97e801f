"""Robustness (classes 7-10 of test_robustness.py): no input a user can type ends in a traceback, a hang or a silently
wrong number. Tables of bad inputs, each with the exit status or exception and the message it must give."""

import importlib
import json
import math
import warnings

import numpy as np
import pytest
import torch

from reslimit import Brownian, FractionalBrownian, ScaledResNet, Smooth, cli, converge, demo, get_activation, init
from reslimit.cli import main
from reslimit.ode import NeuralODE
from reslimit.sde import NeuralSDE

SIM = ["simulate", "--depth", "4", "--width", "3", "--ensemble", "2", "--samples", "2"]
CONV = ["converge", "--width", "2", "--samples", "2", "--depths", "4,8,16"]
STUDY = ["--depths", "4,8", "--betas", "0.5", "--width", "3", "--ensemble", "2", "--samples", "1"]
SEED_RANGE = "seed must be an integer in [0, 2^63 - 1]"


# Class 7: every failure is one line on stderr and an exit status, never a traceback -------------------------
@pytest.mark.parametrize("error,code,line", [
    (ValueError("width must be an integer >= 1; got 0"), 2, "reslimit: error: width must be an integer >= 1; got 0"),
    (TypeError("bad\ntype"), 2, "reslimit: error: bad type"),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied\n  (2x3 and 4x5)"), 1,
     "reslimit: error: RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
    (MemoryError(), 1, "reslimit: error: MemoryError"),
    (AssertionError(), 1, "reslimit: error: AssertionError"),
    (FileNotFoundError(2, "No such file or directory", "gone.csv"), 1,
     "reslimit: error: [Errno 2] No such file or directory: 'gone.csv'"),
    (PermissionError("cannot write"), 1, "reslimit: error: cannot write"),
    (KeyboardInterrupt(), 130, "reslimit: interrupted"),
    (KeyboardInterrupt("interrupted: 3 of 9 points kept in OUT; rerun the same command to resume"), 130,
     "reslimit: interrupted: 3 of 9 points kept in OUT; rerun the same command to resume"),
])
def test_any_failure_is_one_line_and_an_exit_status(monkeypatch, capsys, error, code, line):
    def fail(args):
        raise error

    monkeypatch.delenv("RESLIMIT_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_simulate", fail)
    assert main(SIM) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")


def test_an_error_names_the_file_it_carries(monkeypatch, capsys):
    err = ValueError("unreadable")
    err.filename = "OUT/manifest.json"
    err.add_note("reading the study's\nmanifest")
    monkeypatch.setattr(cli, "_simulate", lambda args: (_ for _ in ()).throw(err))
    assert main(SIM) == 2
    assert capsys.readouterr().err == ("reslimit: error: unreadable reading the study's manifest "
                                       "(file 'OUT/manifest.json')\n")


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("bad"), KeyboardInterrupt()])
def test_debug_reraises(monkeypatch, how, error):
    def fail(args):
        raise error

    monkeypatch.setattr(cli, "_simulate", fail)
    monkeypatch.delenv("RESLIMIT_DEBUG", raising=False)
    if how == "env":
        monkeypatch.setenv("RESLIMIT_DEBUG", "1")
    with pytest.raises(type(error)):
        main((["--debug"] if how == "flag" else []) + SIM)


def test_a_garbage_manifest_is_an_error_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe\x00garbage")
    assert main([*CONV, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reslimit: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / 'manifest.json'} is unreadable (not a JSON object); delete it" in err


# Class 8: values that must be refused ---------------------------------------------------------------------
FINITE = "expected a finite real number"
EMPTY = "expected a path; got an empty string"


@pytest.mark.parametrize("args,fragment", [
    (SIM + ["--activation", "leaky_relu:nan"], "'leaky_relu:<slope>' (a slope in [-100, 100])"),
    (SIM + ["--activation", "leaky_relu:inf"], "got 'leaky_relu:inf'"),
    (SIM + ["--activation", "leaky_relu:-1e400"], "got 'leaky_relu:-1e400'"),
    (SIM + ["--activation", "leaky_relu:"], "got 'leaky_relu:'"),
    (SIM + ["--beta", "nan"], f"argument --beta: {FINITE}; got 'nan'"),
    (SIM + ["--beta", "1e400"], f"argument --beta: {FINITE}; got '1e400'"),
    (SIM + ["--init", "smooth", "--lengthscale", "nan"], f"argument --lengthscale: {FINITE}"),
    (SIM + ["--init", "fbm", "--hurst", "inf"], f"argument --hurst: {FINITE}; got 'inf'"),
    (SIM + ["--beta", "abc"], f"argument --beta: {FINITE}; got 'abc'"),
    (CONV + ["--lengthscale", "nan", "--out", "x"], f"argument --lengthscale: {FINITE}; got 'nan'"),
    (CONV + ["--limit", "fbm", "--hurst=-inf", "--out", "x"], f"argument --hurst: {FINITE}; got '-inf'"),
    (["scaling", *STUDY, "--lengthscale", "inf", "--out", "x"], f"argument --lengthscale: {FINITE}"),
    (["scaling", *STUDY, "--init", "fbm", "--hurst", "nan", "--out", "x"], f"argument --hurst: {FINITE}"),
    (SIM + ["--save", ""], f"argument --save: {EMPTY}"),
    (["demo", "--out", ""], f"argument --out: {EMPTY}"),
    (CONV + ["--out", ""], f"argument --out: {EMPTY}"),
    (["scaling", *STUDY, "--out", ""], f"argument --out: {EMPTY}"),
    (["phase", *STUDY, "--out", ""], f"argument --out: {EMPTY}"),
    (["bounds", "--out", ""], f"argument --out: {EMPTY}"),
    (["report", "--out", ""], f"argument --out: {EMPTY}"),
    (SIM + ["--samples", str(10**12)], "reslimit: error: samples=1000000000000 with ensemble=2, width=3 needs about"),
    (SIM + ["--samples", str(2**62), "--save", "x"], "depth=4 (every layer kept, for states or save) needs about"),
    (SIM + ["--seed", str(2**64)], f"reslimit: error: {SEED_RANGE}; got {2**64}"),
    (SIM + ["--seed", str(2**63)], f"reslimit: error: {SEED_RANGE}; got {2**63}"),
    (["demo", "--quick", "--seed", str(2**64), "--out", "x"], f"reslimit: error: {SEED_RANGE}"),
    (CONV + ["--seed", str(2**64), "--out", "x"], f"reslimit: error: {SEED_RANGE}"),
    (["bounds", "--seed", str(2**63), "--out", "x"], f"reslimit: error: {SEED_RANGE}"),
    (["scaling", *STUDY, "--seed", str(2**64), "--out", "x"], f"reslimit: error: {SEED_RANGE}"),
    (["phase", *STUDY, "--seed", "-1", "--out", "x"], f"reslimit: error: {SEED_RANGE}; got -1"),
    (["propagation", "--depth", "10000000", "--width", "2", "--ensemble", "2", "--samples", "1", "--activations",
      "tanh", "--inits", "he", "--out", "x"], "reslimit: error: depth=10000000 needs about 6e+07 steps"),
    (["propagation", "--depth", "10000000", "--out", "x"], "reslimit: error: depth=10000000, width=500 needs about"),
    (["coord-check", "--steps", "1,1000000000", "--out", "x"], "reslimit: error: steps=1000000000 needs about"),
    (["transfer", "--epochs", "1000000000", "--out", "x"], "reslimit: error: epochs=1000000000 needs about 1.2e+11"),
    (["trainability", "--epochs", "1000000000", "--out", "x"], "reslimit: error: epochs=1000000000 needs about"),
    (["scaling", *STUDY[2:], "--depths", "4,100000000", "--out", "x"], "reslimit: error: depth=100000000 needs about"),
])
def test_nonsense_values_are_refused(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert fragment in err.splitlines()[-1] and "Traceback" not in err  # argparse: usage lines, then the error
    assert out == "" and not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []


# Class 8 (issue class 3): numbers too big for the arithmetic name the flag and the range, on every command with it
BIG = str(10**400)
COUNT = ", 2^63 - 1]; got an integer of 401 digits"
SLOPE = "'leaky_relu:<slope>' (a slope in [-100, 100])"
LENGTH = "lengthscale must be a real number in [1e-300, 1e+300]; got"
LR = "(0.0, 1e+30]"
HAS = {  # flag -> the commands that have it (grep cli.py)
    "--depth": ["simulate", "trainability", "propagation", "train"],
    "--width": ["simulate", "converge", "scaling", "phase", "transfer", "coord-check", "propagation", "train"],
    "--hidden": ["simulate", "transfer", "coord-check", "train"],
    "--epochs": ["trainability", "transfer", "train"],
    "--samples": ["simulate", "converge", "scaling", "phase", "propagation"],
    "--ensemble": ["simulate", "scaling", "phase", "propagation"],
    "--batch-size": ["transfer", "coord-check", "train"],
    "--seed": ["simulate", "demo", "converge", "scaling", "phase", "trainability", "transfer", "coord-check",
               "propagation", "bounds", "train"],
    "--lengthscale": ["simulate", "converge", "scaling", "transfer", "coord-check", "train"],
    "--activation": ["simulate", "converge", "scaling", "phase", "transfer", "coord-check", "train"],
}
LOW = {("trainability", "--depth"): 2, ("propagation", "--ensemble"): 2}  # a command's smallest value, where not 1
VALUES = {"--lengthscale": [("1e-320", f"{LENGTH} 1e-320"), ("1e308", f"{LENGTH} 1e+308")],
          "--activation": [("leaky_relu:1e200", f"{SLOPE} or a callable; got 'leaky_relu:1e200'")],
          "--seed": [(BIG, f"seed must be an integer in [0{COUNT}")]}
SMOOTH = ["--init", "smooth"]
WITH = {"--lengthscale": {"simulate": SMOOTH, "train": SMOOTH, "scaling": SMOOTH, "converge": ["--limit", "ode"],
                          "transfer": SMOOTH, "coord-check": SMOOTH},
        "--activation": {"converge": ["--block", "res1"]},
        "--hidden": dict.fromkeys(HAS["--hidden"], ["--block", "res2"]),
        "--seed": {"demo": ["--quick"]}}


def _count(cmd: str, flag: str) -> list[tuple[str, str]]:
    """10^400 for a count flag, with the message naming it and its range."""
    name = flag[2:].replace("-", "_")
    return [(BIG, f"{name} must be an integer in [{LOW.get((cmd, flag), 1)}{COUNT}")]


BIG_NUMBERS = [([cmd, *WITH.get(flag, {}).get(cmd, []), flag, value], fragment)
               for flag, commands in HAS.items() for cmd in commands
               for value, fragment in VALUES.get(flag) or _count(cmd, flag)] + [
    (["train", "--lr", "1e39"], f"lr must be a real number in {LR}; got 1e+39"),
    (["train", "--rule", "depth", "--lr", "1e39"], f"lr must be a real number in {LR}; got 1e+39"),
    (["train", "--rule", "depth", "--base-depth", "1", "--beta", "1e300"],
     "the rule's lr = lr0 (depth / base_depth)^gamma = 0.05 (64 / 1)^2e+300 = inf must be in (0, 1e+30]"),
    (["trainability", "--lrs", "1e308"], f"--lrs must be a comma list or start:stop:num (num >= 1) of reals in {LR}"),
    (["transfer", "--lr0s", "1e-3,1e31"], f"--lr0s must be a comma list or start:stop:num (num >= 1) of reals in {LR}"),
    (["coord-check", "--lr0", "1e39"], f"lr0 must be a real number in {LR}; got 1e+39"),
    (["propagation", "--activations", "tanh,leaky_relu:1e200"], "(a slope in [-100, 100]); got 'leaky_relu:1e200'"),
]


@pytest.mark.parametrize("args,fragment", BIG_NUMBERS, ids=[" ".join(a)[:60] for a, _ in BIG_NUMBERS])
def test_big_numbers_name_the_flag_and_the_range(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert main([*args, *([] if args[0] == "simulate" else ["--out", "x"])]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("reslimit: error: ") and err.count("\n") == 1, err
    assert fragment in err and out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call,fragment", [
    (lambda: init.variance("he", 10**400), f"fan_in must be an integer in [1{COUNT}"),
    (lambda: init.kappa("leaky_relu:1e200"), "(a slope in [-100, 100]); got 'leaky_relu:1e200'"),
    (lambda: Smooth(2, lengthscale=1e-320), f"{LENGTH} 1e-320"),
    (lambda: ScaledResNet(10**400, 2), f"depth must be an integer in [1{COUNT}"),
    (lambda: ScaledResNet(2**63, 2), f"depth must be an integer in [1, 2^63 - 1]; got {2**63}"),
])
def test_big_numbers_in_the_api(call, fragment):
    with pytest.raises(ValueError) as err:
        call()
    assert fragment in str(err.value)


def test_largest_seed_is_taken(capsys):
    assert main(SIM + ["--seed", str(2**63 - 1)]) == 0
    assert "median" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["leaky_relu:nan", "leaky_relu:inf", "leaky_relu:-inf", "leaky_relu:abc",
                                  "leaky_relu:1e200", "leaky_relu:-100.5"])
def test_leaky_relu_slope_must_be_finite(spec):
    with pytest.raises(ValueError, match=r"\(a slope in \[-100, 100\]\)"):
        get_activation(spec)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(seed=2**63), SEED_RANGE),
    (dict(seed=-1), SEED_RANGE),
    (dict(ensemble=1), "ensemble must be an integer >= 2"),
    (dict(inputs=0), "inputs must be an integer >= 1"),
    (dict(width=-3), "width must be an integer >= 1"),
])
def test_demo_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("^", r"\^").replace("[", r"\[")):
        demo.run_demo(**({"depths": (4,), "betas": (0.5,)} | kwargs))


# Class 8 (issue class 4): an option of another choice is refused naming both, on every command with it
NOT_TAKEN = [("iid", "hurst", "0.7", "dist"), ("iid", "lengthscale", "0.1", "dist"),
             ("smooth", "hurst", "0.7", "lengthscale"), ("fbm", "lengthscale", "0.1", "hurst, resolution")]
OTHER_CHOICE = [
    *[(["simulate", "--init", init_, f"--{option}", value], f"path {init_!r} takes no option(s) {option}; it takes")
      for init_, option, value, _ in NOT_TAKEN],
    *[([cmd, "--init", init_, f"--{option}", value], f"{option} is not an option of path {init_!r}, which takes "
                                                      f"{takes}")
      for cmd in ("train", "transfer", "coord-check") for init_, option, value, takes in NOT_TAKEN],
    (["scaling", "--init", "brownian", "--hurst", "0.7"], "hurst is for init 'fbm' only; got hurst=0.7 with init "
                                                          "'brownian'"),
    *[(["converge", "--limit", limit, "--hurst", "0.7"], f"hurst is for limit 'fbm' only; got hurst=0.7 with limit "
                                                         f"{limit!r}") for limit in ("ode", "sde")],
    *[([cmd, "--optimizer", "adam", "--momentum", "0.9"], "momentum is SGD's; got momentum=0.9 with optimizer 'adam'")
      for cmd in ("train", "transfer", "coord-check")],
]


@pytest.mark.parametrize("args,fragment", OTHER_CHOICE, ids=[" ".join(a) for a, _ in OTHER_CHOICE])
def test_an_option_of_another_choice_is_refused(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert main([*args, *([] if args[0] == "simulate" else ["--out", "x"])]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []


# Class 8 (issue class 7): files that are not what they say, one line naming the file and what is wrong
V16 = np.random.default_rng(0).normal(size=(16, 2, 3, 3))


def _archive(path, **arrays):
    np.savez(path, **arrays)
    return path.read_bytes()


def _cut(path):
    path.write_bytes(_archive(path, V=V16)[:1000])


def _crc(path):
    data = bytearray(_archive(path, V=V16))
    data[data.index(b"NUMPY") + 300] ^= 0xFF
    path.write_bytes(bytes(data))


REGULARITY_FILES = [
    (_cut, "is not a readable .npz archive: File is not a zip file"),
    (_crc, "is not a readable .npz archive: Bad CRC-32 for file 'V.npy'"),
    (lambda p: p.write_bytes(b""), "is not a readable .npz archive: it is not np.savez's zip of arrays: it starts b''"),
    (lambda p: _archive(p, V=V16 + 1j), "[V]: weights must hold real numbers; got an array of dtype complex128"),
    (lambda p: _archive(p, V=np.full((16, 2, 2), "a")), "[V]: weights must hold real numbers; got an array of dtype"),
    (lambda p: _archive(p, V=V16 * 1e200), "[V]: weights must have entries of magnitude at most 1e+100"),
    (lambda p: _archive(p, V=np.zeros((16, 2, 0, 3))), "[V]: weights must have at least one column"),
]


@pytest.mark.parametrize("make,fragment", REGULARITY_FILES, ids=range(len(REGULARITY_FILES)))
def test_regularity_names_the_file_and_what_is_wrong(tmp_path, capsys, make, fragment):
    path = tmp_path / "run.npz"
    make(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's warnings (ComplexWarning, overflow) are failures here
        assert main(["regularity", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("reslimit: error: ") and str(path) in err
    assert fragment in err, err


X40 = np.random.default_rng(0).normal(size=(40, 3))
Y40 = np.arange(40) % 2


@pytest.mark.parametrize("arrays,fragment", [
    (dict(X=np.zeros((0, 4)), y=np.zeros(0, dtype=int)), "data.npz['X'] has no rows; at least 10 are needed"),
    (dict(X=X40 * 1e-320, y=Y40), "data.npz['X']'s feature 0 (of the training rows) has a std float64 cannot hold"),
    (dict(X=X40 * 1e300, y=Y40), "data.npz['X']'s feature 0 (of the training rows) has a std float64 cannot hold"),
    (dict(X=X40 + 1j, y=Y40), "data.npz['X'] must hold real numbers; got an array of dtype complex128"),
])
def test_train_data_names_the_file_and_what_is_wrong(tmp_path, monkeypatch, capsys, arrays, fragment):
    monkeypatch.chdir(tmp_path)
    np.savez("data.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["train", "--data", "data.npz", "--depth", "4", "--width", "4", "--out", "x"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npz"]


# Class 8 (issue class 8): the smaller ones
TRAIN = ["train", "--data", "synthetic", "--depth", "4", "--width", "4", "--epochs", "1"]


@pytest.mark.parametrize("args", [["phase", "--betas", "-0,1"], ["scaling", "--betas", "-0,1"],
                                  ["trainability", "--betas", "-0,1"], ["phase", "--hursts", "-0.5,0.5"]])
def test_a_value_that_starts_with_a_dash_is_told_to_glue_it(capsys, args):
    assert main([*args, "--out", "x"]) == 2
    flag = args[1]
    assert capsys.readouterr().err == (f"reslimit: error: argument {flag}: expected one argument; a value that starts "
                                       f"with '-' is given as {flag}=VALUE (e.g. {flag}=-0,1) (see reslimit "
                                       f"{args[0]} --help)\n")


@pytest.mark.parametrize("command,handler", [(SIM, "_simulate"), (TRAIN + ["--out", "x"], "_train"),
                                             (["report", "--out", "x"], "_report"),
                                             (["scaling", *STUDY, "--out", "x"], "_scaling")])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")])
def test_a_full_disk_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys, command, handler, error):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESLIMIT_DEBUG", raising=False)
    monkeypatch.setattr(cli, handler, lambda args: (_ for _ in ()).throw(error))
    assert main(command) == 2
    where = "x" if "--out" in command else str(tmp_path)
    err = capsys.readouterr().err
    assert err.startswith(f"reslimit: error: no space left on the device of {where} (") and err.count("\n") == 1
    assert err.endswith("); free some and rerun the same command\n")


@pytest.mark.slow  # two trainings, their figures drawn
def test_a_full_disk_in_train_then_a_rerun_with_room(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    out = str(tmp_path / "t")
    with monkeypatch.context() as m:
        m.setattr(torch, "save", full)
        assert main([*TRAIN, "--out", out]) == 2
    assert f"reslimit: error: no space left on the device of {out} (RuntimeError: [enforce fail" in \
        capsys.readouterr().err
    assert main([*TRAIN, "--out", out]) == 0
    assert "trained; wrote" in capsys.readouterr().out


@pytest.mark.slow  # two trainings, their figures drawn
def test_ctrl_c_while_train_writes_its_results_says_what_is_kept(tmp_path, monkeypatch, capsys):
    train_module = importlib.import_module("reslimit.train")  # reslimit.train is also the function

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "t"
    with monkeypatch.context() as m:
        m.setattr(train_module.History, "plot", interrupt)
        assert main([*TRAIN, "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"reslimit: interrupted while writing the results: every epoch is kept in {out / 'checkpoint.pt'}; rerun the "
        "same command to write history.csv, weights.pt, the figures and the manifest")  # after the progress bar
    assert main([*TRAIN, "--out", str(out)]) == 0
    assert (out / "training.png").exists() and json.loads((out / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("ledger,advice", [(None, "the same command writes it anew"),
                                           ("checkpoint.pt", "train rebuilds it from its checkpoint"),
                                           ("points.jsonl", "a sweep rebuilds it from its ledger")])
def test_a_damaged_manifest_gets_the_advice_of_its_folder(tmp_path, capsys, ledger, advice):
    (tmp_path / "manifest.json").write_text("{garbage")
    if ledger:
        (tmp_path / ledger).write_bytes(b"")
    assert main([*TRAIN, "--out", str(tmp_path)]) == 2
    assert f"manifest.json is unreadable (not a JSON object); delete it ({advice}" in capsys.readouterr().err


# Class 9: the Python API -------------------------------------------------------------------------------------
SMALL = {"width": 2, "samples": 2, "depths": [4, 8, 16], "reference_factor": 4}


@pytest.mark.parametrize("limit", ["ode", "sde"])
def test_converge_in_float32(limit):
    c32 = converge(limit, dtype=torch.float32, **SMALL)
    assert c32.params["dtype"] == "float32" and np.isfinite(c32.path_error).all()
    by_name = converge(limit, dtype="float32", **SMALL)
    np.testing.assert_array_equal(by_name.path_error, c32.path_error)
    c64 = converge(limit, dtype="float64", **SMALL)
    np.testing.assert_array_equal(c64.path_error, converge(limit, **SMALL).path_error)
    assert c64.params["dtype"] == "float64"


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(dtype="float16"), "dtype must be torch.float32 or torch.float64 (or 'float32', 'float64')"),
    (dict(dtype=torch.int64), "dtype must be"),
    (dict(reference_factor=0), "reference_factor must be an integer >= 2; got 0"),
    (dict(reference_factor=1), "reference_factor must be an integer >= 2; got 1"),
    (dict(reference_factor=2.5), "reference_factor must be an integer >= 2; got 2.5"),
    (dict(reference_factor="8"), "reference_factor must be an integer >= 2; got '8'"),
    (dict(lengthscale="abc"), "lengthscale must be a real number in [1e-300, 1e+300]; got 'abc'"),
    (dict(lengthscale=math.nan), "lengthscale must be a real number"),
    (dict(lengthscale=0), "lengthscale must be a real number in [1e-300, 1e+300]; got 0"),
    (dict(seed=2**63), SEED_RANGE),
    (dict(seed=1.5), SEED_RANGE),
    (dict(width="2"), "width must be an integer >= 1"),
    (dict(samples=0), "samples must be an integer >= 1"),
    (dict(limit="fbm", hurst=math.nan), "hurst must be a real number in (0.5, 1.0)"),
    (dict(out=""), "out must be a non-empty path; got ''"),
    (dict(out=3), "out must be a non-empty path; got 3"),
    (dict(depths=[16, 32, 2**40]), "depths up to 1099511627776 x reference_factor=4 needs about"),
    (dict(samples=2**62), f"depths up to 16 x reference_factor=4 with samples={2**62}, width=2 needs about"),
    (dict(samples=2**64), f"samples must be an integer in [1, 2^63 - 1]; got {2**64}"),
    (dict(lengthscale=1e-320), "lengthscale must be a real number in [1e-300, 1e+300]; got 1e-320"),
    (dict(lengthscale=1e308), "lengthscale must be a real number in [1e-300, 1e+300]; got 1e+308"),
    (dict(activation="leaky_relu:1e200"), "'leaky_relu:<slope>' (a slope in [-100, 100]) or a callable; got"),
    (dict(width=10**6, samples=10**6), "for the reference solve and its backpropagation, more than 80% of the"),
    (dict(depths=[1021, 1031, 1033]), "depths [1021, 1031, 1033] (whose grids meet at lcm 1087388483: 1087388483 "
     "reference steps) with reference_factor=4 needs about 1.09e+09 steps"),  # three primes: G = N, their product
])
def test_converge_arguments(tmp_path, monkeypatch, kwargs, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        converge(**(SMALL | kwargs))
    assert fragment in str(err.value)
    assert list(tmp_path.iterdir()) == []


def _ode():
    return NeuralODE(block="res1", outer=Smooth(3, 2, seed=0), method="rk4", options={"step_size": 1 / 16})


def _sde():
    return NeuralSDE(block="res1", outer=Brownian(3, 2, seed=0))


H0 = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
TS = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)


def _solve(kind, h0=H0, ts=TS):
    return _ode().solve(h0, ts) if kind == "ode" else _sde().solve(h0, steps=16, every=8)


@pytest.mark.parametrize("kind", ["ode", "sde"])
@pytest.mark.parametrize("h0", [H0.numpy(), H0.tolist(), H0.numpy().astype(np.float32)])
def test_limits_take_arrays_of_numbers(kind, h0):
    expected = _solve(kind, torch.from_numpy(np.asarray(h0, dtype=np.float64)))  # converted to the path's dtype
    torch.testing.assert_close(_solve(kind, h0), expected, rtol=0, atol=0)
    if not isinstance(h0, np.ndarray) or h0.dtype == np.float64:
        torch.testing.assert_close(expected, _solve(kind), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["ode", "sde"])
def test_limits_feed_a_2d_state_to_every_member(kind):
    torch.testing.assert_close(_solve(kind, H0[0]), _solve(kind, H0[0].expand(2, 4, 3)), rtol=0, atol=0)


def test_ode_takes_a_list_of_times_and_starts_at_zero():
    torch.testing.assert_close(_ode().solve(H0, [0.0, 0.5, 1.0]), _ode().solve(H0, TS), rtol=0, atol=0)
    torch.testing.assert_close(_ode().solve(H0, np.array([0.5, 1.0])), _ode().solve(H0, TS)[1:], rtol=0, atol=0)


def _nan(shape=(2, 4, 3), value=math.nan):
    return torch.full(shape, value, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["ode", "sde"])
@pytest.mark.parametrize("h0,fragment", [
    (_nan(), "h0 must hold finite numbers; it contains NaN"),
    (_nan(value=math.inf), "h0 must hold finite numbers; it contains inf"),
    (np.full((2, 4, 3), -np.inf), "h0 must hold finite numbers; it contains inf"),
    ("abc", "h0 must be a tensor or an array of numbers; got str"),
    (None, "h0 must have shape (ensemble=2, batch, 3) or (batch, 3); got ()"),
    (np.ones((2, 4, 3), dtype=complex), "h0 must be a tensor or an array of numbers; got ndarray"),
    ([[1.0, 2.0], [3.0]], "h0 must be a tensor or an array of numbers; got list"),
    (torch.zeros(2, 4, 3, dtype=torch.float32), "h0 must have dtype torch.float64 like the path; got torch.float32"),
    (torch.zeros(2, 4, 3, dtype=torch.int64), "h0 must have dtype torch.float64 like the path"),
    (torch.zeros(3, 4, 3, dtype=torch.float64), "h0 must have shape (ensemble=2, batch, 3)"),
])
def test_limits_refuse_bad_states(kind, h0, fragment):
    with pytest.raises(ValueError) as err:
        _solve(kind, h0)
    assert fragment in str(err.value)


@pytest.mark.parametrize("ts,fragment", [
    ([0.0, math.nan, 1.0], "ts must hold finite numbers; it contains NaN"),
    (torch.tensor([0.0, math.inf]), "ts must hold finite numbers; it contains inf"),
    ([0.0, 1.5], "ts must lie in [0, 1]; got times from 0.0 to 1.5"),
    ([-0.5, 1.0], "ts must lie in [0, 1]"),
    ([0.0, 0.5, 0.5], "ts must be strictly increasing (in torch.float64); got ts[1] = 0.5 followed by 0.5"),
    ([1.0, 0.0], "ts must be strictly increasing"),
    ([], "ts must be a non-empty 1-D sequence of times; got shape (0,)"),
    ([[0.0, 1.0]], "ts must be a non-empty 1-D sequence of times; got shape (1, 2)"),
    (0.5, "ts must be a non-empty 1-D sequence of times; got shape ()"),
    ("abc", "ts must be a 1-D sequence of times; got str"),
    (None, "ts must be a non-empty 1-D sequence of times; got shape ()"),
])
def test_ode_refuses_bad_times(ts, fragment):
    with pytest.raises(ValueError) as err:
        _ode().solve(H0, ts)
    assert fragment in str(err.value)


@pytest.mark.parametrize("make,fragment", [
    (lambda: NeuralODE(block="res1", outer=None), "outer must be a WeightPath (reslimit.paths"),
    (lambda: NeuralSDE(block="res1", outer=None), "outer must be a WeightPath (reslimit.paths"),
    (lambda: NeuralSDE(block="res1", outer="brownian"), "outer must be a WeightPath; got str"[:24]),
    (lambda: NeuralODE(block="res2", outer=Smooth(3), inner=np.eye(3)), "inner must be a WeightPath or None"),
    (lambda: NeuralODE(block="res2", outer=Smooth(3), inner=Smooth(3, dtype=torch.float32)),
     "outer and inner must share dtype and device"),
    (lambda: NeuralSDE(block="res2", outer=FractionalBrownian(3, hurst=0.7, resolution=16),
                       inner=Smooth(3, dtype=torch.float32)), "outer and inner must share dtype and device"),
])
def test_limits_refuse_what_is_not_a_path(make, fragment):
    with pytest.raises(ValueError) as err:
        make()
    assert fragment in str(err.value)


SMOOTH3 = Smooth(3, 2, seed=0)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(rtol=-1), "rtol must be a real number in [0.0, inf]; got -1"),
    (dict(rtol=math.nan), "rtol must be a real number in [0.0, inf]; got nan"),
    (dict(atol=-1e-9), "atol must be a real number in [0.0, inf]; got -1e-09"),
    (dict(rtol="1e-6"), "rtol must be a real number in [0.0, inf]; got '1e-6'"),
    (dict(rtol=0, atol=0), "rtol and atol must not both be 0 (the adaptive step would shrink to nothing)"),
    (dict(options=[1]), "options must be a dict of torchdiffeq's solver options or None; got [1]"),
    (dict(method="rk4", options={"step_size": 0}), "options['step_size'] must be a real number in (0.0, 1.0]; got 0"),
    (dict(method="euler", options={"step_size": -0.1}), "options['step_size'] must be a real number in (0.0, 1.0]"),
    (dict(method="rk4", options={"step_size": "a"}), "options['step_size'] must be a real number in (0.0, 1.0]"),
    (dict(method="RK4"), "method must be one of 'dopri8', 'dopri5'"),
])
@pytest.mark.parametrize("solver", ["NeuralODE", "CustomODE"])
def test_ode_solver_options_are_checked_at_construction(solver, kwargs, fragment):
    from reslimit.custom import BlockPaths, CustomBlock, CustomODE

    class Linear(CustomBlock):
        parameters = {"W": ("width", "width")}

        def g(self, h, theta):
            return h @ theta["W"].mT

    with pytest.raises(ValueError) as err:
        if solver == "NeuralODE":
            NeuralODE(block="res1", outer=SMOOTH3, **kwargs)
        else:
            CustomODE(Linear(), BlockPaths.draw(Linear(), 3, kind="smooth"), **kwargs)
    assert fragment in str(err.value)


@pytest.mark.parametrize("kind", ["ode", "sde"])
@pytest.mark.parametrize("scale,shown", [(lambda t: math.nan, "nan"), (lambda t: math.inf, "inf"),
                                         (lambda t: "x", "'x'"), (lambda t: None, "None")])
def test_a_scale_that_is_not_a_finite_real_is_named(kind, scale, shown):
    limit = (NeuralODE(block="res1", outer=SMOOTH3, method="rk4", steps=4, scale=scale) if kind == "ode"
             else NeuralSDE(block="res1", outer=Brownian(3, 2, seed=0), scale=scale))
    with pytest.raises(ValueError) as err:
        limit.trajectory(H0) if kind == "ode" else limit.solve(H0, steps=4)
    assert f"scale must return a finite real s(t); got scale(0.0) = {shown}" in str(err.value)


def test_ode_takes_what_it_documents():
    ode = NeuralODE(block="res1", outer=SMOOTH3, method="euler", rtol=0, atol=1e-9, options={"step_size": 0.25})
    assert ode.solve(H0, TS).shape == (3, 2, 4, 3)


def test_network_shares_the_state_check():
    net = ScaledResNet(4, 3, ensemble=2)
    with torch.no_grad():
        torch.testing.assert_close(net(H0.numpy()), net(H0), rtol=0, atol=0)
        torch.testing.assert_close(net(H0[0].tolist()), net(H0[0]), rtol=0, atol=0)
        for bad, fragment in [(_nan(value=math.inf), "h0 must hold finite numbers; it contains inf"),
                              ("abc", "h0 must be a tensor or an array of numbers; got str")]:
            with pytest.raises(ValueError) as err:
                net(bad)
            assert fragment in str(err.value)
        with pytest.raises(ValueError, match="grad_output must hold finite numbers; it contains NaN"):
            net.adjoint(H0, _nan())


def test_train_refuses_a_checkpoint_in_a_missing_folder_and_adam_with_momentum(tmp_path):
    from reslimit.data import get_data
    from reslimit.train import train

    data = get_data("synthetic", n=20, dtype=torch.float64)
    net = ScaledResNet(4, 4, input_dim=data.input_dim, output_dim=data.output_dim)
    missing = tmp_path / "missing" / "ck.pt"
    with pytest.raises(ValueError, match="checkpoint: the folder of '.*missing/ck.pt' does not exist; create it"):
        train(net, data, epochs=1, checkpoint=missing)
    with pytest.raises(ValueError, match="momentum is SGD's; got momentum=0.9 with optimizer 'adam'"):
        train(net, data, epochs=1, optimizer="adam", momentum=0.9)
    assert list(tmp_path.iterdir()) == []
    assert train(net, data, epochs=1, checkpoint=tmp_path / "ck.pt").final["epoch"] == 1


# Class 10: converge --depths takes start:stop:num and start:stop:xK, as the other grid flags; any depths ------
GEOMETRIC = "a geometric range start:stop:xK needs"


@pytest.mark.parametrize("depths,code,expected", [
    ("1:4:3", 0, [1, 2, 4]),
    ("4:16:3", 0, [4, 10, 16]),  # grids that do not nest: the reference on the grid of their lcm, 80
    ("2:8:x2", 0, [2, 4, 8]),
    ("8,x", 2, "--depths must be a comma list or start:stop:num (num >= 1) of integers in [1, 2^63 - 1]; got '8,x'"),
    ("0:8:3", 2, "0 is outside [1, 2^63 - 1]"),
    ("4:nan:3", 2, "'nan' is not a finite number"),
    ("", 2, "it is empty"),
    ("8:1024:x1", 2, f"got '8:1024:x1': {GEOMETRIC} an integer factor K >= 2, not 'x1'"),
    ("8:1024:x0", 2, f"{GEOMETRIC} an integer factor K >= 2, not 'x0'"),
    ("8:1024:x-2", 2, f"{GEOMETRIC} an integer factor K >= 2, not 'x-2'"),
    ("8:1024:x", 2, f"{GEOMETRIC} an integer factor K >= 2, not 'x'"),
    ("8:1024:x1.5", 2, f"{GEOMETRIC} an integer factor K >= 2, not 'x1.5'"),
    ("8:4:x2", 2, f"{GEOMETRIC} start <= stop, not 8 > 4"),
    ("0:8:x2", 2, f"{GEOMETRIC} integers 1 <= start <= stop"),
    ("2.5:10:x2", 2, f"{GEOMETRIC} integers 1 <= start <= stop"),
    ("8:1000:x2", 2, f"{GEOMETRIC} a stop that is start x K^n: 1000 is not 8 x 2^n (the nearest are 512 and 1024: "
     "8:512:x2 or 8:1024:x2)"),
    ("8:1024:y2", 2, "num must be an integer in [1, 10000], not 'y2' (or xK, K >= 2, for a geometric range"),
    ("4," + "1" + "0" * 400, 2, "got '4,1000000000'... (403 characters): an integer of 401 digits is outside [1, "
     "2^63 - 1]"),  # named by its length, in one line
    (f"2:{2**64}:3", 2, "1.8446744073709552e+19 is outside [1, 2^63 - 1]"),  # before numpy casts it to int64
])
def test_converge_depths_grid(tmp_path, capsys, depths, code, expected):
    out = tmp_path / "c"
    status = main(["converge", "--width", "2", "--samples", "4", "--depths", depths, "--reference-factor", "4",
                   "--out", str(out)])
    err = capsys.readouterr().err
    if code == 0:
        assert status in (0, 1) and "error" not in err  # 1: a verdict failed at these sizes; err: the progress bar
        assert json.loads((out / "manifest.json").read_text())["params"]["depths"] == expected
    else:
        assert status == code and expected in err and err.count("\n") == 1 and not out.exists()
