"""The BigQuery sink's statements, through a real google-cloud-bigquery client whose HTTP session
is stubbed: the tests read the requests that would go out (jobs.insert with its SQL, bound
parameters and labels, as Google's classes build and parse them; jobs.list, jobs.cancel and jobs.get
of the fence over an earlier attempt's jobs)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import google.auth
import google.auth.transport.requests
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from py4j.protocol import Py4JJavaError

from conftest import job_args
from s8s_churn import scoring
from s8s_churn.contract import PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE, load_table_schemas
from s8s_churn.job import JobError
from s8s_churn.sinks import BATCH_LABEL, LABEL_VALUE_MAX, PIPELINE_LABEL, BigQuerySink, fence_earlier_jobs, label_value, run_row

DAG_ARGS = [
    "--pipeline-id=manual-2026-01-31t12-00-00-00-0-cce451e4",
    "--model-version=latest",
    "--input=gs://s8s-demo-proj-data/data/scoring.csv",
    "--models-root=gs://s8s-demo-proj-models/churn-model",
    "--sink=bigquery",
    "--project=demo-proj",
    "--dataset=customer_churn_ds",
    "--temp-bucket=s8s-demo-proj-spark",
    "--execution-ts=2026-01-31T12:00:00+00:00",
    "--batch-id=s8s-score-manual-2026-01-31t12-00-00-00-0-cce451e4-a1",
]


class Response:
    def __init__(self, body: dict, status: int = 200, request=None):
        self.status_code, self.headers, self.request = status, {"content-type": "application/json"}, request
        self.content = json.dumps(body).encode()
        self.text = self.content.decode()
        self._body = body

    def json(self):
        return self._body


JOBS = "/bigquery/v2/projects/demo-proj/jobs"
TABLES = "/bigquery/v2/projects/demo-proj/datasets/customer_churn_ds/tables/"
PIPELINE = "manual-2026-01-31t12-00-00-00-0-cce451e4"
THIS_BATCH = "s8s-score-manual-2026-01-31t12-00-00-00-0-cce451e4-a2"
EARLIER_BATCH = "s8s-score-manual-2026-01-31t12-00-00-00-0-cce451e4-a1"


def job_resource(job_id: str, state: str, labels: dict, kind: str = "load") -> dict:
    """A job as jobs.list and jobs.get return it (projection=full) in us-central1."""
    config = {"load": {"destinationTable": {"projectId": "demo-proj", "datasetId": "customer_churn_ds", "tableId": "t"}}}
    if kind == "query":
        config = {"query": {"query": "DELETE ...", "useLegacySql": False}}
    return {
        "kind": "bigquery#job",
        "id": f"demo-proj:us-central1.{job_id}",
        "jobReference": {"projectId": "demo-proj", "jobId": job_id, "location": "us-central1"},
        "state": state,
        "status": {"state": state},
        "configuration": {**config, "labels": labels},
    }


class BigQueryTransport:
    """The HTTP session under a real bigquery.Client: records each request and answers as BigQuery
    does. jobs.insert gets a finished DML job; `jobs` are the jobs that already exist (an earlier
    attempt's), listed by state; a cancelled one reaches DONE after `gets_to_done` jobs.get calls
    (never, if None). Nothing leaves the machine."""

    is_mtls = False

    def __init__(self, jobs: list[dict] = (), gets_to_done: int | None = 1, cancel_error: dict | None = None):
        self.requests: list[tuple[str, str, dict | None]] = []
        self.cancel_error = cancel_error  # an error response jobs.cancel gives instead
        self.jobs = {job["jobReference"]["jobId"]: job for job in jobs}
        self.starts_when_listed = [i for i, j in self.jobs.items() if j["state"] == "PENDING"]
        self.gets_to_done = gets_to_done
        self.gets_since_cancel: dict[str, int] = {}

    def configure_mtls_channel(self, *_):  # what the client calls on a session it made itself
        pass

    def request(self, method, url, data=None, headers=None, timeout=None, **_):
        body = json.loads(data) if data else None
        self.requests.append((method, url, body))
        path, query = urlsplit(url).path, parse_qs(urlsplit(url).query)
        if method == "POST" and path == JOBS:
            return Response({**body, "status": {"state": "DONE"}, "statistics": {"query": {"numDmlAffectedRows": "7"}}})
        if method == "GET" and "/queries/" in path:
            inserted = self.inserted_jobs()[-1]
            return Response({"jobComplete": True, "jobReference": inserted["jobReference"], "totalRows": "0", "schema": {}})
        if method == "GET" and path == JOBS:
            wanted = {s.upper() for s in query["stateFilter"]}
            listed = [j for j in self.jobs.values() if j["state"] in wanted]
            for job_id in self.starts_when_listed:  # PENDING at the first list, RUNNING at the next
                self.jobs[job_id] = {**self.jobs[job_id], "state": "RUNNING", "status": {"state": "RUNNING"}}
            return Response({"kind": "bigquery#jobList", "jobs": listed})
        if method == "POST" and path.startswith(JOBS + "/") and path.endswith("/cancel"):
            job_id = path.split("/")[-2]
            if self.cancel_error:
                request = SimpleNamespace(method=method, url=url)  # what the client's error message reads
                return Response({"error": self.cancel_error}, status=self.cancel_error["code"], request=request)
            self.gets_since_cancel[job_id] = 0
            return Response({"kind": "bigquery#jobCancelResponse", "job": self.jobs[job_id]})
        if method == "GET" and path.startswith(TABLES):  # tables.get: the stack's tables exist
            table = path.removeprefix(TABLES)
            return Response({"tableReference": {"projectId": "demo-proj", "datasetId": "customer_churn_ds", "tableId": table}})
        if method == "GET" and path.startswith(JOBS + "/"):
            job_id = path.split("/")[-1]
            if job_id in self.gets_since_cancel:
                self.gets_since_cancel[job_id] += 1
                if self.gets_to_done is not None and self.gets_since_cancel[job_id] >= self.gets_to_done:
                    stopped = {"state": "DONE", "errorResult": {"reason": "stopped"}}
                    self.jobs[job_id] = {**self.jobs[job_id], "state": "DONE", "status": stopped}
            return Response(self.jobs[job_id])
        raise AssertionError(f"unexpected request {method} {url}")

    def inserted_jobs(self) -> list[dict]:
        """The body of every jobs.insert call (POST .../projects/P/jobs)."""
        return [body for method, url, body in self.requests if method == "POST" and urlsplit(url).path == JOBS]

    def calls(self) -> list[tuple[str, str, dict]]:
        """Every request as (method, path, query parameters), in order."""
        return [
            (m, urlsplit(u).path, {k: v[0] for k, v in parse_qs(urlsplit(u).query).items() if k != "prettyPrint"})
            for m, u, _ in self.requests
        ]


def client_on(transport: BigQueryTransport) -> bigquery.Client:
    return bigquery.Client(project="demo-proj", credentials=AnonymousCredentials(), _http=transport)


def params_of(query: dict) -> dict:
    """The named parameters of a jobs.insert query configuration: name -> (type, value)."""
    assert query["parameterMode"] == "NAMED" and query["useLegacySql"] is False
    return {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in query["queryParameters"]}


@pytest.fixture
def anonymous_google(monkeypatch):
    """Application default credentials as a batch has them, without a network call."""
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "demo-proj"))


def test_the_dag_arguments_build_a_connected_sink_before_any_spark_work(anonymous_google):
    cfg = scoring.parse_args(DAG_ARGS)
    labels = {PIPELINE_LABEL: PIPELINE, BATCH_LABEL: EARLIER_BATCH}  # DAG_ARGS is attempt 1
    assert cfg.sink == BigQuerySink("demo-proj", "customer_churn_ds", "s8s-demo-proj-spark", labels=labels)
    assert isinstance(cfg.sink.client, bigquery.Client) and cfg.sink.client.project == "demo-proj"
    assert cfg.batch_id == "s8s-score-manual-2026-01-31t12-00-00-00-0-cce451e4-a1"
    assert cfg.execution_ts.isoformat() == "2026-01-31T12:00:00+00:00"
    assert cfg.sink.table_id(PREDICTIONS_TABLE) == "demo-proj.customer_churn_ds.batch_predictions"


def test_a_runtime_without_the_client_library_fails_at_argument_parsing(monkeypatch, capsys):
    import sys

    import google.cloud

    # As on an image without the package: `from google.cloud import bigquery` raises ImportError.
    monkeypatch.delattr(google.cloud, "bigquery")
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)
    with pytest.raises(SystemExit) as e:
        scoring.parse_args(DAG_ARGS)
    assert e.value.code == 2
    assert "--sink bigquery: the google-cloud-bigquery package does not import here" in capsys.readouterr().err


def test_bad_batch_ids_are_refused():
    base = ["--pipeline-id", "p1", "--input", "x", "--models-root", "m", "--sink", "local", "--output", "o"]
    assert scoring.parse_args(base).batch_id == "local"
    for bad in ("Has_Upper", "abc", "x" * 64):
        with pytest.raises(SystemExit):
            scoring.parse_args(base + ["--batch-id", bad])


def test_the_run_s_earlier_rows_are_deleted_by_a_bound_parameter():
    transport = BigQueryTransport()
    BigQuerySink("demo-proj", "customer_churn_ds", "bucket", client_on(transport)).delete_rows(REJECTS_TABLE, "run-1")
    [job] = transport.inserted_jobs()
    query = job["configuration"]["query"]
    assert query["query"] == "DELETE FROM `demo-proj.customer_churn_ds.batch_rejects` WHERE pipeline_id = @pipeline_id"
    assert params_of(query) == {"pipeline_id": ("STRING", "run-1")}
    # Google's own class reads the request back: a well-formed query job configuration.
    config = bigquery.QueryJobConfig.from_api_repr(job["configuration"])
    assert config.query_parameters == [bigquery.ScalarQueryParameter("pipeline_id", "STRING", "run-1")]


def test_the_run_row_is_merged_with_one_typed_parameter_per_column():
    t0 = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
    row = run_row(
        pipeline_id="run-1",
        batch_id="s8s-score-run-1-a1",
        model_version="v1",
        input_uri="gs://b/data/scoring.csv",
        read=411,
        scored=400,
        rejected=11,
        started_at=t0,
        ended_at=datetime(2026, 1, 31, 12, 3, 5, tzinfo=timezone.utc),
        pipeline_execution_dt=t0,
        drift_status="ok",
    )
    transport = BigQueryTransport()
    BigQuerySink("demo-proj", "customer_churn_ds", "bucket", client_on(transport)).record_run(None, row)
    [job] = transport.inserted_jobs()
    query = job["configuration"]["query"]
    assert query["query"] == (
        "MERGE `demo-proj.customer_churn_ds.batch_runs` AS runs\n"
        "USING (SELECT @pipeline_id AS `pipeline_id`, @batch_id AS `batch_id`, @model_version AS `model_version`, "
        "@input_uri AS `input_uri`, @read AS `read`, @scored AS `scored`, @rejected AS `rejected`, "
        "@started_at AS `started_at`, @ended_at AS `ended_at`, @pipeline_execution_dt AS `pipeline_execution_dt`, "
        "@drift_status AS `drift_status`) AS run\n"
        "ON runs.pipeline_id = run.pipeline_id\n"
        "WHEN MATCHED THEN UPDATE SET `batch_id` = run.`batch_id`, `model_version` = run.`model_version`, "
        "`input_uri` = run.`input_uri`, `read` = run.`read`, `scored` = run.`scored`, `rejected` = run.`rejected`, "
        "`started_at` = run.`started_at`, `ended_at` = run.`ended_at`, `pipeline_execution_dt` = run.`pipeline_execution_dt`, "
        "`drift_status` = run.`drift_status`\n"
        "WHEN NOT MATCHED THEN INSERT (`pipeline_id`, `batch_id`, `model_version`, `input_uri`, `read`, `scored`, "
        "`rejected`, `started_at`, `ended_at`, `pipeline_execution_dt`, `drift_status`)\n"
        "  VALUES (run.`pipeline_id`, run.`batch_id`, run.`model_version`, run.`input_uri`, run.`read`, run.`scored`, "
        "run.`rejected`, run.`started_at`, run.`ended_at`, run.`pipeline_execution_dt`, run.`drift_status`)"
    )
    config = bigquery.QueryJobConfig.from_api_repr(job["configuration"])
    assert all(isinstance(p, bigquery.ScalarQueryParameter) for p in config.query_parameters)
    assert params_of(query) == {
        "pipeline_id": ("STRING", "run-1"),
        "batch_id": ("STRING", "s8s-score-run-1-a1"),
        "model_version": ("STRING", "v1"),
        "input_uri": ("STRING", "gs://b/data/scoring.csv"),
        "read": ("INT64", "411"),
        "scored": ("INT64", "400"),
        "rejected": ("INT64", "11"),
        "started_at": ("TIMESTAMP", "2026-01-31 12:00:00+00:00"),
        "ended_at": ("TIMESTAMP", "2026-01-31 12:03:05+00:00"),
        "pipeline_execution_dt": ("TIMESTAMP", "2026-01-31 12:00:00+00:00"),
        "drift_status": ("STRING", "ok"),
    }
    # Every column of the table is bound, with the table's own type.
    schema = {c["name"]: c["type"] for c in load_table_schemas()[RUNS_TABLE]}
    assert {name: kind for name, (kind, _) in params_of(query).items()} == schema


def test_a_run_row_that_does_not_fit_the_table_is_refused():
    from s8s_churn.job import JobError

    t0 = datetime(2026, 1, 31, tzinfo=timezone.utc)
    fields = dict(pipeline_id="r", batch_id="b", model_version="v", input_uri="u", started_at=t0, ended_at=t0, drift_status="ok")
    with pytest.raises(JobError, match=r"read is '411', expected a INT64 value"):
        run_row(**fields, read="411", scored=400, rejected=11, pipeline_execution_dt=t0)


def labelled(batch_id: str, pipeline_id: str = PIPELINE) -> dict:
    return {PIPELINE_LABEL: pipeline_id, BATCH_LABEL: batch_id}


def test_every_bigquery_job_of_the_run_carries_its_pipeline_and_batch_labels(anonymous_google):
    sink = scoring.parse_args(DAG_ARGS).sink
    assert sink.labels == labelled(EARLIER_BATCH)  # DAG_ARGS is attempt 1
    # The connector copies bigQueryJobLabel.<key> options onto its load jobs (SparkBigQueryConfig.
    # parseBigQueryLabels and BigQueryClient.JobConfigurationFactory in spark-bigquery-connector).
    assert sink.connector_options() == {
        "writeMethod": "indirect",
        "temporaryGcsBucket": "s8s-demo-proj-spark",
        "createDisposition": "CREATE_NEVER",
        f"bigQueryJobLabel.{PIPELINE_LABEL}": PIPELINE,
        f"bigQueryJobLabel.{BATCH_LABEL}": EARLIER_BATCH,
    }
    transport = BigQueryTransport()
    sink = BigQuerySink(sink.project, sink.dataset, sink.temp_bucket, client_on(transport), sink.labels)
    t0 = datetime(2026, 1, 31, tzinfo=timezone.utc)
    sink.delete_rows(PREDICTIONS_TABLE, PIPELINE)
    times = dict(started_at=t0, ended_at=t0, pipeline_execution_dt=t0)
    counts = dict(read=1, scored=1, rejected=0, drift_status="ok")
    sink.record_run(
        None, run_row(pipeline_id=PIPELINE, batch_id=EARLIER_BATCH, model_version="v1", input_uri="u", **counts, **times)
    )
    delete, merge = transport.inserted_jobs()
    assert delete["configuration"]["query"]["query"].startswith("DELETE FROM")
    assert merge["configuration"]["query"]["query"].startswith("MERGE")
    for job in (delete, merge):
        assert bigquery.QueryJobConfig.from_api_repr(job["configuration"]).labels == labelled(EARLIER_BATCH)


def test_long_pipeline_ids_become_valid_distinct_label_values():
    a, b = "p" * 90 + "-one", "p" * 90 + "-two"
    assert label_value(PIPELINE) == PIPELINE
    assert len(label_value(a)) == LABEL_VALUE_MAX and label_value(a) == label_value(a) != label_value(b)
    assert set(label_value(a)) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def test_the_fence_cancels_only_an_earlier_attempts_unfinished_jobs_of_this_pipeline_and_waits():
    jobs = [
        job_resource("earlier-load", "RUNNING", labelled(EARLIER_BATCH)),
        job_resource("earlier-delete", "PENDING", labelled(EARLIER_BATCH), kind="query"),
        job_resource("own-load", "RUNNING", labelled(THIS_BATCH)),
        job_resource("other-run", "RUNNING", labelled("s8s-score-other-a1", pipeline_id="other")),
        job_resource("unlabelled", "RUNNING", {}),
        job_resource("earlier-done", "DONE", labelled(EARLIER_BATCH)),
    ]
    transport = BigQueryTransport(jobs, gets_to_done=2)
    sleeps: list[float] = []
    fenced = fence_earlier_jobs(client_on(transport), "demo-proj", labelled(THIS_BATCH), sleep=sleeps.append)
    # earlier-delete starts between the two lists, so both list it: it is cancelled once.
    assert fenced == ["earlier-delete", "earlier-load"]
    calls = transport.calls()
    # jobs.list of the caller's own jobs (allUsers unset: false), with their configuration (labels), per state.
    assert calls[:2] == [
        ("GET", JOBS, {"stateFilter": "pending", "projection": "full"}),
        ("GET", JOBS, {"stateFilter": "running", "projection": "full"}),
    ]
    assert calls[2:4] == [
        ("POST", f"{JOBS}/earlier-delete/cancel", {"projection": "full", "location": "us-central1"}),
        ("POST", f"{JOBS}/earlier-load/cancel", {"projection": "full", "location": "us-central1"}),
    ]
    # Polled with jobs.get until both are DONE: the first round sees them still running.
    assert calls[4:] == 2 * [
        ("GET", f"{JOBS}/earlier-delete", {"projection": "full", "location": "us-central1"}),
        ("GET", f"{JOBS}/earlier-load", {"projection": "full", "location": "us-central1"}),
    ]
    assert sleeps == [5]


def test_a_job_that_does_not_finish_after_its_cancel_fails_the_run_with_its_id():
    transport = BigQueryTransport([job_resource("stuck-load", "RUNNING", labelled(EARLIER_BATCH))], gets_to_done=None)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(JobError) as e:
        fence_earlier_jobs(client_on(transport), "demo-proj", labelled(THIS_BATCH), clock=lambda: now[0], sleep=sleep)
    assert str(e.value).startswith(
        f"BigQuery jobs ['stuck-load'] of an earlier attempt of {PIPELINE_LABEL}={PIPELINE} "
        "were cancelled but are not DONE after 300 s"
    )
    gets = [c for c in transport.calls() if c[:2] == ("GET", f"{JOBS}/stuck-load")]
    assert len(gets) == 61 and now[0] == 300  # one poll every 5 s, then the error


def test_the_scoring_job_fences_an_earlier_attempts_load_before_its_delete(
    spark, models_root, sample_files, tmp_path, monkeypatch, anonymous_google
):
    """main() of attempt 2 with only the HTTP session under its BigQuery client stubbed: the check
    of every table it writes, the fence's requests, the table's check, then the DELETE, then the
    connector write (which fails here: this suite's session loads no connector jar; the twin suite
    writes through it)."""
    transport = BigQueryTransport([job_resource("earlier-load", "RUNNING", labelled(EARLIER_BATCH))])
    monkeypatch.setattr(google.auth.transport.requests, "AuthorizedSession", lambda *a, **k: transport)
    local = job_args(models_root, sample_files["scoring"], tmp_path, pipeline_id=PIPELINE)
    bigquery_args = ["--sink", "bigquery", "--project", "demo-proj", "--dataset", "customer_churn_ds"]
    argv = local[: local.index("--sink")] + bigquery_args + ["--temp-bucket", "b", "--batch-id", THIS_BATCH]
    with pytest.raises(Py4JJavaError, match=r"\[DATA_SOURCE_NOT_FOUND\] Failed to find the data source: bigquery"):
        scoring.main(argv + ["--execution-ts", "2026-01-31T12:00:00Z"])
    calls = [(method, path) for method, path, _ in transport.calls()]
    # Every table the run writes exists (the stack made them), checked before anything is written.
    tables = ("batch_predictions", "batch_drift", "batch_rejects", "batch_runs")
    assert calls[:4] == [("GET", f"{TABLES}{t}") for t in tables]
    assert calls[4:8] == [
        ("GET", JOBS),
        ("GET", JOBS),
        ("POST", f"{JOBS}/earlier-load/cancel"),
        ("GET", f"{JOBS}/earlier-load"),
    ]
    assert calls[8] == ("GET", f"{TABLES}batch_predictions")  # the write's own check of its table
    assert calls[9][0] == "POST" and calls[9][1] == JOBS  # the DELETE, after the earlier load is DONE
    [delete] = transport.inserted_jobs()
    config = bigquery.QueryJobConfig.from_api_repr(delete["configuration"])
    assert delete["configuration"]["query"]["query"].startswith("DELETE FROM `demo-proj.customer_churn_ds.batch_predictions`")
    assert config.labels == labelled(THIS_BATCH)


def test_a_refused_cancel_fails_the_run_naming_the_job():
    denied = {"code": 403, "message": "Access Denied: Job demo-proj:us-central1.earlier-load", "status": "PERMISSION_DENIED"}
    transport = BigQueryTransport([job_resource("earlier-load", "RUNNING", labelled(EARLIER_BATCH))], cancel_error=denied)
    with pytest.raises(JobError) as e:
        fence_earlier_jobs(client_on(transport), "demo-proj", labelled(THIS_BATCH))
    message = str(e.value)
    assert message.startswith("cannot cancel BigQuery job demo-proj:us-central1.earlier-load of an earlier attempt: POST ")
    assert message.endswith(
        "/jobs/earlier-load/cancel?projection=full&location=us-central1&prettyPrint=false: " + denied["message"]
    )
