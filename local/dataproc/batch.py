"""Runs one Dataproc Serverless PySpark batch in the cloud twin, as the service would run it.

    PYTHONPATH=pyspark python -m local.dataproc.batch STATE_DIR MAIN_PYTHON_FILE_URI [ARG ...]

The batch's main file must be one the stack uploads to the code bucket (gs://<code>/pyspark/<file>):
it runs the repository's pyspark/<file>, the same bytes, with the batch's own arguments, gs:// going
to the twin's Cloud Storage emulator and BigQuery to its BigQuery emulator (local/twin). The
exit code is the job's: 0, or 2 for a JobError, as the batch's driver would end. The Airflow suite's
fake Dataproc calls this for each CreateBatch, so a DAG run through Airflow's own runner scores in
the twin and its check task reconciles what the job really wrote.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

from local import twin
from local.connector import bigquery as connector
from local.connector.jars import ensure_jars, spark_conf
from pyspark.sql import SparkSession
from s8s_churn.job import JobError, get_spark, run_main


def twin_spark(state: twin.TwinState) -> SparkSession:
    """The session the jobs get from get_spark, with gs:// sent to the Cloud Storage emulator."""
    builder = SparkSession.builder
    for key, value in spark_conf(state, ensure_jars()).items():
        builder = builder.config(key, value)
    builder.getOrCreate()
    return get_spark("s8s-local-lab")


def main_module(state: twin.TwinState, main_file_uri: str) -> str:
    """The job module a batch's main_python_file_uri names, checked against the twin's code bucket."""
    stack = state.stack()
    code = twin.bucket(stack, "code")
    m = re.fullmatch(rf"gs://{re.escape(code)}/pyspark/([a-z_]+)\.py", main_file_uri)
    if not m or not (twin.REPO / "pyspark" / f"{m.group(1)}.py").is_file():
        raise JobError(
            f"main_python_file_uri {main_file_uri!r} is not a job the stack uploads; expected gs://{code}/pyspark/<job>.py"
        )
    return m.group(1)


def run(argv: list[str]) -> int:
    if len(argv) < 2:
        raise JobError("usage: python -m local.dataproc.batch STATE_DIR MAIN_PYTHON_FILE_URI [ARG ...]")
    state = twin.TwinState.load(Path(argv[0]))
    job = importlib.import_module(main_module(state, argv[1]))
    os.environ.update(state.client_env())
    connector.install()
    twin_spark(state).sparkContext.setLogLevel("ERROR")
    return job.main(argv[2:])


if __name__ == "__main__":
    sys.exit(run_main(run, sys.argv[1:]))
