"""Runs one Dataproc Serverless PySpark batch in the cloud twin, as the service would run it.

    python -m local.dataproc.batch STATE_DIR [--python-file-uri URI ...] MAIN_PYTHON_FILE_URI [ARG ...]

The URIs are the batch's own (pyspark_batch.main_python_file_uri and python_file_uris), objects the
twin's deploy put into its Cloud Storage emulator from the synthesized stack (local/twin/deploy.py).
As Dataproc does, the runner puts each python_file_uris file on the driver's Python path (here
through SparkContext.addPyFile, which is what spark-submit --py-files does) and runs the main file as
__main__ with the batch's arguments: the job imports its package from the stack's archive, never from
the repository's folder. gs:// goes to the twin's Cloud Storage emulator and BigQuery to its BigQuery
emulator (local/twin). The exit code is the job's: 0, or 2 for a JobError, as the batch's driver
would end. The Airflow suite's fake Dataproc calls this for each CreateBatch, so a DAG run through
Airflow's own runner scores in the twin and its check task reconciles what the job really wrote.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import sys
from pathlib import Path

from local import twin
from local.connector.jars import ensure_jars, spark_conf
from pyspark.sql import SparkSession


def twin_spark(state: twin.TwinState) -> SparkSession:
    """The session the jobs then get from get_spark, with gs:// sent to the Cloud Storage emulator."""
    builder = SparkSession.builder.appName("s8s-local-lab")
    for key, value in spark_conf(state, ensure_jars()).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def local_object(state: twin.TwinState, uri: str, what: str) -> Path:
    """The file the Cloud Storage emulator holds for a gs:// URI (its filesystem backend stores
    gs://b/o as <gcs root>/b/o); an error naming the URI when the twin does not hold it."""
    m = re.fullmatch(r"gs://([a-z0-9._-]+)/(.+)", uri)
    if not m:
        raise twin.TwinError(f"{what} {uri!r} is not a gs://BUCKET/OBJECT URI")
    path = Path(state.gcs_root) / m.group(1) / m.group(2)
    if not path.is_file():
        raise twin.TwinError(f"{what} {uri!r} is not in the twin's Cloud Storage; the stack uploads no such object")
    return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m local.dataproc.batch", description="Run one PySpark batch in the twin.")
    p.add_argument("state_dir", type=Path)
    p.add_argument("--python-file-uri", action="append", default=[], help="one of the batch's python_file_uris")
    p.add_argument("main_python_file_uri")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the batch's arguments")
    return p.parse_args(argv)


def run(argv: list[str]) -> int:
    a = parse_args(argv)
    state = twin.TwinState.load(a.state_dir)
    main_file = local_object(state, a.main_python_file_uri, "main_python_file_uri")
    if main_file.suffix != ".py":
        raise twin.TwinError(f"main_python_file_uri {a.main_python_file_uri!r} is not a .py file")
    py_files = [local_object(state, uri, "python_file_uri") for uri in a.python_file_uri]
    os.environ.update(state.client_env())
    spark = twin_spark(state)
    spark.sparkContext.setLogLevel("ERROR")
    for path in py_files:
        spark.sparkContext.addPyFile(str(path))
    # The connector's stand-in replaces the write of the package the job imports: the archive's.
    from local.connector import bigquery as connector

    connector.install()
    sys.argv = [str(main_file), *a.args]
    try:
        runpy.run_path(str(main_file), run_name="__main__")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def main() -> int:
    try:
        return run(sys.argv[1:])
    except twin.TwinError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
