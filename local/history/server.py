"""A local Spark History Server over the twin's event logs: the Persistent History Server of the lab.

  python -m local.history.server up STATE_DIR [--port N]     start it, print its URL
  python -m local.history.server down STATE_DIR              stop it

In the cloud the lab's history server is a single-node Dataproc cluster whose
`spark.history.fs.logDirectory` is `gs://<phs bucket>/*/spark-job-history` (lib/history.ts); the
wildcard is a Dataproc feature, plain Spark reads exactly one folder. The Dataproc twin writes every
batch's event log into one folder of the twin's state, STATE_DIR/history/spark-job-history
(docs/history.md names the layout), and this server reads that folder.

It is PyPI PySpark's own `sbin/start-history-server.sh` from the `spark` environment (Spark 3.5.3,
the version of Dataproc Serverless runtime 2.3), run with the state folder's own pid and log folders,
bound to 127.0.0.1 (SPARK_LOCAL_IP) on a free port. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from local.dataproc.runner import HISTORY_DIR
from local.state import StateRecord

REPO = Path(__file__).resolve().parents[2]
# Where the Dataproc twin writes event logs, relative to the twin's state folder: the twin's own
# definition (local/dataproc/runner.py writes there, this server reads there).
EVENT_LOG_DIR = HISTORY_DIR
PREFERRED_PORT = 18080  # Spark's default history UI port, used when it is free
START_TIMEOUT_S = 90


class HistoryError(Exception):
    """The history server did not start or stop; the message says why and where its log is."""


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(wanted: int | None, preferred: int, what: str) -> int:
    """The port asked for, else the conventional one, else any free one; a port in use is named."""
    for candidate in [p for p in (wanted, preferred) if p]:
        if port_free(candidate):
            return candidate
        print(f"{what}: port {candidate} on 127.0.0.1 is in use; choosing another", file=sys.stderr)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home(env: Path) -> Path:
    """PyPI PySpark's installation (it ships bin/, sbin/ and jars/) inside a project environment."""
    out = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    home = Path(out.stdout.strip())
    if not (home / "sbin" / "start-history-server.sh").exists():
        raise HistoryError(f"{home} has no sbin/start-history-server.sh: the PySpark wheel in {env} is not the one locked")
    return home


def java_check() -> None:
    """Spark 3.5 needs Java 17 here (Dataproc runtime 2.3's); the message says how to install it."""
    java = shutil.which("java")
    found = ""
    if java:
        found = subprocess.run([java, "-version"], stderr=subprocess.PIPE, text=True).stderr.splitlines()[0:1]
        found = found[0] if found else ""
        if '"17' in found or '"21' in found:
            return
    raise HistoryError(
        f"the Spark History Server needs Java 17 (found: {found or 'no java on PATH'}); install one, e.g. "
        "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17"
    )


@dataclass
class HistoryServer(StateRecord):
    """A running history server: its URL, the folder it reads, and where its pid and log are."""

    url: str
    port: int
    log_dir: str
    pid_dir: str
    event_logs: str
    spark_home: str

    # (STATE_DIR/history/server.json is the deploy's record of the cloud's history server.)
    RECORD = "history/running.json"

    def pid(self) -> int | None:
        files = list(Path(self.pid_dir).glob("spark-*HistoryServer*.pid"))
        return int(files[0].read_text().strip()) if files else None

    def applications(self) -> list[dict]:
        """GET /api/v1/applications: every application the server has read from the folder."""
        with urllib.request.urlopen(f"{self.url}/api/v1/applications", timeout=10) as r:
            return json.loads(r.read())

    def log_tail(self, lines: int = 20) -> str:
        logs = sorted(Path(self.log_dir).glob("spark-*HistoryServer*.out"))
        return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:]) if logs else "(no log)"


def _env(home: Path, event_logs: Path, port: int, log_dir: Path, pid_dir: Path, java_env: dict) -> dict:
    opts = {
        "spark.history.fs.logDirectory": event_logs.resolve().as_uri(),
        "spark.history.ui.port": str(port),
        # New event logs show within 2 s instead of Spark's default 10 s.
        "spark.history.fs.update.interval": "2s",
        # An application still being written (a running batch) is listed as incomplete.
        "spark.history.fs.inProgressOptimization.enabled": "true",
    }
    return {
        **java_env,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",  # the web UI binds to it instead of every interface
        "SPARK_LOG_DIR": str(log_dir),
        "SPARK_PID_DIR": str(pid_dir),
        "SPARK_IDENT_STRING": "s8s",
        "SPARK_HISTORY_OPTS": " ".join(f"-D{k}={v}" for k, v in opts.items()),
    }


def event_log_folder(state_dir: Path) -> Path:
    """The folder the twin's batches write their event logs to, as the deploy recorded it beside the
    cloud's history server (STATE_DIR/history/server.json, log_directory), else its default."""
    record = Path(state_dir) / "history" / "server.json"
    if record.exists():
        return Path(json.loads(record.read_text())["log_directory"])
    return Path(state_dir) / EVENT_LOG_DIR


def up(state_dir: Path, env: Path, port: int | None = None, event_logs: Path | None = None) -> HistoryServer:
    """Starts the history server over STATE_DIR's event logs (or the folder given); waits until its
    REST API answers. A server this state folder already runs is reused."""
    state_dir = Path(state_dir).resolve()
    running = HistoryServer.load(state_dir)
    if running and running.pid() and _alive(running.pid()):
        return running
    java_check()
    home = spark_home(env)
    event_logs = Path(event_logs or event_log_folder(state_dir)).resolve()
    event_logs.mkdir(parents=True, exist_ok=True)
    log_dir, pid_dir = state_dir / "history" / "logs", state_dir / "history" / "pid"
    for d in (log_dir, pid_dir):
        d.mkdir(parents=True, exist_ok=True)
    port = choose_port(port, PREFERRED_PORT, "Spark History Server")
    server = HistoryServer(f"http://127.0.0.1:{port}", port, str(log_dir), str(pid_dir), str(event_logs), str(home))
    # spark-daemon.sh starts the server in the background (SPARK_NO_DAEMONIZE unset) and writes its pid.
    env_vars = _env(home, event_logs, port, log_dir, pid_dir, {k: v for k, v in os.environ.items() if k != "SPARK_NO_DAEMONIZE"})
    done = subprocess.run(
        ["bash", str(home / "sbin" / "start-history-server.sh")],
        env=env_vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise HistoryError(f"start-history-server.sh failed ({done.returncode}):\n{done.stdout[-1500:]}")
    server.save(state_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = server.pid()
        if pid and not _alive(pid):
            raise HistoryError(f"the Spark History Server exited at start; its log ({log_dir}):\n{server.log_tail()}")
        try:
            server.applications()
            return server
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.5)
    down(state_dir)
    raise HistoryError(f"the Spark History Server did not answer {server.url} within {START_TIMEOUT_S} s:\n{server.log_tail()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(state_dir: Path) -> None:
    """Stops the server this state folder started (by the pid it recorded) and waits for it to exit."""
    server = HistoryServer.load(Path(state_dir).resolve())
    if server is None:
        return
    pid = server.pid()
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    for f in Path(server.pid_dir).glob("*.pid"):
        f.unlink()
    HistoryServer.state_file(state_dir).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Start or stop the local Spark History Server over the twin's event logs.")
    p.add_argument("action", choices=["up", "down"])
    p.add_argument("state_dir", type=Path, nargs="?", default=REPO / "local-run" / "twin")
    p.add_argument("--port", type=int, help=f"default: {PREFERRED_PORT} when free, else any free port")
    a = p.parse_args(argv)
    try:
        if a.action == "up":
            env = Path(
                subprocess.run(
                    ["bash", str(REPO / "scripts" / "python-env.sh"), "spark"], check=True, stdout=subprocess.PIPE, text=True
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            server = up(a.state_dir, env, a.port)
            print(f"Spark History Server: {server.url} (event logs: {server.event_logs})")
        else:
            down(a.state_dir)
    except HistoryError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
