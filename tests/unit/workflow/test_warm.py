"""The warm worker (``safety-neurons warm -- COMMAND``): a job runs in a fork that already holds torch, with the
client's argv, cwd, environment, stdout and stderr, and exits with the script's status; a killed client takes
its job along; without a worker the same script runs cold. (Outputs equal to a cold run's, stage by stage:
tests/workflow/test_faults.py reruns stages of the warm CI run cold and compares bytes.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safety_neurons.workflow import warm
from safety_neurons.workflow.warm import ENV

JOB = """
import os, sys, time
preloaded = "torch" in sys.modules  # before any import of the script's own
from safety_neurons.workflow import warm
warm.offload()
print(json.dumps(dict(preloaded=preloaded, worker=warm.in_worker(), cwd=os.getcwd(), x=os.environ.get("X"),
                      argv=sys.argv[1:], pid=os.getpid())))
case = sys.argv[1]
if case == "sleep":
    open("job.pid", "w").write(str(os.getpid()))
    time.sleep(120)
if case == "error":
    raise SystemExit("error: bad key x in f.yaml")
if case == "crash":
    raise ValueError("a bug")
sys.exit(int(case))
""".replace("import os, sys, time", "import json, os, sys, time")

DRIVER = """
import json, os, signal, subprocess, sys, time
job = sys.argv[1]
def run(case, **env):
    p = subprocess.run([sys.executable, job, case], capture_output=True, text=True, env=dict(os.environ, **env))
    return dict(rc=p.returncode, out=p.stdout, err=p.stderr)
results = dict(exit3=run("3", X="1"), error=run("error"), crash=run("crash"))
client = subprocess.Popen([sys.executable, job, "sleep"], stdout=subprocess.DEVNULL)
while not os.path.exists("job.pid") or not open("job.pid").read():
    time.sleep(0.1)
pid = int(open("job.pid").read())
client.kill(); client.wait()
deadline = time.time() + 10
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.1)
results["killed_client_job_alive"] = os.path.exists(f"/proc/{pid}")
json.dump(results, open("results.json", "w"))
sys.exit(7)  # the worker's status is its command's
"""


WARM = [sys.executable, "-m", "safety_neurons.workflow.cli", "warm", "--"]


def _warm(cwd: Path, *command: str) -> subprocess.CompletedProcess:
    args = [*WARM, *command]
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}  # not a job of a cluster (those run cold)
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    """The job's cases run as clients of one warm worker (the driver is the worker's command)."""
    wd = tmp_path_factory.mktemp("warm")
    (wd / "job.py").write_text(JOB)
    (wd / "driver.py").write_text(DRIVER)
    done = _warm(wd, sys.executable, "driver.py", str(wd / "job.py"))
    return dict(json.loads((wd / "results.json").read_text()), worker_rc=done.returncode, worker_err=done.stderr)


def _report(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_a_job_runs_in_a_fork_holding_the_libraries_with_the_clients_argv_cwd_and_environment(served, tmp_path):
    case = served["exit3"]
    report = _report(case["out"])
    assert case["rc"] == 3
    assert report["preloaded"] and report["worker"]
    assert report["x"] == "1" and report["argv"] == ["3"]
    assert Path(report["cwd"]).name.startswith("warm")


def test_a_failing_job_exits_non_zero_with_its_message_or_traceback(served):
    assert served["error"]["rc"] == 1 and "error: bad key x in f.yaml" in served["error"]["err"]
    assert served["crash"]["rc"] == 1 and "ValueError: a bug" in served["crash"]["err"]


def test_a_killed_client_takes_its_job_along(served):
    assert not served["killed_client_job_alive"]


def test_without_a_worker_the_script_runs_cold_to_the_same_result(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    cold = subprocess.run([sys.executable, "job.py", "3"], cwd=tmp_path, capture_output=True, text=True, env=env)
    report = _report(cold.stdout)
    assert cold.returncode == 3 and not report["preloaded"] and not report["worker"]


def test_an_unreachable_worker_is_said_and_the_job_runs_cold(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    env = dict(os.environ, **{ENV: str(tmp_path / "gone.sock")})
    cold = subprocess.run([sys.executable, "job.py", "0"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert cold.returncode == 0 and not _report(cold.stdout)["worker"]
    assert "unreachable" in cold.stderr and "gone.sock" in cold.stderr


def test_warm_without_a_command_is_a_usage_error(tmp_path):
    done = _warm(tmp_path)
    assert done.returncode == 2 and "no command" in done.stderr


def test_the_commands_exit_status_is_the_workers(served):
    assert served["worker_rc"] == 7, served["worker_err"]


def test_a_command_that_ends_before_the_libraries_load_gives_its_status(tmp_path):
    assert _warm(tmp_path, sys.executable, "-c", "import sys; sys.exit(5)").returncode == 5


def test_ctrl_c_ends_the_command_and_the_worker(tmp_path):
    """SIGINT to the process group (a terminal's Ctrl-C) ends the command; the worker then returns its status.
    The worker starts with SIGINT's default action, as from a terminal (a background job of a script, such as
    `make test &`, inherits SIGINT ignored, and so would the command)."""
    command = [sys.executable, "-c", "import time; time.sleep(120)"]
    proc = subprocess.Popen(
        [*WARM, *command],
        cwd=tmp_path,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) != 0


def test_a_slurm_job_runs_cold_even_with_a_workers_socket_in_its_environment(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    env = dict(os.environ, **{ENV: str(tmp_path / "gone.sock"), "SLURM_JOB_ID": "42"})
    cold = subprocess.run([sys.executable, "job.py", "0"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert cold.returncode == 0 and not _report(cold.stdout)["worker"] and "unreachable" not in cold.stderr


def test_a_command_that_ends_while_the_libraries_load_ends_the_loading(tmp_path, monkeypatch):
    """A dry run or a Ctrl-C during the imports (a minute on a loaded machine) does not wait for them: the
    import in progress is abandoned when the command ends; a command still running gets every library."""
    (tmp_path / "slow_library.py").write_text("import time\nfor _ in range(600):\n    time.sleep(0.1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(warm, "PRELOAD", ("json", "slow_library"))
    start = time.monotonic()
    assert not warm._preload(subprocess.Popen(["sleep", "0.5"]))
    assert time.monotonic() - start < 30 and "slow_library" not in sys.modules  # the import takes 60 s
    (tmp_path / "quick_library.py").write_text("LOADED = True\n")
    monkeypatch.setattr(warm, "PRELOAD", ("json", "quick_library"))
    running = subprocess.Popen(["sleep", "30"])
    try:
        assert warm._preload(running) and sys.modules["quick_library"].LOADED
    finally:
        running.kill()
        running.wait()
        sys.modules.pop("quick_library", None)
