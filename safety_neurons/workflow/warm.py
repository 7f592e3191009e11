"""The warm worker: ``safety-neurons warm -- snakemake ...`` imports torch, transformers, peft and trl once and
runs each stage script of that (local) Snakemake run in a fork of itself, so a tiny job pays milliseconds of
start-up instead of the ~9 s those imports cost a fresh interpreter. Outputs are the same as without it; only
the benchmark files' ``cpu_time`` and ``max_rss`` then measure the script's thin client (the job's own use is
the last line of its rule log). Cluster jobs never use it: the worker serves one machine, and a SLURM job
(``SLURM_JOB_ID`` set) runs cold."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import resource
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

ENV = "SAFETY_NEURONS_WARM"  # the worker's socket, set for the command it runs
PRELOAD = (  # what a stage imports that costs seconds; imported once, before any job is forked
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.mistral.modeling_mistral",
    "transformers.models.gemma.modeling_gemma",
    "transformers.models.qwen2.modeling_qwen2",
    "peft",
    "trl",
    "datasets",
    "pandas",
    "scipy.stats",
    "matplotlib.pyplot",
    "safety_neurons.training.trainers",
    "safety_neurons.reporting.figures",
    "safety_neurons.reporting.tables",
)
_LENGTH = _STATUS = struct.Struct("!i")  # a request's length; a job's exit status
_in_worker = False  # true in a forked job: its script runs here, not in a client


def in_worker() -> bool:
    """Whether this process is a job forked by the warm worker."""
    return _in_worker


def offload() -> None:
    """Run this script in the warm worker serving the run, if one does, and exit with its status; return at once
    in the worker's fork, or where no worker serves (the script then runs here, cold, to the same result). A
    SLURM job runs in its own allocation, cold, even when a worker's socket reached it through ``--export``."""
    path = os.environ.get(ENV)
    if not path or _in_worker or "SLURM_JOB_ID" in os.environ:
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as e:
        print(f"warm worker at {path} unreachable ({e.strerror}): this job imports its own libraries", file=sys.stderr)
        return
    main = sys.modules["__main__"]
    request = dict(
        script=os.path.abspath(getattr(main, "__real_file__", main.__file__)),
        argv=sys.argv,
        cwd=os.getcwd(),
        env=dict(os.environ),
    )
    payload = json.dumps(request).encode()
    sys.stdout.flush(), sys.stderr.flush()
    socket.send_fds(conn, [_LENGTH.pack(len(payload)) + payload], [0, 1, 2])
    reply = conn.recv(_STATUS.size)
    if len(reply) < _STATUS.size:
        raise SystemExit("the warm worker's fork running this job died without an exit status (see the rule's log)")
    raise SystemExit(_STATUS.unpack(reply)[0])


def usage() -> str:
    """This job's CPU time and peak memory, for its log (its benchmark file measures only the client)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return f"warm worker: this job used {ru.ru_utime + ru.ru_stime:.1f} s CPU, peak RSS {ru.ru_maxrss / 1024:.0f} MB"


def _run_job(conn: socket.socket) -> int:
    """In the fork: take the client's request, its stdin/stdout/stderr, cwd and environment, run its script as
    ``__main__``; a client that dies takes the job with it. Returns the script's exit status."""
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while len(msg) < _LENGTH.size + _LENGTH.unpack_from(msg)[0]:  # the environment can exceed one read
        msg += conn.recv(1 << 16)
    request = json.loads(msg[_LENGTH.size :])
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(request["script"])
    threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _die_with_client(conn: socket.socket) -> None:
    """End the job when its client goes (killed, or Snakemake cancelled it): its socket reads EOF (a live client
    only reads, waiting for the exit status)."""
    conn.recv(1)
    os.kill(os.getpid(), signal.SIGKILL)


def _fork_job(conn: socket.socket, listener: socket.socket) -> int:
    """Fork one job; the parent keeps serving. Returns the fork's pid."""
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid:
        conn.close()
        return pid
    global _in_worker
    _in_worker = True
    listener.close()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    status = 1
    try:
        status = _run_job(conn)
    finally:
        logging.shutdown()
        sys.stdout.flush(), sys.stderr.flush()
        try:
            conn.sendall(_STATUS.pack(status))
        finally:
            os._exit(status)


def serve(command: list[str]) -> int:
    """Run ``command`` with the worker's socket in its environment, serve its jobs until it ends, return its
    exit status. Ctrl-C reaches the command (same process group), which ends its jobs; the worker waits."""
    with tempfile.TemporaryDirectory(prefix="sn-warm-") as tmp:
        path = str(Path(tmp) / "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(64)  # jobs that connect while the libraries load wait in the backlog
        proc = subprocess.Popen(command, env=dict(os.environ, **{ENV: path}))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # after the start: the command must inherit Ctrl-C
        try:
            _accept_until_done(listener, proc)
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        return proc.wait()  # ended; a status the import-time handler saw but left for Popen to read


class _CommandEnded(BaseException):
    """The command ended while the libraries loaded (a dry run, Ctrl-C): no job will come."""


def _exited(pid: int) -> bool:
    """Whether a child has ended, without reaping it (Popen reads its status) and without Popen's lock, which the
    code a signal handler interrupts may hold."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by the Popen.poll() this handler interrupted: let it record the status
        return False


def _preload(proc: subprocess.Popen) -> bool:
    """Import the libraries; False as soon as the command ends, without waiting for the remaining imports (a
    loaded machine takes a minute over them), so that a dry run or a Ctrl-C does not wait for torch."""
    loading = True

    def ended(signum, frame):
        if loading and _exited(proc.pid):
            raise _CommandEnded

    previous = signal.getsignal(signal.SIGCHLD)
    try:
        try:
            signal.signal(signal.SIGCHLD, ended)
            for name in PRELOAD:
                if proc.poll() is not None:
                    return False
                importlib.import_module(name)
        finally:
            loading = False  # the handler may still raise up to here: the outer except catches that too
    except _CommandEnded:
        return False
    finally:
        signal.signal(signal.SIGCHLD, previous)
    return True


def _accept_until_done(listener: socket.socket, proc: subprocess.Popen) -> None:
    """Import the libraries, then fork a job per connection until the command ends; reap the ended forks (only
    those: never the command, whose status Popen reads)."""
    if not _preload(proc):
        return
    listener.settimeout(0.5)
    jobs: set[int] = set()
    while proc.poll() is None:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            pass
        else:
            conn.settimeout(None)
            jobs.add(_fork_job(conn, listener))
        jobs = {pid for pid in jobs if os.waitpid(pid, os.WNOHANG) == (0, 0)}


def main(argv: list[str] | None = None) -> int:
    """``safety-neurons warm -- COMMAND ...``."""
    ap = argparse.ArgumentParser(
        prog="safety-neurons warm",
        description="Run COMMAND (a local Snakemake run) with a warm worker: torch, transformers, peft and trl "
        "imported once, each stage script run in a fork of it (same outputs, seconds less per job).",
    )
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command: safety-neurons warm -- snakemake ...")
    return serve(command)
