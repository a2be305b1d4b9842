"""Fixtures of the cloud-twin suite: both emulators started once (local/twin), a Spark session
whose gs:// goes to the Cloud Storage emulator and which loads Google's spark-bigquery connector at
the version the batches pin (local/connector), a model trained into the emulated models bucket, and
one scoring run written to the emulated BigQuery with --sink bigquery through that connector."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The jobs' folder itself (never its parent: `import pyspark` stays Spark). `local` is found from the
# repository root, where the suite runs (python -m pytest).
sys.path.insert(0, str(REPO / "pyspark"))

DATASET = "customer_churn_ds"
MODEL_VERSION = "v-twin"


@pytest.fixture(scope="session")
def twin_state(tmp_path_factory):
    from local import twin

    state = twin.up(tmp_path_factory.mktemp("twin"))
    saved = {k: os.environ.get(k) for k in state.client_env()}
    os.environ.update(state.client_env())
    yield state
    twin.down(Path(state.root))
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def stack(twin_state):
    return twin_state.stack()


@pytest.fixture(scope="session")
def buckets(stack):
    from local import twin

    return {purpose: twin.bucket(stack, purpose) for purpose in ("data", "models", "spark")}


@pytest.fixture(scope="session")
def bq(twin_state):
    from s8s_churn.sinks import bigquery_client

    return bigquery_client(twin_state.project)


@pytest.fixture(scope="session")
def spark(twin_state):
    from local.connector.jars import ensure_jars, spark_conf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("s8s-twin-tests")
    conf = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC"}
    for key, value in {**conf, **spark_conf(twin_state, ensure_jars())}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def inputs(twin_state, buckets, tmp_path_factory):
    """The lab's sample files, uploaded where the stack uploads them (data bucket, data/)."""
    from local import sample_data, twin

    local = tmp_path_factory.mktemp("data")
    sample_data.write_lab_samples(local)
    return {
        name: twin.upload(twin_state, buckets["data"], f"data/{name}", local / name)
        for name in (sample_data.TRAINING_FILE, sample_data.SCORING_FILE)
    }


@pytest.fixture(scope="session")
def models_root(spark, twin_state, stack, buckets, inputs):
    """gs://<models bucket>/churn-model with one version trained through the Cloud Storage connector."""
    from local import twin
    from s8s_churn import training

    root = f"gs://{buckets['models']}/churn-model"
    training.train(
        spark,
        training.parse_args(["--input", inputs["training.csv"], "--models-root", root, "--model-version", MODEL_VERSION]),
    )
    twin.load_model_versions(twin_state, stack)
    return root


def score_argv(twin_state, buckets, inputs, models_root, pipeline_id: str, batch_id: str = "local") -> list[str]:
    return [
        "--pipeline-id", pipeline_id, "--model-version", MODEL_VERSION, "--input", inputs["scoring.csv"],
        "--models-root", models_root, "--sink", "bigquery", "--project", twin_state.project, "--dataset", DATASET,
        "--temp-bucket", buckets["spark"], "--batch-id", batch_id,
    ]  # fmt: skip


def run_scoring(argv: list[str]) -> dict:
    """scoring.main(argv); its SUMMARY line as a dict."""
    import contextlib
    import io

    from s8s_churn import scoring

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert scoring.main(argv) == 0
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("SUMMARY ")]
    return json.loads(line.removeprefix("SUMMARY "))


def load_jobs(bq, pipeline_id: str, batch_id: str | None = None) -> list:
    """The load jobs the emulator recorded for a pipeline id (and batch), found by the labels the
    connector copied onto them from its bigQueryJobLabel.<key> options; oldest first."""
    found = []
    for job in bq.list_jobs(project=bq.project, max_results=1000):
        labels = job.labels or {}
        if job.job_type == "load" and labels.get("s8s-pipeline-id") == pipeline_id:
            if batch_id is None or labels.get("s8s-batch-id") == batch_id:
                found.append(bq.get_job(job.job_id))
    return sorted(found, key=lambda j: j.created)


@pytest.fixture(scope="session")
def scored(spark, bq, twin_state, buckets, inputs, models_root):
    """One scoring run of the sample input, written to the emulated BigQuery: (pipeline_id, SUMMARY,
    the load jobs the connector ran for it, as the emulator recorded them)."""
    pipeline_id = "twin-run-1"
    summary = run_scoring(score_argv(twin_state, buckets, inputs, models_root, pipeline_id))
    return pipeline_id, summary, load_jobs(bq, pipeline_id)
