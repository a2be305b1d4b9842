"""The Dataproc Serverless twin: a gRPC server speaking google.cloud.dataproc.v1 BatchController
and google.longrunning Operations on 127.0.0.1, which runs each batch's uploaded files in its own
spark-submit against the cloud twin (server.py, runner.py, validate.py; docs/twin.md).

The API the local Airflow (local/composer) uses, standard library only so any environment imports it:

    from local import dataproc
    twin = dataproc.start(STATE_DIR)     # the server, in the twin environment; waits until it answers
    twin.address                         # "127.0.0.1:PORT", for the redirect (dataproc.REDIRECT_ENV)
    dataproc.stop(STATE_DIR)             # stops it and every batch process it started
    dataproc.REDIRECT_MODULE             # the module the local Airflow imports to use the twin
    dataproc.airflow_env(STATE_DIR)      # the variables Airflow runs with: the twin's address, an
                                         # anonymous connection, the emulators' hosts

The state folder is the cloud twin's (local/twin): the server reads its emulators' endpoints from
STATE_DIR/twin.json and the project's subnet, accounts, history server and quota from
STATE_DIR/dataproc/project.json, both written when the stack is deployed into the twin.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from local.state import StateRecord

REPO = Path(__file__).resolve().parents[2]
# The one file the local Airflow loads to send DataprocHook's requests here.
REDIRECT_MODULE = "local.composer.dataproc_redirect"
# The variable that module reads the twin's address from.
REDIRECT_ENV = "S8S_DATAPROC_TWIN"
START_TIMEOUT_S = 120


class DataprocTwinError(Exception):
    pass


@dataclass
class Running(StateRecord):
    """A started server: STATE_DIR/dataproc/server.json."""

    address: str
    pid: int
    log: str

    RECORD = "dataproc/server.json"


def address(state_dir: Path) -> str:
    """The running server's host:port; DataprocTwinError if none runs for the folder."""
    running = Running.load(state_dir)
    if running is None:
        raise DataprocTwinError(
            f"no Dataproc twin runs for {state_dir}: {Running.state_file(state_dir)} does not exist"
            f" (start it: python -m local.dataproc serve {state_dir})"
        )
    return running.address


def airflow_env(state_dir: Path) -> dict[str, str]:
    """The environment the local Airflow runs with to reach the twin: the redirect's address, an
    anonymous Google connection (providers-google 22.x `is_anonymous`) and the Cloud Storage and
    BigQuery emulators' variables, which google-cloud-storage and google-cloud-bigquery follow."""
    twin = json.loads((Path(state_dir) / "twin.json").read_text())
    connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": twin["project"]}}
    return {
        REDIRECT_ENV: address(state_dir),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(connection),
        "BIGQUERY_EMULATOR_HOST": twin["bigquery_endpoint"],
        "STORAGE_EMULATOR_HOST": twin["gcs_endpoint"],
    }


def _answers(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def start(state_dir: Path, python: Path | None = None) -> Running:
    """Starts the server for the state folder in the twin environment (scripts/python-env.sh twin)
    and returns once it accepts connections. Its log: STATE_DIR/logs/dataproc-twin.log."""
    state_dir = Path(state_dir).resolve()
    if python is None:
        out = subprocess.run(
            ["bash", str(REPO / "scripts" / "python-env.sh"), "twin"], check=True, stdout=subprocess.PIPE, text=True
        )
        python = Path(out.stdout.strip().splitlines()[-1]) / "bin" / "python"
    Running.state_file(state_dir).unlink(missing_ok=True)
    log = state_dir / "logs" / "dataproc-twin.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "local.dataproc", "serve", str(state_dir)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise DataprocTwinError(f"the Dataproc twin exited with code {proc.returncode} at start; {log}:\n{tail}")
        running = Running.load(state_dir)
        if running is not None and running.pid == proc.pid and _answers(running.address):
            return running
        time.sleep(0.2)
    _stop_group(proc.pid)
    raise DataprocTwinError(f"the Dataproc twin did not answer within {START_TIMEOUT_S} s; see {log}")


def _stop_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.1)


def stop(state_dir: Path) -> None:
    """Stops the folder's server: it cancels its live batches (their spark-submit processes) and exits."""
    running = Running.load(state_dir)
    if running is None:
        return
    _stop_group(running.pid)
    Running.state_file(state_dir).unlink(missing_ok=True)
