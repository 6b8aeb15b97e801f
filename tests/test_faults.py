"""Fault injection on sweeps run in subprocesses: kill -9 mid-run, Ctrl-C, two writers on one folder, a pool
whose parent is killed."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from reslimit import store
from reslimit._rng import mix
from reslimit.studies import Study, bounds, phase, run_study, scaling

pytestmark = pytest.mark.slow  # kills, signals and pools of real processes: integration

SCRIPT = """
import json, sys
from test_faults import study
from reslimit.studies.sweep import Interrupted, run_study
try:
    run_study(study(**json.loads(sys.argv[2])), sys.argv[1], progress=False, workers=json.loads(sys.argv[3]))
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(130)
except ValueError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
"""


def toy(params, point):
    time.sleep(float(os.environ.get("TOY_SLEEP", "0")))  # not a param: a slow run and a fast one are one study
    g = torch.Generator().manual_seed(mix(params["seed"], point["i"]))
    return [{"k": k, "x": x / 3} for k, x in enumerate(torch.randn(3, generator=g, dtype=torch.float64).tolist())]


def study(n=12, seed=3) -> Study:
    return Study("toy", {"seed": seed}, [{"i": i} for i in range(n)], toy)


def _start(out, workers=None, sleep=0.2, **options) -> subprocess.Popen:
    """A subprocess running run_study(study(**options), out), each point taking ``sleep`` seconds."""
    env = {**os.environ, "TOY_SLEEP": str(sleep),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), json.dumps(options), json.dumps(workers)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ledger(out) -> list[int]:
    path = Path(out) / "points.jsonl"
    return [json.loads(line)["point"] for line in path.read_text().split("\n")[:-1]] if path.exists() else []


def _wait_for_points(out, proc, count=1, timeout=60) -> None:
    deadline = time.monotonic() + timeout
    while len(_ledger(out)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep finished no point in time"
        time.sleep(0.02)


def test_kill_9_mid_run_then_rerun_gives_the_rows_of_an_uninterrupted_run(tmp_path):
    reference = run_study(study(), tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    proc = _start(out)
    _wait_for_points(out, proc)
    proc.kill()  # SIGKILL: no cleanup, the lock released by the kernel only
    proc.communicate()
    assert 1 <= len(_ledger(out)) < 12
    assert run_study(study(), out, progress=False) == reference  # the dead writer's lock is taken over
    assert (out / "results.csv").read_bytes() == (tmp_path / "ref" / "results.csv").read_bytes()  # in grid order


def test_two_writers_on_one_folder_one_wins_the_other_is_told(tmp_path):
    out = tmp_path / "d"
    procs = [_start(out, sleep=0.3), _start(out, sleep=0.3)]
    results = [(proc.wait(timeout=120), proc.communicate()[1]) for proc in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    err = next(err for code, err in results if code == 2)
    assert f"out {str(out)!r} is being written by another reslimit process (lock {out / '.lock'} held); wait for " \
           f"it to finish or choose another directory" in err, err
    lines = (out / "results.csv").read_text().splitlines()
    assert lines.count("point,k,x") == 1 and len(lines) == 1 + 12 * 3
    assert sorted(_ledger(out)) == list(range(12))


def test_a_lock_held_elsewhere_refuses_and_a_killed_holder_frees_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from reslimit import store\n"
                               "with store.writing(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    held = re.escape(f"lock {tmp_path / '.lock'} held")
    with pytest.raises(store.Busy, match=held):
        run_study(study(), tmp_path, progress=False)
    for writer in (scaling.scaling, phase.phase, bounds.bounds):  # refused before computing anything
        with pytest.raises(store.Busy, match=held):
            writer(tmp_path, progress=False)
    assert not (tmp_path / "results.csv").exists()
    holder.kill()
    holder.wait()
    assert len(run_study(study(), tmp_path, progress=False)) == 12 * 3


@pytest.mark.parametrize("workers", [None, 2])
def test_ctrl_c_keeps_finished_points_and_a_rerun_resumes(tmp_path, workers):
    reference = run_study(study(), tmp_path / "ref", progress=False)
    out = tmp_path / "cut"
    proc = _start(out, workers=workers, sleep=0.3)
    _wait_for_points(out, proc, count=2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    found = re.search(rf"interrupted: (\d+) of 12 points kept in {re.escape(str(out))}; rerun the same command to "
                      rf"resume", err)
    assert found, err
    kept = _ledger(out)
    assert int(found[1]) == len(kept) and 2 <= len(kept) < 12
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    assert run_study(study(), out, progress=False) == reference


def test_a_ctrl_c_while_a_point_is_written_counts_it_with_the_kept_ones(tmp_path, monkeypatch):
    # The clean-clone run under load caught "1 of 12 points kept" with 2 points in the ledger: the Ctrl-C had
    # landed between point 1's ledger line and its count. Here it lands there every time.
    from reslimit.studies import sweep

    append = sweep.store.append_bytes

    def interrupted_append(path, data):
        append(path, data)
        if path.name == sweep.LEDGER and json.loads(data)["point"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(sweep.store, "append_bytes", interrupted_append)
    with pytest.raises(sweep.Interrupted) as info:
        run_study(study(), tmp_path, progress=False)
    assert info.value.done == len(_ledger(tmp_path)) == 2


def test_pool_workers_die_with_their_killed_parent(tmp_path):
    out = tmp_path / "pool"
    proc = _start(out, workers=2, n=40, sleep=0.5)
    _wait_for_points(out, proc)
    children = psutil.Process(proc.pid).children(recursive=True)  # the workers and the resource tracker
    assert len(children) >= 2
    proc.kill()
    proc.wait()  # not communicate(): workers that outlived it would hold its pipes open
    gone, alive = psutil.wait_procs(children, timeout=10)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.cmdline()) for p in alive]


TRAINABILITY = ["trainability", "--hursts", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", "--betas", "0.5", "--depth", "2",
                "--lrs", "0.1", "--epochs", "1", "--workers", "2"]


def _reslimit(args, out) -> subprocess.Popen:
    """``reslimit ARGS --out OUT`` in a process group of its own, Ctrl-C at its default even where the shell that
    started the tests ignores it (a background job), as a terminal's Ctrl-C reaches a foreground command."""
    return subprocess.Popen([sys.executable, "-m", "reslimit", *args, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("fault, rerun", [("ctrl-c", TRAINABILITY), ("kill-9", TRAINABILITY),
                                          ("ctrl-c", TRAINABILITY[:-2])])
def test_a_trainability_pool_interrupted_then_rerun_writes_the_files_of_an_uninterrupted_run(tmp_path, fault, rerun):
    """The points of a pool finish in any order; a complete sweep's results.csv and ledger are in grid order, so
    an interrupted --workers 2 run, rerun (on the pool, or in-process: a point trains on one torch thread
    wherever it runs), ends with the bytes of an uninterrupted one."""
    reference = _reslimit(TRAINABILITY, tmp_path / "ref")
    assert reference.wait(timeout=300) == 0, reference.communicate()
    out = tmp_path / "cut"
    proc = _reslimit(TRAINABILITY, out)
    _wait_for_points(out, proc, timeout=300)
    if fault == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the parent and its workers
    else:
        proc.kill()  # the parent alone; its workers die with it
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if fault == "ctrl-c" else -signal.SIGKILL), err
    assert 1 <= len(_ledger(out)) < 8
    resumed = _reslimit(rerun, out)
    assert resumed.wait(timeout=300) == 0, resumed.communicate()
    for name in ("results.csv", "points.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
