"""Every task of both DAGs executed by a real Airflow 2.10.5 for a real DagRun and TaskInstance,
with Google Cloud replaced at the wire (google_fakes.py): the assertions are on the requests the
Google provider's clients send and on what Airflow records for the task."""

from __future__ import annotations

import copy
import logging
import re

import pytest
from google_fakes import FakeBigQuery, FakeDataproc, State

from conftest import DAGS, SAMPLE_VARIABLES, worker_dag_run

SCORING = "customer-churn-prediction"
TRAINING = "customer-churn-training"
V = SAMPLE_VARIABLES


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), include_examples=False)


class Rows:
    """What the fake BigQuery answers to a query: set per test."""

    def __init__(self) -> None:
        self.fields: list[dict] = []
        self.rows: list[list] = []


@pytest.fixture()
def google(monkeypatch):
    """Points the provider's Google clients at the local fakes, with anonymous credentials."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport

    dataproc = FakeDataproc()
    answer = Rows()
    bigquery = FakeBigQuery(lambda job: (answer.fields, answer.rows))
    monkeypatch.setattr(BatchControllerGrpcTransport, "create_channel", classmethod(lambda cls, *a, **k: dataproc.channel()))
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), V["project_id"]))
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bigquery.host)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", "google-cloud-platform://")
    yield dataproc, bigquery, answer
    dataproc.stop()
    bigquery.stop()


class TaskLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(levelname)s %(message)s").format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


_runs = iter(range(10_000))


def new_run_id() -> str:
    """A run id per test, each with its own logical date, as Airflow requires."""
    n = next(_runs)
    return f"manual__2026-03-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00"


def execute(dagbag, dag_id: str, task_id: str, run_id: str, try_number: int = 1, conf: dict | None = None):
    """Runs one task as a worker would: template rendering, execute(), state and XCom in the
    metadata database. Returns (state, exception or None, the task's log)."""
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag, dr = worker_dag_run(dagbag, dag_id, run_id, conf)
    with create_session() as session:
        # What the scheduler records when it queues attempt N.
        ti = dr.get_task_instance(task_id, session=session)
        ti.try_number, ti.state = try_number, TaskInstanceState.QUEUED
        session.merge(ti)
    ti = dr.get_task_instance(task_id)
    ti.task = dag.get_task(task_id)
    ti.task.params = copy.deepcopy(ti.task.params)
    log = TaskLog()
    task_logger = logging.getLogger("airflow.task")
    task_logger.addHandler(log)
    error = None
    try:
        ti.run(ignore_all_deps=True, ignore_ti_state=True)
    except Exception as exc:  # the task failed; Airflow has recorded it
        error = exc
    finally:
        task_logger.removeHandler(log)
    ti.refresh_from_db()
    return ti.state, error, log.text


# --- Dataproc -------------------------------------------------------------------------------

BATCH_FIELDS_SENT = {"pyspark_batch", "runtime_config", "environment_config", "labels"}


def create_requests(dataproc):
    from google.cloud import dataproc_v1

    requests = dataproc.requests("CreateBatch")
    assert all(isinstance(r, dataproc_v1.CreateBatchRequest) for r in requests)
    return requests


def test_scoring_batch_request_and_success(dagbag, google):
    """The scoring task sends one CreateBatchRequest, waits for the batch and succeeds with it."""
    from google.cloud import dataproc_v1
    from s8s_common import BATCH_SIZE, batch_id_for, pipeline_id_for

    dataproc, _, _ = google
    run_id = new_run_id()
    state, error, log = execute(dagbag, SCORING, "Predict-Customer-Churn", run_id)
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    (request,) = create_requests(dataproc)
    batch_id = batch_id_for("score", run_id, 1)
    # DataprocHook.create_batch (provider 15.1.0) names the parent with regions/; the batch it
    # then reads back is projects/<p>/locations/<r>/batches/<id>.
    assert request.parent == "projects/demo-proj/regions/us-central1"
    assert request.batch_id == batch_id
    batch = request.batch
    assert {f.name for f, _ in dataproc_v1.Batch.pb(batch).ListFields()} == BATCH_FIELDS_SENT
    job = batch.pyspark_batch
    assert job.main_python_file_uri == "gs://s8s-demo-proj-code/pyspark/batch_scoring.py"
    assert list(job.file_uris) == ["gs://s8s-demo-proj-code/pyspark/table_schemas.json"]
    assert list(job.jar_file_uris) == []  # runtime 2.2's own connector
    args = dict(a[2:].split("=", 1) for a in job.args)
    assert args["pipeline-id"] == pipeline_id_for(run_id)
    assert args["batch-id"] == batch_id  # the id the job records in batch_runs is the one submitted
    assert args["sink"] == "bigquery" and args["dataset"] == "customer_churn_ds"
    runtime = batch.runtime_config
    assert runtime.version == "2.2" and runtime.container_image == ""  # unset: the runtime's own image
    assert dict(runtime.properties) == BATCH_SIZE
    assert dict(runtime.properties) == {
        "spark.driver.cores": "4",
        "spark.executor.cores": "4",
        "spark.executor.instances": "2",
        "spark.dynamicAllocation.enabled": "false",
        "spark.dataproc.driver.disk.size": "400g",
        "spark.dataproc.executor.disk.size": "400g",
    }
    execution = batch.environment_config.execution_config
    assert execution.service_account == V["umsa_fqn"]
    assert execution.subnetwork_uri == V["subnet"]
    assert execution.staging_bucket == V["spark_bucket"]
    phs = batch.environment_config.peripherals_config.spark_history_server_config.dataproc_cluster
    assert phs == "projects/demo-proj/regions/us-central1/clusters/s8s-phs"
    # The operator then polls the batch by its resource name until it is finished.
    polled = {r.name for r in dataproc.requests("GetBatch")}
    assert polled == {f"projects/demo-proj/locations/us-central1/batches/{batch_id}"}


def test_training_batch_request_and_success(dagbag, google):
    from s8s_common import BATCH_SIZE, batch_id_for

    dataproc, _, _ = google
    run_id = new_run_id()
    state, error, log = execute(dagbag, TRAINING, "Train-Churn-Model", run_id)
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    (request,) = create_requests(dataproc)
    assert request.parent == "projects/demo-proj/regions/us-central1"
    assert request.batch_id == batch_id_for("train", run_id, 1)
    job = request.batch.pyspark_batch
    assert job.main_python_file_uri == "gs://s8s-demo-proj-code/pyspark/model_training.py"
    assert list(job.args)[-1].startswith("--model-version=v2026")
    assert dict(request.batch.runtime_config.properties) == BATCH_SIZE


def test_configured_optional_variables_reach_the_request(dagbag, google, monkeypatch):
    dataproc, _, _ = google
    monkeypatch.setenv("AIRFLOW_VAR_CONTAINER_IMAGE_URI", "us-docker.pkg.dev/demo-proj/lab/spark:1")
    monkeypatch.setenv("AIRFLOW_VAR_BQ_CONNECTOR_JAR_URI", "gs://spark-lib/bigquery/connector.jar")
    state, error, log = execute(dagbag, TRAINING, "Train-Churn-Model", new_run_id())
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    (request,) = create_requests(dataproc)
    assert request.batch.runtime_config.container_image == "us-docker.pkg.dev/demo-proj/lab/spark:1"
    assert list(request.batch.pyspark_batch.jar_file_uris) == ["gs://spark-lib/bigquery/connector.jar"]


def test_failed_batch_fails_the_task_with_its_state_message(dagbag, google):
    dataproc, _, _ = google
    dataproc.outcome = State.FAILED
    dataproc.outcome_message = "Job failed with message [ERROR: model version 'v9' not found]"
    state, error, log = execute(dagbag, SCORING, "Predict-Customer-Churn", new_run_id())
    assert state == "up_for_retry"  # failed; its one retry is still to come
    assert "ERROR: model version 'v9' not found" in str(error)
    assert "ERROR: model version 'v9' not found" in log


def test_cancelled_batch_fails_the_task(dagbag, google):
    dataproc, _, _ = google
    dataproc.outcome = State.CANCELLED
    state, error, log = execute(dagbag, TRAINING, "Train-Churn-Model", new_run_id())
    assert state == "up_for_retry"
    assert "was cancelled" in str(error)


@pytest.mark.parametrize(
    ("earlier", "cancelled"),
    [
        (State.RUNNING, True),
        (State.PENDING, True),
        (State.CANCELLING, False),  # already being cancelled: only waited for
        (State.FAILED, False),
        (State.SUCCEEDED, False),
        (State.CANCELLED, False),
        (None, False),  # attempt 1 never created its batch: NOT_FOUND
    ],
    ids=lambda v: v.name if isinstance(v, State) else "NOT_FOUND" if v is None else str(v),
)
def test_retry_finishes_the_earlier_attempts_batch_before_submitting(dagbag, google, monkeypatch, earlier, cancelled):
    """Attempt 2 looks up attempt 1's batch; a live one is cancelled and waited for until it is
    finished, and only then is attempt 2's batch created."""
    from s8s_common import LabBatchOperator, batch_id_for

    monkeypatch.setattr(LabBatchOperator, "poll_seconds", 0)
    dataproc, _, _ = google
    run_id = new_run_id()
    first = f"projects/demo-proj/locations/us-central1/batches/{batch_id_for('score', run_id, 1)}"
    if earlier is not None:
        # A live batch stays in its state until it is cancelled.
        dataproc.add_batch(first, earlier, [earlier] if earlier != State.CANCELLING else [State.CANCELLING, State.CANCELLED])
    state, error, log = execute(dagbag, SCORING, "Predict-Customer-Churn", run_id, try_number=2)
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    calls = [(method, getattr(r, "name", "") or r.batch_id) for method, r in dataproc.calls]
    create_at = next(i for i, (method, _) in enumerate(calls) if method == "CreateBatch")
    assert calls[create_at][1] == batch_id_for("score", run_id, 2)
    before = calls[:create_at]
    assert before[0] == ("GetBatch", first)
    cancels = [c for c in before if c[0] == "CancelOperation"]
    assert cancels == ([("CancelOperation", first.replace("/batches/", "/operations/op-"))] if cancelled else [])
    if earlier in (State.RUNNING, State.PENDING, State.CANCELLING):
        # Waited until the earlier batch reported CANCELLED, before creating the new one.
        assert dataproc.batches[first].state == State.CANCELLED
        assert len([c for c in before if c == ("GetBatch", first)]) >= 2
    else:
        assert before == [("GetBatch", first)]


def test_first_attempt_looks_up_no_earlier_batch(dagbag, google):
    dataproc, _, _ = google
    state, error, log = execute(dagbag, SCORING, "Predict-Customer-Churn", new_run_id())
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    assert [method for method, _ in dataproc.calls][0] == "CreateBatch"


# --- BigQuery: the reconciliation ----------------------------------------------------------

RECONCILE_FIELDS = [
    {"name": "run_rows", "type": "INTEGER"},
    {"name": "batch_id", "type": "STRING"},
    {"name": "read", "type": "INTEGER"},
    {"name": "scored", "type": "INTEGER"},
    {"name": "rejected", "type": "INTEGER"},
    {"name": "prediction_rows", "type": "INTEGER"},
    {"name": "reject_rows", "type": "INTEGER"},
]


def score_then_check(dagbag, google, row_for_batch):
    """Executes the whole scoring DAG run in order; the fake BigQuery answers the check with
    row_for_batch(the batch id the scoring task submitted)."""
    from s8s_common import batch_id_for

    _, bigquery, answer = google
    run_id = new_run_id()
    answer.fields, answer.rows = RECONCILE_FIELDS, [row_for_batch(batch_id_for("score", run_id, 1))]
    for task_id in ("announce_pipeline", "Predict-Customer-Churn"):
        state, error, log = execute(dagbag, SCORING, task_id, run_id)
        assert state == "success", f"{task_id}: {error!r}\n{log[-3000:]}"
    return run_id, *execute(dagbag, SCORING, "check_predictions_written", run_id)


def test_check_task_reconciles_a_whole_run(dagbag, google):
    """Every task of the scoring DAG succeeds; the check's one BigQuery query is parameterized
    with the run's pipeline_id and reads the three tables."""
    from s8s_common import pipeline_id_for

    _, bigquery, _ = google
    run_id, state, error, log = score_then_check(dagbag, google, lambda batch: [1, batch, 400, 395, 5, 395, 5])
    assert state == "success", f"{error!r}\n{log[-3000:]}"
    (job,) = bigquery.jobs
    assert job["jobReference"]["projectId"] == "demo-proj" and job["jobReference"]["location"] == "us-central1"
    query = job["configuration"]["query"]
    assert query["useLegacySql"] is False
    assert query["queryParameters"] == [
        {"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": pipeline_id_for(run_id)}}
    ]
    assert set(re.findall(r"@(\w+)", query["query"])) == {"pipeline_id"}
    assert set(re.findall(r"`([^`]+\.[^`]+)`", query["query"])) == {
        f"demo-proj.customer_churn_ds.{t}" for t in ("batch_runs", "batch_predictions", "batch_rejects")
    }
    assert pipeline_id_for(run_id) not in query["query"]  # bound, never pasted into the SQL
    # The numbers are the task's XCom: what an auditor reads back for the run.
    from airflow.models.xcom import XCom

    (numbers,) = XCom.get_many(run_id=run_id, dag_ids=SCORING, task_ids="check_predictions_written", key="return_value")
    assert numbers.value == {
        "pipeline_id": pipeline_id_for(run_id),
        "run_rows": 1,
        "batch_id": f"s8s-score-{pipeline_id_for(run_id)}-a1",
        "read": 400,
        "scored": 395,
        "rejected": 5,
        "prediction_rows": 395,
        "reject_rows": 5,
    }


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
def test_check_task_fails_a_run_that_does_not_reconcile(dagbag, google, row, expected):
    run_id, state, error, log = score_then_check(dagbag, google, row)
    assert state == "failed"  # no retry: counting again gives the same numbers
    assert expected in str(error)
    assert "prediction_rows=" in str(error) and "reject_rows=" in str(error)  # every number is in the message
    assert expected in log


def test_check_task_binds_every_query_parameter(dagbag, google):
    """The check task's BigQuery job carries a value for every @name its SQL uses."""
    _, bigquery, answer = google
    run_id, state, error, log = score_then_check(dagbag, google, lambda batch: [1, batch, 10, 10, 0, 10, 0])
    assert bigquery.jobs, f"no BigQuery job was sent: {state} {error!r}\n{log[-3000:]}"
    for job in bigquery.jobs:
        query = job["configuration"]["query"]
        used = set(re.findall(r"@(\w+)", query["query"]))
        bound = {p["name"]: p["parameterValue"]["value"] for p in query.get("queryParameters", [])}
        assert used <= set(bound), f"{sorted(used - set(bound))} used in the SQL but not bound: {query}"
    assert state == "success", f"{error!r}\n{log[-3000:]}"


def test_every_task_of_both_dags_is_executed_here():
    """The tests above execute these tasks; a new task needs a test here."""
    import customer_churn_prediction
    import customer_churn_training

    assert set(customer_churn_prediction.dag.task_ids) == {
        "announce_pipeline",
        "Predict-Customer-Churn",
        "check_predictions_written",
    }
    assert set(customer_churn_training.dag.task_ids) == {"Train-Churn-Model"}
