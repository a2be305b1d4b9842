"""The scoring DAG's check task against the BigQuery emulator, on rows the scoring job really wrote.

The cloud twin (local/twin) runs both emulators; the scoring job runs in the Spark environment
(local/cli.py, --sink bigquery, the same job the DAG submits) and writes its three tables to
the emulated BigQuery. Then the DAG's own check_predictions_written task runs with the run's
pipeline_id and batch, its BigQueryHook pointed at the emulator (BIGQUERY_EMULATOR_HOST), and the
emulator answers its one parameterized reconciliation query from those rows: no canned answer.
"""

from __future__ import annotations

import json
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
    cmd = [str(spark / "bin" / "python"), "-m", "local.cli", "--direct", "--twin", state.root]
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


# --- The scoring DAG run by Airflow's own runner, its batch run by the Dataproc twin ------------


@pytest.fixture(scope="module")
def dataproc_twin(emulator):
    """The twin as `twin.up` left it, the stack deployed (its objects, the Composer software_config),
    and the Dataproc twin's server started for it (local/dataproc): batches run the uploaded files in spark-submit."""
    from local import dataproc

    dataproc.start(Path(emulator.root))  # `twin.up` deployed the whole stack
    yield emulator
    dataproc.stop(Path(emulator.root))


@pytest.fixture()
def dataproc_in_twin(google, first_run, dataproc_twin, monkeypatch):
    """What the local Airflow runs with: every Airflow variable the stack gives the Composer
    environment (its env_variables, as the deploy saved them), the anonymous connection and the
    emulators' hosts (local.dataproc.airflow_env), and the Dataproc redirect loaded. The DAG's
    batch request goes through the provider's own operator and hook to the Dataproc twin."""
    import importlib

    from s8s_common import LabBatchOperator

    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
    from local import dataproc

    root = Path(dataproc_twin.root)
    software = json.loads((root / "composer" / "environment.json").read_text())["software_config"]
    for name, value in {**software["env_variables"], **dataproc.airflow_env(root)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(DataprocHook, "get_batch_client", DataprocHook.get_batch_client)  # restored after the test
    importlib.reload(importlib.import_module(dataproc.REDIRECT_MODULE))
    monkeypatch.setattr(LabBatchOperator, "poll_seconds", 1)
    return TwinBatches(root)


class TwinBatches:
    """The Dataproc twin's batches, read through its API as the console would."""

    def __init__(self, root: Path) -> None:
        from local.dataproc import batches
        from local.dataproc.project import Project

        self.root, self.api = root, batches.client(root)
        project = Project.load(root)
        self.parent = f"projects/{project.project}/locations/{project.region}"

    def get(self, batch_id: str):
        return self.api.get_batch(name=f"{self.parent}/batches/{batch_id}")

    def output(self, batch_id: str) -> str:
        from local.dataproc.batches import driver_output

        return driver_output(self.root, batch_id)


def test_a_dag_run_scores_in_the_twin_and_its_check_reconciles_those_rows(google, dataproc_in_twin):
    """The whole scoring DAG through dag.test(), triggered as score_command triggers it: its batch
    request, sent by the provider's hook, runs the uploaded job in the Dataproc twin, and the check
    task reconciles what the job wrote."""
    from google.cloud.dataproc_v1 import Batch
    from s8s_common import batch_id_for, pipeline_id_for

    from conftest import TRIGGERS, load_dagbag, run_dag, task_states, xcom_value

    dr = run_dag(load_dagbag(), "customer-churn-prediction", TRIGGERS[0])
    batch_id = batch_id_for("score", dr.run_id, 1)
    batch = dataproc_in_twin.get(batch_id)
    assert batch.state == Batch.State.SUCCEEDED, batch.state_message + dataproc_in_twin.output(batch_id)[-3000:]
    assert dict(batch.labels)["airflow-dag-id"] == "customer-churn-prediction"
    tasks = ("announce_pipeline", "Predict-Customer-Churn", "check_predictions_written", "check_drift")
    assert task_states(dr) == {t: ("success", 1) for t in tasks}
    pipeline_id = pipeline_id_for(dr.run_id)
    assert (google.pipeline_rows("batch_predictions", pipeline_id), google.pipeline_rows("batch_rejects", pipeline_id)) == (
        395,
        5,
    )
    numbers = xcom_value(dr, "check_predictions_written")
    assert numbers == sample_reconciled(pipeline_id, batch_id)
    # The sample input looks like the training data: no feature at the moderate PSI.
    verdict = xcom_value(dr, "check_drift")
    assert verdict["drift_status"] == "ok" and verdict["features"] == 21 and verdict["max_psi"] < 0.1, verdict


def shifted_input(state, tmp_path) -> str:
    """The lab's sample input with every customer moved to a two-year contract and charged 40 more
    a month, uploaded to the twin's data bucket: its gs:// URI."""
    import csv

    with (REPO / "pyspark" / "data" / "scoring.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    for r in rows:
        r["Contract"] = "Two year"
        try:
            r["MonthlyCharges"] = f"{float(r['MonthlyCharges']) + 40:.2f}"
        except ValueError:
            pass  # the sample's deliberately broken rows stay broken (rejected)
    path = tmp_path / "shifted.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return twin.upload(state, twin.bucket(state.stack(), "data"), "data/shifted.csv", path)


def drift_check(state, reconciled: dict):
    """The DAG's check_drift task body, with the arguments the DAG passes it and the stack's thresholds."""
    import customer_churn_prediction

    from conftest import SAMPLE_VARIABLES

    task = customer_churn_prediction.dag.get_task("check_drift")
    return task.python_callable(
        reconciled=reconciled,
        dataset=f"{state.project}.customer_churn_ds",
        project=state.project,
        location=LOCATION,
        moderate=SAMPLE_VARIABLES["drift_psi_moderate"],
        high=SAMPLE_VARIABLES["drift_psi_high"],
    )


def test_a_dag_run_on_a_shifted_input_fails_its_drift_check_naming_the_features(google, dataproc_in_twin, tmp_path):
    """The run scores and reconciles every row, then check_drift fails it (no retry), and its
    message names each drifted feature with its PSI, JS distance and largest shift."""
    from google.cloud.dataproc_v1 import Batch
    from s8s_common import batch_id_for, pipeline_id_for

    from airflow.providers.common.compat.sdk import AirflowFailException
    from conftest import TRIGGERS, load_dagbag, run_dag, task_states, xcom_value

    uri = shifted_input(google, tmp_path)
    dr = run_dag(load_dagbag(), "customer-churn-prediction", TRIGGERS[0], conf={"input_uri": uri})
    batch_id = batch_id_for("score", dr.run_id, 1)
    batch = dataproc_in_twin.get(batch_id)
    assert batch.state == Batch.State.SUCCEEDED, batch.state_message + dataproc_in_twin.output(batch_id)[-3000:]
    states = task_states(dr)
    assert states["check_predictions_written"] == ("success", 1)
    assert states["check_drift"] == ("failed", 1), states
    pipeline_id = pipeline_id_for(dr.run_id)
    reconciled = xcom_value(dr, "check_predictions_written")
    assert (reconciled["scored"], reconciled["rejected"]) == (395, 5)

    with pytest.raises(AirflowFailException) as failed:
        drift_check(google, reconciled)
    message = str(failed.value)
    assert f"pipeline_id={pipeline_id}" in message and "(psi >= 0.25)" in message
    for feature in ("contract", "monthly_charges", "churn_probability"):
        assert f"{feature} (psi=" in message, message
    assert "gender (psi=" not in message  # unchanged features are not named
    assert "Two year: " in message  # the largest shift of contract, training share -> run share
    (status,) = (
        google.bigquery()
        .query(f"SELECT drift_status FROM `{google.project}.customer_churn_ds.batch_runs` WHERE pipeline_id = '{pipeline_id}'")
        .result()
    )
    assert status["drift_status"] == "high"


def test_a_run_of_a_version_without_baseline_passes_the_drift_check_with_a_warning(google, first_run, caplog):
    """What a version trained before baselines leaves in BigQuery: drift_status no_baseline and no
    batch_drift rows (the Spark suite runs such a version). The check warns "no baseline" and passes."""
    pipeline_id = "old-version-run"
    runs = f"`{google.project}.customer_churn_ds.batch_runs`"
    dml(google, f"DELETE FROM {runs} WHERE pipeline_id = @p", pipeline_id)
    dml(
        google,
        f"INSERT INTO {runs} (pipeline_id, batch_id, model_version, `read`, scored, rejected, drift_status) "
        "VALUES (@p, 's8s-score-old-a1', 'v-old', 400, 395, 5, 'no_baseline')",
        pipeline_id,
    )
    with caplog.at_level("WARNING"):
        verdict = drift_check(google, {"pipeline_id": pipeline_id})
    assert verdict["drift_status"] == "no_baseline"
    assert "no baseline" in caplog.text


def test_bad_drift_thresholds_are_named(google, first_run):
    import customer_churn_prediction

    from airflow.providers.common.compat.sdk import AirflowFailException

    task = customer_churn_prediction.dag.get_task("check_drift")
    args = {"reconciled": {"pipeline_id": first_run[0]}, "dataset": f"{google.project}.customer_churn_ds"}
    args.update(project=google.project, location=LOCATION)
    with pytest.raises(AirflowFailException, match=r"drift_psi_high is 'high'; expected a PSI above 0"):
        task.python_callable(**args, moderate="0.1", high="high")
    with pytest.raises(AirflowFailException, match=r"drift_psi_moderate 0.3 is above drift_psi_high 0.25"):
        task.python_callable(**args, moderate="0.3", high="0.25")


def test_a_dag_run_whose_first_batch_fails_retries_and_reconciles(google, dataproc_in_twin):
    """Attempt 1's batch fails for real (its input is missing from the data bucket); the input is
    put back once the twin reports that batch FAILED; Airflow retries, attempt 2's batch (a new id)
    scores, and the check reconciles attempt 2's rows."""
    import threading
    import time

    from google.cloud.dataproc_v1 import Batch
    from s8s_common import batch_id_for, pipeline_id_for

    from conftest import TRIGGERS, load_dagbag, run_dag, task_states, xcom_value
    from local.twin import gcs

    data = json.loads((Path(google.root) / "composer" / "environment.json").read_text())["software_config"]
    uri = f"gs://{data['env_variables']['AIRFLOW_VAR_DATA_BUCKET']}/data/scoring.csv"
    original = gcs.read(google.gcs_endpoint, uri)
    assert gcs.delete(google.gcs_endpoint, uri)
    failed_first: list[str] = []

    def put_back_after_the_first_failure() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            for b in dataproc_in_twin.api.list_batches(parent=dataproc_in_twin.parent):
                if b.name.endswith("-a1") and b.state == Batch.State.FAILED and "scoring.csv" in b.state_message:
                    failed_first.append(b.name)
                    gcs.upload(google.gcs_endpoint, uri, original)
                    return
            time.sleep(0.5)

    watcher = threading.Thread(target=put_back_after_the_first_failure, daemon=True)
    watcher.start()
    try:
        dr = run_dag(load_dagbag(), "customer-churn-prediction", TRIGGERS[0])
    finally:
        watcher.join(timeout=5)
        if gcs.stat(google.gcs_endpoint, uri) is None:
            gcs.upload(google.gcs_endpoint, uri, original)
    first, second = (batch_id_for("score", dr.run_id, n) for n in (1, 2))
    assert [name.rsplit("/", 1)[-1] for name in failed_first] == [first]
    assert dataproc_in_twin.get(second).state == Batch.State.SUCCEEDED, dataproc_in_twin.output(second)[-3000:]
    assert task_states(dr)["Predict-Customer-Churn"] == ("success", 2)
    pipeline_id = pipeline_id_for(dr.run_id)
    assert google.pipeline_rows("batch_predictions", pipeline_id) == 395
    assert google.pipeline_rows("batch_runs", pipeline_id) == 1
    numbers = xcom_value(dr, "check_predictions_written")
    assert (numbers["batch_id"], numbers["prediction_rows"], numbers["reject_rows"]) == (second, 395, 5)
