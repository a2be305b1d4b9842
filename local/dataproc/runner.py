"""Runs one batch the way the service runs it: its files fetched from Cloud Storage (the twin's
emulator, so the uploaded bytes and never the repository's), then its own `spark-submit` process
with the batch's arguments and runtime properties, pointed at the twin.

- Files: pyspark_batch.main_python_file_uri, python_file_uris (--py-files: on the driver's Python
  path), file_uris (--files: in the working directory) and jar_file_uris (--jars), each downloaded
  into STATE_DIR/dataproc/batches/<id>/work/.
- Spark: the spark environment's spark-submit (PyPI's pyspark 3.5.3, runtime 2.3's Spark),
  master local[*]; the twin's settings first (Cloud Storage connector to the emulator, the
  emulators' endpoints in the driver's environment), then the batch's runtime_config.properties.
- Event logs: spark.eventLog.dir = STATE_DIR/history/spark-job-history, one file per application,
  the folder the local history server reads (docs/twin.md, "The Dataproc twin").
- Driver output: the process's stdout and stderr, in STATE_DIR/dataproc/batches/<id>/driveroutput
  while it runs, then copied where runtime_info.output_uri says.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from local.twin import gcs

# The layout under the state folder, one definition for the server, the CLI and the docs.
HISTORY_DIR = Path("history") / "spark-job-history"
BATCHES_DIR = Path("dataproc") / "batches"
# Properties the service sets itself or that only make sense on its machines: the twin keeps
# them in the batch as sent but does not hand them to the local Spark.
SERVICE_ONLY = re.compile(r"^(spark\.dataproc\.|dataproc\.|spark\.executor\.instances$|spark\.dynamicAllocation\.)")


@dataclass
class TwinSpark:
    """What a batch needs of the twin, computed once by the server."""

    spark_submit: Path  # the spark environment's bin/spark-submit
    python: Path  # its Python, for the driver and the workers
    gcs_endpoint: str
    env: dict[str, str]  # the emulators' endpoints for Google's clients in the job
    conf: dict[str, str]  # the twin's Spark settings (emulators, connectors)
    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)


class SparkSubmit:
    """How the twin runs a batch (what DataprocTwin calls): the files from the Cloud Storage
    emulator, one spark-submit process, the driver output copied back into Cloud Storage."""

    def __init__(self, twin: TwinSpark) -> None:
        self.twin = twin

    def exists(self, uri: str) -> bool:
        return gcs.stat(self.twin.gcs_endpoint, uri) is not None

    def stage(self, batch, work: Path) -> dict[str, list[Path]]:
        return stage(self.twin, batch, work)

    def start(self, batch, staged: dict[str, list[Path]], output: Path) -> subprocess.Popen:
        return start(self.twin, batch, staged, output)

    def publish(self, uri: str, data: bytes) -> None:
        gcs.upload(self.twin.gcs_endpoint, uri, data, "text/plain")


def batch_dir(state_dir: Path, batch_id: str) -> Path:
    return Path(state_dir) / BATCHES_DIR / batch_id


def stage(twin: TwinSpark, batch, work: Path) -> dict[str, list[Path]]:
    """Downloads the batch's files from the emulator; GcsError names a missing one."""
    job = batch.pyspark_batch
    work.mkdir(parents=True, exist_ok=True)

    def fetch(uris, folder: str) -> list[Path]:
        out = []
        for uri in uris:
            _, name = gcs.split(uri)
            out.append(gcs.download(twin.gcs_endpoint, uri, work / folder / Path(name).name))
        return out

    return {
        "main": fetch([job.main_python_file_uri], "main"),
        "py": fetch(job.python_file_uris, "py"),
        "files": fetch(job.file_uris, "files"),
        "jars": fetch(job.jar_file_uris, "jars"),
    }


def command(twin: TwinSpark, batch, staged: dict[str, list[Path]]) -> list[str]:
    history = twin.state_dir / HISTORY_DIR
    history.mkdir(parents=True, exist_ok=True)
    conf = dict(twin.conf)
    conf |= {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": history.resolve().as_uri(),
        "spark.ui.enabled": "false",  # the history server shows the finished application
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
    }
    conf |= {k: v for k, v in batch.runtime_config.properties.items() if not SERVICE_ONLY.match(k)}
    cmd = [str(twin.spark_submit), "--master", "local[*]"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    if staged["py"]:
        cmd += ["--py-files", ",".join(str(p) for p in staged["py"])]
    if staged["files"]:
        cmd += ["--files", ",".join(str(p) for p in staged["files"])]
    if staged["jars"]:
        cmd += ["--jars", ",".join(str(p) for p in staged["jars"])]
    return [*cmd, str(staged["main"][0]), *batch.pyspark_batch.args]


def start(twin: TwinSpark, batch, staged: dict[str, list[Path]], output: Path) -> subprocess.Popen:
    """The batch's spark-submit, in its own process group (CancelOperation stops all of it)."""
    env = {**os.environ, **twin.env, **twin.extra_env}
    env |= {"PYSPARK_PYTHON": str(twin.python), "PYSPARK_DRIVER_PYTHON": str(twin.python), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SPARK_HOME", None)  # the spark environment's own
    with open(output, "ab") as out:
        return subprocess.Popen(
            command(twin, batch, staged),
            cwd=staged["main"][0].parent.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM to the batch's process group, SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


_CAUSE = re.compile(r"^(ERROR: .+|[\w.]*(?:Error|Exception): .+)$")


def failure_cause(output: Path) -> str:
    """The line of the driver output that says why the job failed: the job's own `ERROR: ...`
    (s8s_churn's run_main), else the last exception line of a traceback; for a Py4JJavaError the
    Java exception on the line after it (": org.apache...Exception: ...") is what says why."""
    try:
        lines = [line.strip() for line in output.read_text(errors="replace").splitlines()]
    except OSError:
        return "no driver output"
    jobs = [line for line in lines if line.startswith("ERROR: ")]
    if jobs:
        return jobs[-1][:1500]
    found = [i for i, line in enumerate(lines) if _CAUSE.match(line)]
    if not found:
        return (lines[-1] if lines else "no driver output")[:1500]
    i = found[-1]
    cause = lines[i]
    if "Py4JJavaError" in cause and i + 1 < len(lines) and lines[i + 1].startswith(": "):
        cause = lines[i + 1][2:]
    return cause[:1500]
