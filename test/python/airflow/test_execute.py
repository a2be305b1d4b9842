"""Every task of both DAGs run by Airflow's own runner (dag.test(): on Airflow 3 the Task SDK's
task runner and Execution API), on the Airflow of this environment, for runs triggered the ways a
user triggers them (conftest.TRIGGERS), with Google Cloud replaced at the wire (google_fakes.py):
the assertions are on the requests the Google provider's clients send and on what Airflow records
for the run, its tasks' states, attempts and XComs."""

from __future__ import annotations

import re

import pytest
from google_fakes import FakeBigQuery, FakeDataproc, State

from conftest import (
    AIRFLOW_3,
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


class Google:
    """The fakes of one test. BigQuery answers the check's query with `row(batch_id)`, batch_id
    being the id of the last batch the run created."""

    def __init__(self, dataproc: FakeDataproc) -> None:
        self.dataproc = dataproc
        self.row = lambda batch_id: [1, batch_id, 400, 395, 5, 395, 5]
        self.bigquery = FakeBigQuery(lambda job: (RECONCILE_FIELDS, [self.row(self.creates()[-1].batch_id)]))

    def creates(self):
        from google.cloud import dataproc_v1

        requests = self.dataproc.requests("CreateBatch")
        assert all(isinstance(r, dataproc_v1.CreateBatchRequest) for r in requests)
        return requests

    def calls(self) -> list[tuple[str, str]]:
        return [(method, getattr(r, "name", "") or r.batch_id) for method, r in self.dataproc.calls]


@pytest.fixture()
def google(monkeypatch):
    """Points the provider's Google clients at the local fakes, with anonymous credentials."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport
    from s8s_common import LabBatchOperator

    dataproc = FakeDataproc()
    fakes = Google(dataproc)
    monkeypatch.setattr(BatchControllerGrpcTransport, "create_channel", classmethod(lambda cls, *a, **k: dataproc.channel()))
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), V["project_id"]))
    monkeypatch.setattr(LabBatchOperator, "poll_seconds", 0)
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fakes.bigquery.host)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", "google-cloud-platform://")
    yield fakes
    dataproc.stop()
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
        t: ("success", 1) for t in ("announce_pipeline", "Predict-Customer-Churn", "check_predictions_written")
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
    }
    runtime = batch.runtime_config
    assert runtime.version == "2.3" and runtime.container_image == ""  # unset: the runtime's own image
    assert dict(runtime.properties) == BATCH_SIZE
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
    (job,) = google.bigquery.jobs
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
    assert dict(request.batch.runtime_config.properties) == BATCH_SIZE
    assert dict(request.batch.labels)["airflow-task-id"] == "train-churn-model"
    versions = [args_of(r)["model-version"] for r in requests]
    stamp = run_timestamp_of(first).strftime("%Y%m%dt%H%M%S")
    assert re.fullmatch(rf"v{stamp}-[0-9a-f]{{8}}", versions[0]), versions[0]
    assert versions[0] != versions[1]  # two runs, two versions, even within one second
    assert all(re.fullmatch(VERSION_PATTERN, v) for v in versions)
    assert args_of(request)["input"] == "gs://s8s-demo-proj-data/data/training.csv"


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
    ("outcome", "message"), [(State.FAILED, "ERROR: model version 'v9' not found"), (State.CANCELLED, "was cancelled")]
)
def test_a_batch_that_does_not_succeed_fails_the_task_after_its_retry(dagbag, google, capfd, outcome, message):
    """Attempt 1's batch fails; attempt 2 finds it finished, submits its own batch (a new id),
    which fails too: the task fails after 2 attempts, with the batch's message in its log."""
    from s8s_common import batch_id_for

    google.dataproc.outcome = outcome
    google.dataproc.outcome_message = "Job failed with message [ERROR: model version 'v9' not found]"
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    states = task_states(dr)
    assert states["announce_pipeline"] == ("success", 1)
    assert states["Predict-Customer-Churn"] == ("failed", 2)
    assert states["check_predictions_written"][0] == "upstream_failed"
    assert str(dr.state) == "failed"
    first, second = (batch_id_for("score", dr.run_id, n) for n in (1, 2))
    assert [r.batch_id for r in google.creates()] == [first, second]
    calls = google.calls()
    at = calls.index(("CreateBatch", second))
    assert calls[at - 1] == ("GetBatch", BATCHES + first)  # attempt 2 looked at attempt 1's batch first
    assert ("CancelOperation", "") not in calls and not google.dataproc.requests("CancelOperation")
    assert message in capfd.readouterr().out + capfd.readouterr().err


@pytest.mark.parametrize(
    ("earlier", "cancelled"),
    [
        (State.RUNNING, True),
        (State.PENDING, True),
        (State.CANCELLING, False),  # already being cancelled: only waited for
        (State.SUCCEEDED, False),
        (None, False),  # attempt 1 never created its batch
    ],
    ids=lambda v: v.name if isinstance(v, State) else "never-created" if v is None else str(v),
)
def test_retry_finishes_the_earlier_attempts_batch_before_submitting(dagbag, google, earlier, cancelled):
    """Attempt 1 loses sight of its batch (its poll is refused, as while IAM propagates) or never
    creates it; attempt 2 looks the batch up, cancels a live one and waits until it is finished,
    and only then creates its own batch, which succeeds."""
    import grpc
    from s8s_common import batch_id_for

    dataproc = google.dataproc

    # Ids are known only once the run exists: set attempt 1's fate when it creates its batch.
    def before_create(request, context):
        first = f"{BATCHES}{request.batch_id}"
        if request.batch_id.endswith("-a1"):
            if earlier is None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "Permission 'dataproc.batches.create' denied")
            dataproc.deny_polls[first] = 1
            dataproc.outcomes = [earlier]
            if earlier == State.CANCELLING:
                dataproc.script[first] = [State.CANCELLING, State.CANCELLED]

    dataproc.before_create = before_create
    dr = run_dag(dagbag, SCORING, TRIGGERS[0])
    first, second = (batch_id_for("score", dr.run_id, n) for n in (1, 2))
    assert task_states(dr)["Predict-Customer-Churn"] == ("success", 2)
    assert str(dr.state) == "success"
    calls = google.calls()
    create_second = calls.index(("CreateBatch", second))
    attempt_2 = calls[calls.index(("CreateBatch", first)) + 2 if earlier is not None else 1 : create_second]
    assert attempt_2[0] == ("GetBatch", BATCHES + first)
    cancels = [c for c in attempt_2 if c[0] == "CancelOperation"]
    assert cancels == (
        [("CancelOperation", f"projects/demo-proj/regions/us-central1/operations/op-{first}")] if cancelled else []
    )
    if earlier in (State.RUNNING, State.PENDING, State.CANCELLING):
        # Waited until the earlier batch reported CANCELLED, before creating the new one.
        assert dataproc.batches[BATCHES + first].state == State.CANCELLED
        assert attempt_2.count(("GetBatch", BATCHES + first)) >= 2
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


def test_every_task_of_both_dags_is_executed_here(dagbag):
    """The tests above execute these tasks; a new task needs a test here."""
    assert set(dagbag.get_dag(SCORING).task_ids) == {"announce_pipeline", "Predict-Customer-Churn", "check_predictions_written"}
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
