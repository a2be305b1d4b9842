"""Every task of both DAGs run by Airflow's own runner (dag.test(): on Airflow 3 the Task SDK's
task runner and Execution API), on the Airflow of this environment, for runs triggered the ways a
user triggers them (conftest.TRIGGERS), with Google Cloud on localhost at the wire (google_fakes.py:
the Dataproc twin reached through the local Airflow's redirect, a recording BigQuery): the
assertions are on the requests the Google provider's clients send and on what Airflow records
for the run, its tasks' states, attempts and XComs."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from google_fakes import FakeBigQuery, Recorder, ScriptedRun, State

from conftest import (
    AIRFLOW_3,
    REPO,
    SAMPLE_VARIABLES,
    TRIGGERS,
    load_dagbag,
    run_and_record,
    run_dag,
    run_timestamp_of,
    sample_reconciled,
    task_states,
    xcom_value,
)


def connector_version() -> str:
    """The spark-bigquery connector version the cloud twin loads (local/connector/jars.py reads it from
    airflow/dags/connectors.json): the batches must ask Dataproc for the same one."""
    import sys

    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # last: `import airflow` stays the installed package
    from local.connector.jars import bigquery_connector

    return bigquery_connector().version


SCORING = "customer-churn-prediction"
TRAINING = "customer-churn-training"
V = SAMPLE_VARIABLES
PARENT = "projects/demo-proj/regions/us-central1"
BATCHES = "projects/demo-proj/locations/us-central1/batches/"
# Airflow 3's id for a manual run without a logical date: manual__<run_after>_<8 random letters/digits>.
CLI_RUN_ID = re.compile(r"^manual__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00_[A-Za-z0-9]{8}$")
PIPELINE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$")
BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")


@pytest.fixture(scope="module")
def dagbag():
    return load_dagbag()


RECONCILE_FIELDS = [
    {"name": "run_rows", "type": "INTEGER"},
    {"name": "batch_id", "type": "STRING"},
    {"name": "read", "type": "INTEGER"},
    {"name": "scored", "type": "INTEGER"},
    {"name": "rejected", "type": "INTEGER"},
    {"name": "prediction_rows", "type": "INTEGER"},
    {"name": "reject_rows", "type": "INTEGER"},
]


DRIFT_FIELDS = [
    {"name": "drift_status", "type": "STRING"},
    {"name": "feature", "type": "STRING"},
    {"name": "kind", "type": "STRING"},
    {"name": "rows", "type": "INTEGER"},
    {"name": "psi", "type": "FLOAT"},
    {"name": "js_distance", "type": "FLOAT"},
    {"name": "largest_shift", "type": "STRING"},
]
CALM = [
    ["ok", "tenure", "numeric", 395, 0.02, 0.05, "<= 2: 0.100 -> 0.110"],
    ["ok", "contract", "categorical", 395, 0.01, 0.03, "x"],
]


class Google:
    """Google Cloud of one test: the Dataproc twin (its requests recorded, its batches scripted)
    and BigQuery, which answers the reconciliation query with `row(batch_id)`, batch_id being the
    id of the last batch the run created, and the drift query with `drift`."""

    def __init__(self, twin, recorder: Recorder, run: ScriptedRun) -> None:
        self.twin, self.recorder, self.run = twin, recorder, run
        self.row = lambda batch_id: [1, batch_id, 400, 395, 5, 395, 5]
        self.drift = CALM
        self.bigquery = FakeBigQuery(self.answer)

    def answer(self, job: dict):
        if "batch_drift" in job["configuration"]["query"]["query"]:
            return DRIFT_FIELDS, self.drift
        return RECONCILE_FIELDS, [self.row(self.creates()[-1].batch_id)]

    def creates(self):
        from google.cloud import dataproc_v1

        requests = self.recorder.requests("CreateBatch")
        assert all(isinstance(r, dataproc_v1.CreateBatchRequest) for r in requests)
        return requests

    def calls(self) -> list[tuple[str, str]]:
        return [(method, getattr(r, "name", "") or r.batch_id) for method, r in self.recorder.calls]

    def batch(self, batch_id: str):
        return self.twin.records[BATCHES + batch_id].batch


@pytest.fixture()
def google(monkeypatch, tmp_path):
    """The Dataproc twin for the sample variables' project (its subnet, account and history
    server), reached as the local Airflow reaches it: the redirect and an anonymous connection."""
    from s8s_common import LabBatchOperator

    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
    from local import dataproc
    from local.dataproc.project import Project
    from local.dataproc.server import DataprocTwin, serve

    project = Project(
        project=V["project_id"],
        region=V["region"],
        subnetworks=[V["subnet"]],
        service_accounts=[V["umsa_fqn"]],
        history_clusters={f"{PARENT}/clusters/{V['phs_server']}": 2},
    )
    recorder, run = Recorder(), ScriptedRun()
    twin = DataprocTwin(tmp_path, project, run)
    run.twin = twin
    server, port = serve(twin, interceptors=[recorder])
    fakes = Google(twin, recorder, run)
    connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": V["project_id"]}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    monkeypatch.setenv(dataproc.REDIRECT_ENV, f"127.0.0.1:{port}")
    monkeypatch.setattr(DataprocHook, "get_batch_client", DataprocHook.get_batch_client)  # restored after the test
    importlib.reload(importlib.import_module(dataproc.REDIRECT_MODULE))
    monkeypatch.setattr(LabBatchOperator, "poll_seconds", 0)
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fakes.bigquery.host)
    yield fakes
    twin.shutdown()
    server.stop(grace=None)
    fakes.bigquery.stop()


def args_of(request) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in request.batch.pyspark_batch.args)


# --- Whole runs, as each trigger makes them -------------------------------------------------


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_scoring_run_submits_the_batch_and_reconciles(dagbag, google, trigger):
    """All three tasks succeed; the batch request is the one the stack's variables describe, its
    ids come from the run, and the check reads the batch from the scoring task's XCom."""
    from google.cloud import dataproc_v1
    from s8s_common import BATCH_SIZE, batch_id_for, pipeline_id_for

    dr = run_dag(dagbag, SCORING, trigger)
    assert task_states(dr) == {
        t: ("success", 1) for t in ("announce_pipeline", "Predict-Customer-Churn", "check_predictions_written", "check_drift")
    }
    if trigger == "cli":
        assert dr.logical_date is None and CLI_RUN_ID.match(dr.run_id), (dr.logical_date, dr.run_id)
    else:
        assert dr.logical_date is not None
    pipeline_id = pipeline_id_for(dr.run_id)
    assert PIPELINE_ID.match(pipeline_id), pipeline_id

    (request,) = google.creates()
    batch_id = batch_id_for("score", dr.run_id, 1)
    assert BATCH_ID.match(batch_id), batch_id
    assert (request.parent, request.batch_id) == (PARENT, batch_id)
    batch = request.batch
    assert {f.name for f, _ in dataproc_v1.Batch.pb(batch).ListFields()} == {
        "pyspark_batch",
        "runtime_config",
        "environment_config",
        "labels",
    }
    # providers-google 22.x labels the batch with the DAG and the task.
    assert dict(batch.labels) == {
        "airflow-dag-id": "customer-churn-prediction",
        "airflow-task-id": "predict-customer-churn",
        "airflow-dag-display-name": "customer-churn-prediction",
    }
    job = batch.pyspark_batch
    assert job.main_python_file_uri == "gs://s8s-demo-proj-code/pyspark/batch_scoring.py"
    # The jobs' package as the one archive the stack uploads (its JSON files travel inside it).
    assert list(job.python_file_uris) == ["gs://s8s-demo-proj-code/pyspark/s8s_churn.zip"]
    assert list(job.file_uris) == []
    assert list(job.jar_file_uris) == []  # the runtime's own BigQuery connector, never a second copy
    assert args_of(request) == {
        "pipeline-id": pipeline_id,
        "model-version": "latest",
        "input": "gs://s8s-demo-proj-data/data/scoring.csv",
        "models-root": "gs://s8s-demo-proj-models/churn-model",
        "sink": "bigquery",
        "project": "demo-proj",
        "dataset": "customer_churn_ds",
        "temp-bucket": "s8s-demo-proj-spark",
        "execution-ts": run_timestamp_of(dr).isoformat(),
        "batch-id": batch_id,  # the id the job records in batch_runs is the one submitted
        "drift-moderate": "0.1",  # the stack's drift variables, for the run's drift_status
        "drift-high": "0.25",
    }
    runtime = batch.runtime_config
    assert runtime.version == "2.3" and runtime.container_image == ""  # unset: the runtime's own image
    # The batch pins the spark-bigquery connector the twin runs (airflow/dags/connectors.json), with
    # the runtime property of Google's connector page for Serverless batches.
    assert dict(runtime.properties) == {**BATCH_SIZE, "dataproc.sparkBqConnector.version": connector_version()}
    execution = batch.environment_config.execution_config
    assert (execution.service_account, execution.subnetwork_uri, execution.staging_bucket) == (
        V["umsa_fqn"],
        V["subnet"],
        V["spark_bucket"],
    )
    phs = batch.environment_config.peripherals_config.spark_history_server_config.dataproc_cluster
    assert phs == "projects/demo-proj/regions/us-central1/clusters/s8s-phs"
    # Attempt 1 looks up no earlier batch; the operator then polls its own batch until it is done.
    assert google.calls()[0] == ("CreateBatch", batch_id)
    assert {name for method, name in google.calls() if method == "GetBatch"} == {BATCHES + batch_id}

    # The scoring task's XCom is the finished batch (Batch.to_dict), which the check reads.
    scored = xcom_value(dr, "Predict-Customer-Churn")
    assert scored["name"] == BATCHES + batch_id and scored["state"] in ("SUCCEEDED", State.SUCCEEDED)
    job, drift_job = google.bigquery.jobs
    assert "batch_drift" in drift_job["configuration"]["query"]["query"]
    assert drift_job["configuration"]["query"]["queryParameters"] == [
        {"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": pipeline_id}}
    ]
    verdict = xcom_value(dr, "check_drift")
    assert (verdict["drift_status"], verdict["features"], verdict["max_psi"]) == ("ok", 2, 0.02)
    assert job["jobReference"]["projectId"] == "demo-proj" and job["jobReference"]["location"] == "us-central1"
    query = job["configuration"]["query"]
    assert query["useLegacySql"] is False
    assert query["queryParameters"] == [
        {"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": pipeline_id}}
    ]
    assert set(re.findall(r"@(\w+)", query["query"])) == {"pipeline_id"}  # every @name is bound
    assert pipeline_id not in query["query"]  # bound, never pasted into the SQL
    assert set(re.findall(r"`([^`]+\.[^`]+)`", query["query"])) == {
        f"demo-proj.customer_churn_ds.{t}" for t in ("batch_runs", "batch_predictions", "batch_rejects")
    }
    assert xcom_value(dr, "check_predictions_written") == sample_reconciled(pipeline_id, batch_id)
    assert xcom_value(dr, "announce_pipeline") == pipeline_id


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_training_run_registers_a_unique_version_named_after_the_run(dagbag, google, trigger):
    from s8s_common import BATCH_SIZE, VERSION_PATTERN, batch_id_for

    first, first_states = run_and_record(dagbag, TRAINING, trigger)
    second, second_states = run_and_record(dagbag, TRAINING, trigger)
    assert first_states == second_states == {"Train-Churn-Model": ("success", 1)}
    requests = google.creates()
    assert [r.batch_id for r in requests] == [batch_id_for("train", dr.run_id, 1) for dr in (first, second)]
    request = requests[0]
    assert request.parent == PARENT
    assert request.batch.pyspark_batch.main_python_file_uri == "gs://s8s-demo-proj-code/pyspark/model_training.py"
    assert dict(request.batch.runtime_config.properties) == {
        **BATCH_SIZE,
        "dataproc.sparkBqConnector.version": connector_version(),
    }
    assert dict(request.batch.labels)["airflow-task-id"] == "train-churn-model"
    versions = [args_of(r)["model-version"] for r in requests]
    stamp = run_timestamp_of(first).strftime("%Y%m%dt%H%M%S")
    assert re.fullmatch(rf"v{stamp}-[0-9a-f]{{8}}", versions[0]), versions[0]
    assert versions[0] != versions[1]  # two runs, two versions, even within one second
    assert all(re.fullmatch(VERSION_PATTERN, v) for v in versions)
    assert args_of(request)["input"] == "gs://s8s-demo-proj-data/data/training.csv"
    # The promotion gate's settings come from the Airflow variables the stack sets.
    assert (args_of(request)["min-auc"], args_of(request)["max-auc-drop"]) == ("0.75", "0.02")


def test_training_run_registers_the_version_its_trigger_names(dagbag, google):
    dr = run_dag(dagbag, TRAINING, TRIGGERS[0], conf={"model_version": "churn-2026-12"})
    assert task_states(dr) == {"Train-Churn-Model": ("success", 1)}
    assert args_of(google.creates()[0])["model-version"] == "churn-2026-12"


def test_trigger_conf_model_version_wins_over_the_variable(dagbag, google, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MODEL_VERSION", "v-from-variable")
    run_dag(dagbag, SCORING, TRIGGERS[0], conf={"model_version": "v-from-conf"})
    run_dag(dagbag, SCORING, TRIGGERS[0])
    assert [args_of(r)["model-version"] for r in google.creates()] == ["v-from-conf", "v-from-variable"]


def test_configured_container_image_reaches_the_request(dagbag, google, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CONTAINER_IMAGE_URI", "us-docker.pkg.dev/demo-proj/lab/spark:1")
    run_dag(dagbag, TRAINING, TRIGGERS[0])
    assert google.creates()[0].batch.runtime_config.container_image == "us-docker.pkg.dev/demo-proj/lab/spark:1"


@pytest.mark.parametrize("dag_id", [SCORING, TRAINING])
def test_trigger_conf_with_a_bad_model_version_is_refused(dagbag, google, dag_id):
    """A run triggered with a malformed version is refused before anything runs."""
    # Airflow 3 validates a new run's conf against the serialized DAG, which raises ValueError
    # (the REST API's 400); Airflow 2 validates it against the DAG itself.
    if AIRFLOW_3:
        refused = ValueError
    else:
        from airflow.exceptions import ParamValidationError as refused
    with pytest.raises(refused, match="Invalid input for param model_version"):
        run_dag(dagbag, dag_id, TRIGGERS[0], conf={"model_version": "not a version!"})
    assert google.creates() == []


# --- Outcomes and retries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "message"),
    [("fail", "ERROR: model version 'v9' not found"), ("cancel", "was cancelled")],
    ids=["failed", "cancelled"],
)
def test_a_batch_that_does_not_succeed_fails_the_task_after_its_retry(dagbag, google, capfd, plan, message):
    """Attempt 1's batch fails (its job exits with an error) or is cancelled by someone else;
    attempt 2 finds it finished, submits its own batch (a new id), which ends the same way: the
    task fails after 2 attempts, with the batch's message in its log."""
    from s8s_common import batch_id_for

    google.run.plan = lambda batch_id: plan
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    states = task_states(dr)
    assert states["announce_pipeline"] == ("success", 1)
    assert states["Predict-Customer-Churn"] == ("failed", 2)
    assert states["check_predictions_written"][0] == "upstream_failed"
    assert str(dr.state) == "failed"
    first, second = (batch_id_for("score", dr.run_id, n) for n in (1, 2))
    assert [r.batch_id for r in google.creates()] == [first, second]
    assert {google.batch(b).state for b in (first, second)} == {State.FAILED if plan == "fail" else State.CANCELLED}
    calls = google.calls()
    at = calls.index(("CreateBatch", second))
    assert calls[at - 1] == ("GetBatch", BATCHES + first)  # attempt 2 looked at attempt 1's batch first
    assert not google.recorder.requests("CancelOperation")  # the operator cancelled nothing
    assert message in capfd.readouterr().out + capfd.readouterr().err


def wait_for_state(google, name: str, state, timeout_s: float = 60) -> None:
    """Until the twin's batch is in the state (for "cancel-slow": CANCELLING; "succeed": SUCCEEDED)."""
    import time

    wanted = {google.run.plan(name.rsplit("/", 1)[-1])}
    wanted = {{"cancel-slow": State.CANCELLING, "succeed": State.SUCCEEDED}.get(p, state) for p in wanted}
    deadline = time.monotonic() + timeout_s
    while google.twin.records[name].batch.state not in wanted:
        assert time.monotonic() < deadline, f"{name} never reached {wanted}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("plan", "cancelled"),
    [
        ("hold", True),  # RUNNING
        ("pending", True),
        ("cancel-slow", False),  # already being cancelled: only waited for
        ("succeed", False),
        (None, False),  # attempt 1 never created its batch
    ],
    ids=["running", "pending", "cancelling", "succeeded", "never-created"],
)
def test_retry_finishes_the_earlier_attempts_batch_before_submitting(dagbag, google, plan, cancelled):
    """Attempt 1 loses sight of its batch (its first poll is refused, as while IAM propagates) or
    never creates it; attempt 2 looks the batch up, cancels a live one and waits until it is
    finished, and only then creates its own batch, which succeeds."""
    import threading

    from s8s_common import batch_id_for

    polls_refused: set[str] = set()

    def refuse(method, request):
        if plan is None and method == "CreateBatch" and request.batch_id.endswith("-a1"):
            return "Permission 'dataproc.batches.create' denied"
        if plan == "cancel-slow" and method == "GetBatch" and request.name in polls_refused:
            # Attempt 2 sees it CANCELLING in this reply; a moment later it may stop.
            threading.Timer(1.0, google.run.release, args=(request.name.rsplit("/", 1)[-1],)).start()
        if plan and method == "GetBatch" and request.name.endswith("-a1") and request.name not in polls_refused:
            polls_refused.add(request.name)
            # Attempt 1 loses sight of its batch once the batch is in the state this case is about.
            wait_for_state(google, request.name, {"hold": State.RUNNING, "pending": State.PENDING}.get(plan))
            return f"Permission 'dataproc.batches.get' denied on {request.name}"
        return None

    google.recorder.refuse = refuse
    google.twin.stop_grace_s = 120  # a "cancel-slow" batch stays CANCELLING until released
    google.run.plan = lambda batch_id: plan if batch_id.endswith("-a1") else "succeed"
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    first, second = (batch_id_for("score", dr.run_id, n) for n in (1, 2))
    assert task_states(dr)["Predict-Customer-Churn"] == ("success", 2)
    assert str(dr.state) == "success"
    calls = google.calls()
    create_second = calls.index(("CreateBatch", second))
    attempt_2 = calls[calls.index(("CreateBatch", first)) + 2 if plan is not None else 1 : create_second]
    assert attempt_2[0] == ("GetBatch", BATCHES + first)
    cancels = [c for c in attempt_2 if c[0] == "CancelOperation"]
    if plan is None:
        assert cancels == []
        return
    earlier = google.batch(first)
    assert cancels == ([("CancelOperation", earlier.operation)] if cancelled else [])
    if plan in ("hold", "pending", "cancel-slow"):
        # Waited until the earlier batch reported CANCELLED, before creating the new one.
        assert earlier.state == State.CANCELLED
        assert State.CANCELLING in [h.state for h in earlier.state_history]
        assert attempt_2.count(("GetBatch", BATCHES + first)) >= 2
        assert google.batch(second).create_time >= earlier.state_time
    else:
        assert attempt_2 == [("GetBatch", BATCHES + first)]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (lambda b: [1, b, 400, 395, 5, 390, 5], "batch_predictions holds 390 rows, the job scored 395"),
        (lambda b: [1, b, 400, 395, 5, 395, 4], "batch_rejects holds 4 rows, the job rejected 5"),
        (lambda b: [1, b, 401, 395, 5, 395, 5], "read 401 != scored 395 + rejected 5"),
        (lambda b: [1, "s8s-score-other-a1", 400, 395, 5, 395, 5], "not by this run's batch"),
        (lambda b: [0, None, None, None, None, 395, 5], "expected 1 batch_runs row for the run, found 0"),
        (lambda b: [2, b, 400, 395, 5, 395, 5], "expected 1 batch_runs row for the run, found 2"),
    ],
    ids=["predictions", "rejects", "read", "other-batch", "no-run-row", "two-run-rows"],
)
def test_check_task_fails_a_run_that_does_not_reconcile(dagbag, google, capfd, row, expected):
    google.row = row
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    states = task_states(dr)
    assert states["Predict-Customer-Churn"] == ("success", 1)
    assert states["check_predictions_written"] == ("failed", 1)  # no retry: counting again gives the same numbers
    assert str(dr.state) == "failed"
    out = capfd.readouterr()
    log = out.out + out.err
    assert expected in log
    assert "prediction_rows=" in log and "reject_rows=" in log  # every number is in the message


@pytest.mark.parametrize(
    ("drift", "state", "expected"),
    [
        (
            [
                ["high", "contract", "categorical", 395, 1.9, 0.62, "Two year: 0.240 -> 1.000"],
                ["high", "monthly_charges", "numeric", 395, 0.4, 0.3, "> 105: 0.100 -> 0.500"],
                ["high", "tenure", "numeric", 395, 0.12, 0.1, "x"],
                ["high", "gender", "categorical", 395, 0.001, 0.01, "x"],
            ],
            "failed",
            "in 2 feature(s)",
        ),
        ([["moderate", "tenure", "numeric", 395, 0.12, 0.1, "x"]], "success", "moderate drift (psi >= 0.1): tenure (psi=0.1200"),
        ([["no_baseline", None, None, None, None, None, None]], "success", "no baseline"),
    ],
    ids=["high", "moderate", "no-baseline"],
)
def test_drift_check_fails_high_warns_moderate_and_passes_without_baseline(dagbag, google, capfd, drift, state, expected):
    google.drift = drift
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    states = task_states(dr)
    assert states["check_predictions_written"] == ("success", 1)
    assert states["check_drift"] == (state, 1)  # a failure is not retried: the same rows give the same figures
    out = capfd.readouterr()
    log = out.out + out.err
    assert expected in log
    if state == "failed":
        assert "contract (psi=1.9000, js_distance=0.6200, largest shift Two year: 0.240 -> 1.000)" in log
        assert "monthly_charges (psi=0.4000" in log and "gender (psi=" not in log


def test_every_task_of_both_dags_is_executed_here(dagbag):
    """The tests above execute these tasks; a new task needs a test here."""
    assert set(dagbag.get_dag(SCORING).task_ids) == {
        "announce_pipeline",
        "Predict-Customer-Churn",
        "check_predictions_written",
        "check_drift",
    }
    assert set(dagbag.get_dag(TRAINING).task_ids) == {"Train-Churn-Model"}


@pytest.mark.skipif(
    not AIRFLOW_3, reason="Airflow 2 lets task code reach the metadata database; Composer forbids it on Airflow 3"
)
def test_the_task_runner_refuses_metadata_database_access(dagbag, google, capfd, monkeypatch):
    """The runner the tests above use would catch ORM use in task code, as Composer does from
    composer-3-airflow-3.1.7-build.1: a batch task whose code opens a database session fails."""
    from s8s_common import LabBatchOperator

    def touch_db(self, context):
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as session:
            return session.query(DagRun).count()

    monkeypatch.setattr(LabBatchOperator, "execute", touch_db)
    dr, states = run_and_record(dagbag, TRAINING, "cli")
    assert states == {"Train-Churn-Model": ("failed", 2)}
    assert google.creates() == []
    out = capfd.readouterr()
    assert "Direct database access via the ORM is not allowed" in out.out + out.err
