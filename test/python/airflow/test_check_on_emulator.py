"""The scoring DAG's check task against the BigQuery emulator, on rows the scoring job really wrote.

The cloud twin (scripts/twin.py) runs both emulators; the scoring job runs in the Spark environment
(scripts/local_lab.py, --sink bigquery, the same job the DAG submits) and writes its three tables to
the emulated BigQuery. Then the DAG's own check_predictions_written task executes with the run's
pipeline_id and batch, its BigQueryHook pointed at the emulator (BIGQUERY_EMULATOR_HOST), and the
emulator answers its one parameterized reconciliation query from those rows: no canned answer.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))

import twin  # noqa: E402

RUN_ID = "manual__2026-12-01T10:00:00+00:00"
LOCATION = "us-central1"  # the stack's default region: the dataset's location in the twin


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    state = twin.up(tmp_path_factory.mktemp("twin"))
    yield state
    twin.down(Path(state.root))


@pytest.fixture()
def google(emulator, monkeypatch):
    """The Google provider's BigQuery client sent to the emulator, with anonymous credentials."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), emulator.project))
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emulator.bigquery_endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", "google-cloud-platform://")
    return emulator


def score(state, pipeline_id: str, batch_id: str, model_version: str | None = None) -> str:
    """Runs the scoring job (training a model first unless given one); its output."""
    spark = twin.python_env("spark")
    cmd = [str(spark / "bin" / "python"), str(REPO / "scripts" / "local_lab.py"), "--twin", state.root]
    cmd += ["--workdir", str(Path(state.root) / "run"), "--pipeline-id", pipeline_id, "--batch-id", batch_id]
    if model_version:
        cmd += ["--model-version", model_version]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def client(state):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    endpoint = {"api_endpoint": state.bigquery_endpoint}
    return bigquery.Client(project=state.project, credentials=AnonymousCredentials(), client_options=endpoint)


def rows_of(state, table: str, pipeline_id: str) -> int:
    from google.cloud import bigquery

    sql = f"SELECT COUNT(*) AS n FROM `{state.project}.customer_churn_ds.{table}` WHERE pipeline_id = @p"
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
    return next(iter(client(state).query(sql, job_config=config).result()))["n"]


def check(state, pipeline_id: str, batch_id: str):
    """Executes the DAG's check_predictions_written task (its operator's execute()) for the run."""
    import customer_churn_prediction

    task = copy.deepcopy(customer_churn_prediction.dag.get_task("check_predictions_written"))
    task.op_kwargs = {
        "scored_batch": {"name": f"projects/{state.project}/locations/{LOCATION}/batches/{batch_id}"},
        "pipeline_id": pipeline_id,
        "dataset": f"{state.project}.customer_churn_ds",
        "project": state.project,
        "location": LOCATION,
    }
    return task.execute(context={})


@pytest.fixture(scope="module")
def first_run(emulator):
    from s8s_common import batch_id_for, pipeline_id_for

    pipeline_id, batch_id = pipeline_id_for(RUN_ID), batch_id_for("score", RUN_ID, 1)
    score(emulator, pipeline_id, batch_id)
    versions = list(client(emulator).query(f"SELECT version FROM `{emulator.project}.customer_churn_ds.model_versions`").result())
    return pipeline_id, batch_id, versions[0]["version"]


def test_a_clean_run_reconciles_in_the_emulator(google, first_run):
    pipeline_id, batch_id, _ = first_run
    numbers = check(google, pipeline_id, batch_id)
    assert numbers == {
        "pipeline_id": pipeline_id,
        "run_rows": 1,
        "batch_id": batch_id,
        "read": 400,
        "scored": 395,
        "rejected": 5,
        "prediction_rows": 395,
        "reject_rows": 5,
    }


def test_a_retry_of_the_pipeline_id_replaces_its_rows(google, first_run):
    from s8s_common import batch_id_for

    pipeline_id, _, version = first_run
    retry_batch = batch_id_for("score", RUN_ID, 2)
    score(google, pipeline_id, retry_batch, model_version=version)
    assert rows_of(google, "batch_predictions", pipeline_id) == 395  # not 790
    assert rows_of(google, "batch_rejects", pipeline_id) == 5
    assert rows_of(google, "batch_runs", pipeline_id) == 1
    numbers = check(google, pipeline_id, retry_batch)
    assert (numbers["run_rows"], numbers["batch_id"], numbers["prediction_rows"]) == (1, retry_batch, 395)


def dml(state, sql: str, pipeline_id: str) -> int:
    """Runs a DML statement in the emulator with @p bound to the pipeline_id; rows affected."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
    job = client(state).query(sql, job_config=config)
    job.result()
    return job.num_dml_affected_rows


def test_a_run_row_whose_counts_do_not_add_up_fails_the_check(google, first_run):
    from s8s_common import batch_id_for

    from airflow.exceptions import AirflowFailException

    pipeline_id, _, _ = first_run
    runs = f"`{google.project}.customer_churn_ds.batch_runs`"
    assert dml(google, f"UPDATE {runs} SET `read` = `read` + 1 WHERE pipeline_id = @p", pipeline_id) == 1
    try:
        with pytest.raises(AirflowFailException, match=r"read 401 != scored 395 \+ rejected 5"):
            check(google, pipeline_id, batch_id_for("score", RUN_ID, 2))
    finally:
        dml(google, f"UPDATE {runs} SET `read` = `read` - 1 WHERE pipeline_id = @p", pipeline_id)
    assert check(google, pipeline_id, batch_id_for("score", RUN_ID, 2))["read"] == 400


def test_a_run_missing_a_row_fails_the_check_naming_every_number(google, first_run):
    from s8s_common import batch_id_for

    from airflow.exceptions import AirflowFailException

    pipeline_id, _, _ = first_run
    table = f"`{google.project}.customer_churn_ds.batch_predictions`"
    one = f"(SELECT MIN(customer_id) FROM {table} WHERE pipeline_id = @p)"
    assert dml(google, f"DELETE FROM {table} WHERE pipeline_id = @p AND customer_id = {one}", pipeline_id) == 1
    with pytest.raises(AirflowFailException) as failed:
        check(google, pipeline_id, batch_id_for("score", RUN_ID, 2))
    message = str(failed.value)
    assert "batch_predictions holds 394 rows, the job scored 395" in message
    for number in ("run_rows=1", "read=400", "scored=395", "rejected=5", "prediction_rows=394", "reject_rows=5"):
        assert number in message, message


def test_a_run_row_written_by_another_batch_fails_the_check(google, first_run):
    from airflow.exceptions import AirflowFailException

    pipeline_id, _, _ = first_run
    with pytest.raises(AirflowFailException, match="not by this run's batch s8s-score-other-a1"):
        check(google, pipeline_id, "s8s-score-other-a1")


def test_a_pipeline_id_with_no_run_row_fails_the_check(google, first_run):
    from airflow.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"expected 1 batch_runs row for the run, found 0 \(pipeline_id=never-ran,"):
        check(google, "never-ran", "s8s-score-never-ran-a1")


def test_a_second_run_row_for_the_pipeline_id_fails_the_check(google, first_run):
    from s8s_common import batch_id_for

    from airflow.exceptions import AirflowFailException

    pipeline_id, _, _ = first_run
    runs = f"`{google.project}.customer_churn_ds.batch_runs`"
    assert dml(google, f"INSERT INTO {runs} SELECT * FROM {runs} WHERE pipeline_id = @p", pipeline_id) == 1
    with pytest.raises(AirflowFailException, match="expected 1 batch_runs row for the run, found 2"):
        check(google, pipeline_id, batch_id_for("score", RUN_ID, 2))
