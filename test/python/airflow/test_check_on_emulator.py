"""The scoring DAG's check task against the BigQuery emulator, on rows the scoring job really wrote.

The cloud twin (local/twin) runs both emulators; the scoring job runs in the Spark environment
(local/cli.py, --sink bigquery, the same job the DAG submits) and writes its three tables to
the emulated BigQuery. Then the DAG's own check_predictions_written task runs with the run's
pipeline_id and batch, its BigQueryHook pointed at the emulator (BIGQUERY_EMULATOR_HOST), and the
emulator answers its one parameterized reconciliation query from those rows: no canned answer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, sample_reconciled
from local import twin

# How `npm run local` runs the local lab: `python -m local.cli` from the repository root, the jobs'
# folder on PYTHONPATH.
LOCAL_RUN = {"cwd": REPO, "env": {**os.environ, "PYTHONPATH": str(REPO / "pyspark")}}

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
    cmd = [str(spark / "bin" / "python"), "-m", "local.cli", "--twin", state.root]
    cmd += ["--workdir", str(Path(state.root) / "run"), "--pipeline-id", pipeline_id, "--batch-id", batch_id]
    if model_version:
        cmd += ["--model-version", model_version]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, **LOCAL_RUN)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def check(state, pipeline_id: str, batch_id: str):
    """The DAG's check_predictions_written task body for the run: the function its TaskFlow operator
    calls, with the arguments the DAG passes it (Airflow 3 refuses an operator's execute() outside
    its task runner; the DAG runs at the end of this file go through the runner itself)."""
    import customer_churn_prediction

    task = customer_churn_prediction.dag.get_task("check_predictions_written")
    return task.python_callable(
        scored_batch={"name": f"projects/{state.project}/locations/{LOCATION}/batches/{batch_id}"},
        pipeline_id=pipeline_id,
        dataset=f"{state.project}.customer_churn_ds",
        project=state.project,
        location=LOCATION,
    )


@pytest.fixture(scope="module")
def first_run(emulator):
    from s8s_common import batch_id_for, pipeline_id_for

    pipeline_id, batch_id = pipeline_id_for(RUN_ID), batch_id_for("score", RUN_ID, 1)
    score(emulator, pipeline_id, batch_id)
    versions = list(
        emulator.bigquery().query(f"SELECT version FROM `{emulator.project}.customer_churn_ds.model_versions`").result()
    )
    return pipeline_id, batch_id, versions[0]["version"]


def test_a_clean_run_reconciles_in_the_emulator(google, first_run):
    pipeline_id, batch_id, _ = first_run
    numbers = check(google, pipeline_id, batch_id)
    assert numbers == sample_reconciled(pipeline_id, batch_id)


def test_a_retry_of_the_pipeline_id_replaces_its_rows(google, first_run):
    from s8s_common import batch_id_for

    pipeline_id, _, version = first_run
    retry_batch = batch_id_for("score", RUN_ID, 2)
    score(google, pipeline_id, retry_batch, model_version=version)
    assert google.pipeline_rows("batch_predictions", pipeline_id) == 395  # not 790
    assert google.pipeline_rows("batch_rejects", pipeline_id) == 5
    assert google.pipeline_rows("batch_runs", pipeline_id) == 1
    numbers = check(google, pipeline_id, retry_batch)
    assert (numbers["run_rows"], numbers["batch_id"], numbers["prediction_rows"]) == (1, retry_batch, 395)


def dml(state, sql: str, pipeline_id: str) -> int:
    """Runs a DML statement in the emulator with @p bound to the pipeline_id; rows affected."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
    job = state.bigquery().query(sql, job_config=config)
    job.result()
    return job.num_dml_affected_rows


def test_a_run_row_whose_counts_do_not_add_up_fails_the_check(google, first_run):
    from s8s_common import batch_id_for

    from airflow.providers.common.compat.sdk import AirflowFailException

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

    from airflow.providers.common.compat.sdk import AirflowFailException

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
    from airflow.providers.common.compat.sdk import AirflowFailException

    pipeline_id, _, _ = first_run
    with pytest.raises(AirflowFailException, match="not by this run's batch s8s-score-other-a1"):
        check(google, pipeline_id, "s8s-score-other-a1")


def test_a_pipeline_id_with_no_run_row_fails_the_check(google, first_run):
    from airflow.providers.common.compat.sdk import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"expected 1 batch_runs row for the run, found 0 \(pipeline_id=never-ran,"):
        check(google, "never-ran", "s8s-score-never-ran-a1")


def test_a_second_run_row_for_the_pipeline_id_fails_the_check(google, first_run):
    from s8s_common import batch_id_for

    from airflow.providers.common.compat.sdk import AirflowFailException

    pipeline_id, _, _ = first_run
    runs = f"`{google.project}.customer_churn_ds.batch_runs`"
    assert dml(google, f"INSERT INTO {runs} SELECT * FROM {runs} WHERE pipeline_id = @p", pipeline_id) == 1
    with pytest.raises(AirflowFailException, match="expected 1 batch_runs row for the run, found 2"):
        check(google, pipeline_id, batch_id_for("score", RUN_ID, 2))


# --- The scoring DAG run by Airflow's own runner, its batch run in the twin --------------------


@pytest.fixture()
def dataproc_in_twin(google, first_run, monkeypatch):
    """A Dataproc API (google_fakes.FakeDataproc) that runs each batch it is asked to create: the
    batch's own main file, python files and arguments, through local/dataproc/batch.py, against the twin. The
    batch ends SUCCEEDED when the job exits 0, FAILED otherwise, unless `forced` names the end
    state of the next batch (the job still runs). The Airflow variables name the twin's project and
    buckets, so the DAG's request is the one a deployed lab sends, pointed at the twin's resources."""
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport
    from google_fakes import FakeDataproc, State
    from s8s_common import LabBatchOperator

    stack = google.stack()
    variables = {"project_id": google.project, "region": LOCATION}
    variables.update({f"{purpose}_bucket": twin.bucket(stack, purpose) for purpose in ("code", "data", "spark")})
    variables["model_bucket"] = twin.bucket(stack, "models")
    for name, value in variables.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_{name.upper()}", value)

    dataproc = FakeDataproc()
    dataproc.forced, dataproc.ran = [], []

    def run_batch(request, context) -> None:
        job = request.batch.pyspark_batch
        spark = twin.python_env("spark")
        cmd = [str(spark / "bin" / "python"), "-m", "local.dataproc.batch", google.root]
        cmd += [f"--python-file-uri={uri}" for uri in job.python_file_uris]
        cmd += [job.main_python_file_uri, *job.args]
        # From the repository root but without pyspark/ on the path: the job imports its package
        # from the archive the request names, as on Dataproc.
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, cwd=REPO)
        dataproc.ran.append((request.batch_id, done.returncode, done.stdout))
        ok = State.SUCCEEDED if done.returncode == 0 else State.FAILED
        dataproc.outcomes.append(dataproc.forced.pop(0) if dataproc.forced else ok)
        dataproc.outcome_message = "" if done.returncode == 0 else done.stdout[-2000:]

    dataproc.before_create = run_batch
    monkeypatch.setattr(BatchControllerGrpcTransport, "create_channel", classmethod(lambda cls, *a, **k: dataproc.channel()))
    monkeypatch.setattr(LabBatchOperator, "poll_seconds", 0)
    yield dataproc
    dataproc.stop()


def test_a_dag_run_scores_in_the_twin_and_its_check_reconciles_those_rows(google, dataproc_in_twin):
    """The whole scoring DAG through dag.test(), triggered as score_command triggers it: its batch
    request runs the real job in the twin, and the check task reconciles what the job wrote."""
    from s8s_common import batch_id_for, pipeline_id_for

    from conftest import TRIGGERS, load_dagbag, run_dag, task_states, xcom_value

    dr = run_dag(load_dagbag(), "customer-churn-prediction", TRIGGERS[0])
    ((batch_id, code, output),) = dataproc_in_twin.ran
    assert code == 0, output[-3000:]
    tasks = ("announce_pipeline", "Predict-Customer-Churn", "check_predictions_written")
    assert task_states(dr) == {t: ("success", 1) for t in tasks}
    pipeline_id = pipeline_id_for(dr.run_id)
    assert batch_id == batch_id_for("score", dr.run_id, 1)
    assert (google.pipeline_rows("batch_predictions", pipeline_id), google.pipeline_rows("batch_rejects", pipeline_id)) == (
        395,
        5,
    )
    numbers = xcom_value(dr, "check_predictions_written")
    assert numbers == sample_reconciled(pipeline_id, batch_id)


def test_a_retried_dag_run_replaces_its_rows_in_the_twin(google, dataproc_in_twin):
    """Attempt 1's batch writes every row and then fails (its driver lost after the writes, say):
    Airflow retries, attempt 2's batch writes the same pipeline_id again, and the emulator holds
    the run's rows once, written by attempt 2, which the check reconciles."""
    from google_fakes import State
    from s8s_common import batch_id_for, pipeline_id_for

    from conftest import TRIGGERS, load_dagbag, run_dag, task_states, xcom_value

    dataproc_in_twin.forced.append(State.FAILED)
    dr = run_dag(load_dagbag(), "customer-churn-prediction", TRIGGERS[0])
    assert [(b, code) for b, code, _ in dataproc_in_twin.ran] == [
        (batch_id_for("score", dr.run_id, 1), 0),
        (batch_id_for("score", dr.run_id, 2), 0),
    ], dataproc_in_twin.ran[-1][2][-3000:]
    assert task_states(dr)["Predict-Customer-Churn"] == ("success", 2)
    pipeline_id = pipeline_id_for(dr.run_id)
    assert google.pipeline_rows("batch_predictions", pipeline_id) == 395  # not 790
    assert google.pipeline_rows("batch_runs", pipeline_id) == 1
    numbers = xcom_value(dr, "check_predictions_written")
    retry_batch = batch_id_for("score", dr.run_id, 2)
    assert (numbers["batch_id"], numbers["prediction_rows"], numbers["reject_rows"]) == (retry_batch, 395, 5)
