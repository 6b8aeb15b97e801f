"""The command line: simulate's summary against its saved run, the error path, divergence, the demo study."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import reslimit
from reslimit import demo
from reslimit._rng import normal, substream
from reslimit.cli import main

SMALL = ["--depth", "12", "--width", "6", "--ensemble", "4", "--samples", "5", "--seed", "3"]
SCRIPT = Path(sys.executable).with_name("reslimit")  # the console script installed beside this interpreter


def _printed(name: str, text: str) -> float:
    """The number printed after ``name`` (e.g. "median 0.79" -> 0.79)."""
    match = re.search(rf"{re.escape(name)} ([-+0-9.einf]+)", text)
    assert match, f"no {name!r} in output:\n{text}"
    return float(match.group(1))


def _simulate(capsys, *args):
    code = main(["simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_matches_saved_run(tmp_path, capsys):
    path = tmp_path / "run.npz"
    code, out, _ = _simulate(capsys, "--block", "res3", *SMALL, "--save", str(path))
    assert code == 0
    run = np.load(path)
    assert run["h"].shape == (13, 4, 5, 6) and run["V"].shape == run["W"].shape == (12, 4, 6, 6)
    params = json.loads(str(run["params"]))
    assert (params["block"], params["depth"], params["seed"]) == ("res3", 12, 3)
    assert (params["outer_seed"], params["inner_seed"]) == (substream(3, "outer"), substream(3, "inner"))
    assert float(run["alpha"]) == 12**-0.5 and float(run["beta"]) == 0.5
    ratio = np.linalg.norm(run["h"][-1] - run["h"][0], axis=-1) / np.linalg.norm(run["h"][0], axis=-1)
    # printed with 6 significant digits
    assert _printed("median", out) == pytest.approx(np.median(ratio), rel=1e-5)
    assert _printed("quartiles", out) == pytest.approx(np.quantile(ratio, 0.25), rel=1e-5)
    assert _printed("..", out) == pytest.approx(np.quantile(ratio, 0.75), rel=1e-5)
    assert _printed("measured", out) == pytest.approx(np.mean(ratio**2), rel=1e-5)
    assert _printed("+-", out) == pytest.approx(np.std((ratio**2).mean(1), ddof=1) / 2, rel=5e-3)  # 3 digits
    assert "diverged: 0 of 20 samples" in out


@pytest.mark.parametrize("block,activation", [("res1", "tanh"), ("res3", "relu")])
def test_saved_run_recomputed_by_hand(tmp_path, capsys, block, activation):
    # h_{k+1} = h_k + alpha V_{k+1} g(h_k) in numpy from the saved V, W, h: g = tanh(h) or ReLU(W h).
    path = tmp_path / "run.npz"
    code, _, _ = _simulate(capsys, "--block", block, "--activation", activation, *SMALL, "--save", str(path))
    assert code == 0
    run = np.load(path)
    h, V, alpha = run["h"], run["V"], float(run["alpha"])
    assert ("W" in run) == (block == "res3")
    for k in range(12):
        pre = h[k] if block == "res1" else np.einsum("eij,enj->eni", run["W"][k], h[k])
        g = np.tanh(pre) if block == "res1" else np.maximum(pre, 0.0)
        expected = h[k] + alpha * np.einsum("eij,enj->eni", V[k], g)
        np.testing.assert_allclose(h[k + 1], expected, rtol=0, atol=1e-12)
    # and the run is rebuilt from its seed: the inputs from the stream "inputs", V (W) as the paths' weights
    np.testing.assert_array_equal(h[0], normal((4, 5, 6), 3, "inputs", torch.float64).numpy())
    np.testing.assert_array_equal(V, reslimit.make_path("iid", 6, 4, seed=substream(3, "outer")).weights(12).numpy())
    if block == "res3":
        inner = reslimit.make_path("iid", 6, 4, seed=substream(3, "inner")).weights(12).numpy()
        np.testing.assert_array_equal(run["W"], inner)


@pytest.mark.parametrize("block,activation", [("res1", "tanh"), ("res2", "tanh"), ("res3", "relu")])
def test_saved_weights_are_those_of_scaled_resnet_of_the_same_seed(tmp_path, capsys, block, activation):
    # one seed table (reslimit._rng.STREAMS): simulate --seed s builds ScaledResNet(..., seed=s)'s very weights
    path = tmp_path / "f.npz"
    code, _, err = _simulate(capsys, "--seed", "0", "--init", "iid", "--block", block, "--activation", activation,
                             "--depth", "9", "--width", "5", "--ensemble", "3", "--samples", "2", "--save", str(path))
    assert code == 0, err
    run = np.load(path)
    net = reslimit.ScaledResNet(9, 5, seed=0, block=block, activation=activation, ensemble=3)
    np.testing.assert_array_equal(run["V"], net.V.detach().numpy())
    if block == "res1":
        assert "W" not in run and net.W is None
    else:
        np.testing.assert_array_equal(run["W"], net.W.detach().numpy())
        assert not np.array_equal(run["W"], run["V"])  # two streams, not one seed twice


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "gaussian"])
def test_dist_sets_the_law_of_iid_weights(tmp_path, capsys, dist):
    # sqrt(d) V has i.i.d. entries of variance 1: uniform on [-sqrt 3, sqrt 3], +-1, or N(0, 1)
    path = tmp_path / "run.npz"
    code, _, err = _simulate(capsys, "--dist", dist, "--depth", "50", "--width", "20", "--ensemble", "4",
                             "--samples", "2", "--save", str(path))
    assert code == 0, err
    z = np.load(path)["V"] * np.sqrt(20)  # 50 x 4 x 20 x 20 = 80,000 entries
    assert json.loads(str(np.load(path)["params"]))["dist"] == dist
    assert abs(np.mean(z**2) - 1) < 0.02  # SE of the mean of z^2: sqrt(Var z^2 / 80000) <= 0.005 (Gaussian)
    if dist == "uniform":
        assert np.abs(z).max() <= np.sqrt(3) and np.abs(z).max() > 0.99 * np.sqrt(3)
    elif dist == "rademacher":
        np.testing.assert_allclose(np.abs(z), 1.0, rtol=1e-12)
    else:
        assert np.abs(z).max() > 4  # P(max of 80,000 |N(0, 1)| <= 4) = (1 - 6.3e-5)^80000 < 1e-2


def test_wrong_dist_exits_2_with_one_line_naming_it(capsys):
    code, out, err = _simulate(capsys, "--dist", "cauchy")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("reslimit: error:") and "--dist" in err and "uniform" in err
    code, _, err = _simulate(capsys, "--init", "brownian", "--dist", "uniform")
    assert code == 2 and err.count("\n") == 1 and "dist" in err and "'iid'" in err


@pytest.mark.parametrize("block", ["res1", "res2", "res3"])
def test_activation_defaults_to_relu(capsys, block):
    code, out, err = _simulate(capsys, "--block", block, *SMALL)
    assert code == 0, err
    if block == "res1":  # relu(h): no constant c, no theory
        assert "theory" not in out
    else:  # relu(W h): c = 1/2
        assert "theory (1 + 0.5 alpha^2)^L - 1" in out


@pytest.mark.parametrize("block,activation,c",
                         [("res3", "relu", 0.5), ("res1", "identity", 1.0), ("res1", "tanh", None)])
def test_theory_printed_where_exact(capsys, block, activation, c):
    code, out, _ = _simulate(capsys, "--block", block, "--activation", activation, "--beta", "0.3", *SMALL)
    assert code == 0
    if c is None:
        assert "theory" not in out
    else:
        assert _printed("- 1 =", out) == pytest.approx((1 + c * (12**-0.3) ** 2) ** 12 - 1, rel=1e-5)


@pytest.mark.slow  # the installed console script, in subprocesses
def test_installed_script_runs_and_fails_cleanly(tmp_path):
    ok = subprocess.run([SCRIPT, "simulate", *SMALL, "--init", "brownian"], capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert "median" in ok.stdout and "diverged: 0 of 20 samples" in ok.stdout
    bad = subprocess.run([SCRIPT, "simulate", "--width", "0"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("reslimit: error: width") and "Traceback" not in bad.stderr
    module = subprocess.run([sys.executable, "-m", "reslimit", "simulate", "--width", "0"], capture_output=True,
                            text=True, check=False)
    assert (module.returncode, module.stderr) == (2, bad.stderr)  # python -m reslimit: the same command


def _needs(path_name):
    return pytest.mark.skipif(path_name not in reslimit.PATHS, reason=f"path {path_name!r} not registered")


@pytest.mark.parametrize("args,name", [
    (["--depth", "0"], "depth"),
    (["--width", "0"], "width"),
    (["--beta", "-1"], "beta"),
    (["--block", "res9"], "block"),
    (["--activation", "foo"], "activation"),
    (["--block", "res3", "--activation", "tanh"], "activation"),
    (["--samples", "0"], "samples"),
    (["--seed", "-1"], "seed"),
    (["--init", "nope"], "init"),
    (["--dist", "cauchy"], "dist"),
    (["--init", "brownian", "--dist", "uniform"], "dist"),
    (["--init", "iid", "--hurst", "0.7"], "hurst"),
    (["--init", "iid", "--lengthscale", "0.2"], "lengthscale"),
    pytest.param(["--init", "fbm", "--hurst", "1.5", "--depth", "64"], "hurst", marks=_needs("fbm")),
    pytest.param(["--init", "smooth", "--hurst", "0.7"], "hurst", marks=_needs("smooth")),
    (["--depth", "x"], "--depth"),
    (["--dtype", "float16"], "--dtype"),
])
def test_bad_arguments_exit_2_naming_the_argument(capsys, args, name):
    code, out, err = _simulate(capsys, *args)
    assert code == 2
    assert name in err and "error:" in err and "Traceback" not in err
    assert out == ""


def test_usage_errors_outside_simulate(capsys, tmp_path):
    assert main([]) == 2
    assert main(["demo", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "reslimit: error: seed" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert reslimit.__version__ in capsys.readouterr().out


def test_diverging_network_is_reported_not_raised(capsys):
    # alpha = 1: E||h_{k+1}||^2 = 2 E||h_k||^2, so float32 overflows after about 256 of the 5000 layers.
    code, out, err = _simulate(capsys, "--block", "res1", "--activation", "identity", "--beta", "0",
                               "--depth", "5000", "--dtype", "float32")
    assert code == 0 and err == ""
    assert "diverged: 128 of 128 samples" in out


def test_statistics_skip_diverged_samples():
    h0 = torch.ones(2, 3, 4, dtype=torch.float64)
    hL = 2 * h0
    hL[0, 1, 2] = float("inf")
    hL[1, 0, 0] = float("nan")
    stats = demo.sample_statistics(h0, hL)
    assert (stats["samples"], stats["diverged"]) == (6, 2)
    assert stats["median"] == stats["q25"] == stats["q75"] == 1.0  # ||2 h0 - h0|| / ||h0|| on the other four
    assert np.isnan(stats["mean_sq"])


@pytest.mark.parametrize("init,option", [
    pytest.param("smooth", ["--lengthscale", "0.2"], marks=_needs("smooth")),
    pytest.param("fbm", ["--hurst", "0.7"], marks=_needs("fbm")),
])
def test_smooth_and_fbm_paths(tmp_path, capsys, init, option):
    path = tmp_path / "run.npz"
    args = ["--init", init, *option, "--block", "res2", "--activation", "tanh", "--depth", "16",
            "--width", "4", "--ensemble", "2", "--samples", "3", "--save", str(path)]
    code, out, _ = _simulate(capsys, *args)
    assert code == 0 and "median" in out and "theory" not in out
    options = {option[0][2:]: float(option[1])}
    run = np.load(path)
    expected = reslimit.make_path(init, 4, 2, seed=substream(0, "outer"), **options).weights(16).numpy()
    np.testing.assert_array_equal(run["V"], expected)


def test_demo_writes_table_csv_png_and_passes(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    with open(tmp_path / "demo.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3 * 3 and all(r["verdict"] == "pass" for r in rows)
    assert out.count(" pass") == len(rows) and "18 of 18 rows" in out
    for r in rows:
        alpha, depth, c = float(r["alpha"]), int(r["depth"]), float(r["c"])
        assert alpha == pytest.approx(depth ** -float(r["beta"]))
        assert float(r["theory"]) == pytest.approx((1 + c * alpha**2) ** depth - 1, rel=1e-12)
        assert abs(float(r["measured"]) - float(r["theory"])) <= 4 * float(r["se"])
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "demo.json").read_text())["settings"]["ensemble"] == demo.QUICK["ensemble"]


def test_demo_negative_control_fails(tmp_path, capsys, monkeypatch):
    # res-3 measured against the res-1/identity constant c = 1 must be rejected: exit status 1.
    monkeypatch.setattr(reslimit.BLOCKS["res3"], "second_moment", lambda self: 1.0)
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 1
    assert "fail" in capsys.readouterr().out


def test_converge_command_writes_the_study_and_refuses_another(tmp_path, capsys):
    from reslimit.cli import main

    out = tmp_path / "sde"
    args = ["converge", "--width", "4", "--depths", "8,16,32", "--samples", "8", "--out", str(out)]
    code = main(args)
    text = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"slope {manifest['slope']:.3f}" in text and code == (0 if manifest["passed"] else 1)
    assert main(args[:-2] + ["--seed", "5", "--out", str(out)]) == 2
    assert "different study" in capsys.readouterr().err


@pytest.mark.parametrize("bad,arg", [(["--depths", "8,16"], "at least 3"), (["--depths", "8,x"], "depths"),
                                     (["--limit", "fbm", "--hurst", "0.4"], "hurst")])
def test_converge_bad_input(tmp_path, capsys, bad, arg):
    from reslimit.cli import main

    assert main(["converge", "--width", "2", "--samples", "2", "--out", str(tmp_path)] + bad) == 2
    assert arg in capsys.readouterr().err


@pytest.mark.slow  # a process pool
def test_converge_command_sweeps_in_a_pool_and_resumes(tmp_path, capsys):
    """--chunk 2 --workers 2: two points on a pool; a rerun finds both in the ledger and prints the same verdict;
    the same study in-process (no --workers) gives the same numbers."""
    args = ["converge", "--width", "2", "--depths", "4,8,16", "--samples", "4", "--reference-factor", "4",
            "--chunk", "2"]
    code = main([*args, "--workers", "2", "--out", str(tmp_path / "pool")])
    first = capsys.readouterr().out
    ledger = (tmp_path / "pool" / "points.jsonl").read_text().splitlines()
    assert [json.loads(line)["point"] for line in ledger] == [0, 1]
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "pool")]) == code
    assert capsys.readouterr().out == first  # resumed: nothing left to compute, the same verdict
    assert main([*args, "--out", str(tmp_path / "local")]) == code
    assert capsys.readouterr().out.replace("local", "pool") == first


@pytest.mark.parametrize("command,args,message", [
    ("converge", ["--device", "tpu"], "device must be a torch device such as 'cpu' or 'cuda:0'; got 'tpu'"),
    ("scaling", ["--device", "meta"], "device must be 'cpu', 'cuda' or 'mps'"),
    ("simulate", ["--device", "tpu"], "device must be a torch device"),
    ("converge", ["--chunk", "100"], "chunk must be at most samples=64"),
    ("converge", ["--workers", "0"], "workers must be"),
])
def test_device_chunk_and_workers_are_checked_in_one_line(tmp_path, capsys, command, args, message):
    out = [] if command == "simulate" else ["--out", str(tmp_path / "d")]
    assert main([command, *args, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reslimit: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "d").exists()


def _options(*args):
    """What a handler passes to its library call for this command line."""
    from reslimit import cli

    return cli._given(cli._parser().parse_args(list(args)))


REQUIRED = {"simulate": [], "demo": ["--out", "d"], "converge": ["--out", "d"], "scaling": ["--out", "d"],
            "phase": ["--out", "d"]}


@pytest.mark.parametrize("command,flag,comma,span,values", [
    ("scaling", "--betas", "0,0.5,1", "0:1:3", [0.0, 0.5, 1.0]),
    ("scaling", "--depths", "10,505,1000", "10:1000:3", [10, 505, 1000]),
    ("phase", "--hursts", "0.25,0.5,0.75", "0.25:0.75:3", [0.25, 0.5, 0.75]),
    ("phase", "--betas", "0,0.5,1", "0:1:3", [0.0, 0.5, 1.0]),
    ("phase", "--depths", "10,505,1000", "10:1000:3", [10, 505, 1000]),
    ("converge", "--depths", "8,16,24", "8:24:3", [8, 16, 24]),
])
def test_every_grid_flag_takes_a_comma_list_or_a_range(command, flag, comma, span, values):
    for text in (comma, span):
        got = _options(command, *REQUIRED[command], flag, text)[flag[2:]]
        assert got == values and all(type(v) is type(values[0]) for v in got)
    with pytest.raises(ValueError, match=f"{flag} must be a comma list or start:stop:num"):
        _options(command, *REQUIRED[command], flag, "1:2")


def test_flags_not_given_are_left_to_the_library():
    # no default restated: a command line of only the required flags passes only them
    for command, required in REQUIRED.items():
        expected = ({"out": "d"} if required else {}) | ({"quick": False} if command == "demo" else {})
        assert _options(command, *required) == expected


def test_help_shows_the_library_defaults(capsys):
    from reslimit.studies import phase, scaling

    assert main(["scaling", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 10:1000:10)" in text and scaling.study().params["depths"] == list(range(10, 1001, 110))
    assert "(default 0.25,0.5,1.0)" in text and "(default float32)" in text and "(default relu)" in text
    assert main(["phase", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 0.1:0.9:9)" in text and "(default 0.0:1.3:27)" in text
    assert len(phase.study().params["betas"]) == 27


@pytest.mark.parametrize("command", ["scaling", "phase"])
def test_studies_default_to_relu_for_res3(tmp_path, capsys, command):
    grid = ["--hursts", "0.7"] if command == "phase" else []
    code = main([command, "--block", "res3", *grid, "--depths", "2,4", "--betas", "0.5", "--width", "3",
                 "--ensemble", "2", "--samples", "1", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "manifest.json").read_text())["params"]["activation"] == "relu"


def test_scaling_dist_flag(tmp_path, capsys):
    args = ["scaling", "--depths", "2", "--betas", "0.5", "--width", "3", "--ensemble", "2"]
    assert main([*args, "--dist", "uniform", "--out", str(tmp_path / "u")]) == 0
    assert json.loads((tmp_path / "u" / "manifest.json").read_text())["params"]["dist"] == "uniform"
    capsys.readouterr()
    assert main([*args, "--dist", "normal", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dist" in err and not (tmp_path / "n").exists()
    assert main([*args, "--init", "smooth", "--dist", "uniform", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reslimit: error: dist is for init 'iid'") and not (tmp_path / "s").exists()


def test_propagation_command(tmp_path, capsys):
    from reslimit.studies.propagation import propagation

    args = ["--depth", "6", "--width", "24", "--activations", "relu", "--inits", "he,xavier", "--ensemble", "2",
            "--samples", "3", "--seed", "1"]
    assert main(["propagation", *args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    result = propagation(depth=6, width=24, activations="relu", inits="he,glorot", ensemble=2, samples=3, seed=1)
    n, a, i = result.index("mlp", "relu", "glorot")
    line = next(x for x in out.splitlines() if x.startswith("mlp") and "glorot" in x)
    assert _printed("at layer 6", line) == pytest.approx(result.act_std[n, a, i, 6], rel=1e-3)
    assert _printed("(theory", line) == pytest.approx(np.sqrt(0.5**6 * (1 - 1 / np.pi)), rel=1e-3)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["params"]["inits"] == ["he", "glorot"] and manifest["params"]["depth"] == 6
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 7 and (tmp_path / "propagation.png").exists()


def test_propagation_bad_input(tmp_path, capsys):
    assert main(["propagation", "--inits", "orthogonal", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reslimit: error: inits must be one of") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_the_console_script_ignores_a_late_ctrl_c_once_its_command_returned():
    """reslimit's entry point (pyproject, python -m reslimit) is cli.run: the command's status, then SIGINT ignored
    while the interpreter exits (a pool joined at exit), so a finished run is not reported killed by SIGINT."""
    code = ("import signal, sys; from reslimit.cli import run; "
            "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler; "
            "c = run(['simulate', '--depth', '2', '--width', '2', '--ensemble', '2', '--samples', '2']); "
            "assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN; sys.exit(c)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = Path(__file__).parent.parent / "pyproject.toml"
    assert 'reslimit = "reslimit.cli:run"' in entry.read_text()
