"""The BigQuery sink's statements, through a real google-cloud-bigquery client whose HTTP session
is stubbed: the tests read the jobs.insert requests that would go out (SQL, bound parameters,
job configuration as Google's classes build and parse it)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

import batch_scoring
from lab_contract import PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE, load_table_schemas
from lab_sinks import BigQuerySink, run_row

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
    def __init__(self, body: dict):
        self.status_code, self.headers, self.request = 200, {"content-type": "application/json"}, None
        self.content = json.dumps(body).encode()
        self.text = self.content.decode()
        self._body = body

    def json(self):
        return self._body


class BigQueryTransport:
    """The HTTP session under a real bigquery.Client: records each request, answers as BigQuery
    does for a finished DML job. Nothing leaves the machine."""

    is_mtls = False

    def __init__(self):
        self.requests: list[tuple[str, str, dict | None]] = []

    def request(self, method, url, data=None, headers=None, timeout=None, **_):
        body = json.loads(data) if data else None
        self.requests.append((method, url, body))
        if method == "POST" and urlsplit(url).path.endswith("/jobs"):
            return Response({**body, "status": {"state": "DONE"}, "statistics": {"query": {"numDmlAffectedRows": "7"}}})
        if method == "GET" and "/queries/" in url:
            inserted = self.requests[0][2]
            return Response({"jobComplete": True, "jobReference": inserted["jobReference"], "totalRows": "0", "schema": {}})
        raise AssertionError(f"unexpected request {method} {url}")

    def inserted_jobs(self) -> list[dict]:
        """The body of every jobs.insert call (POST .../projects/P/jobs)."""
        return [body for method, url, body in self.requests if method == "POST" and urlsplit(url).path.endswith("/jobs")]


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
    cfg = batch_scoring.parse_args(DAG_ARGS)
    assert cfg.sink == BigQuerySink("demo-proj", "customer_churn_ds", "s8s-demo-proj-spark")
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
        batch_scoring.parse_args(DAG_ARGS)
    assert e.value.code == 2
    assert "--sink bigquery: the google-cloud-bigquery package does not import here" in capsys.readouterr().err


def test_bad_batch_ids_are_refused():
    base = ["--pipeline-id", "p1", "--input", "x", "--models-root", "m", "--sink", "local", "--output", "o"]
    assert batch_scoring.parse_args(base).batch_id == "local"
    for bad in ("Has_Upper", "abc", "x" * 64):
        with pytest.raises(SystemExit):
            batch_scoring.parse_args(base + ["--batch-id", bad])


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
    )
    transport = BigQueryTransport()
    BigQuerySink("demo-proj", "customer_churn_ds", "bucket", client_on(transport)).record_run(None, row)
    [job] = transport.inserted_jobs()
    query = job["configuration"]["query"]
    assert query["query"] == (
        "MERGE `demo-proj.customer_churn_ds.batch_runs` AS runs\n"
        "USING (SELECT @pipeline_id AS `pipeline_id`, @batch_id AS `batch_id`, @model_version AS `model_version`, "
        "@input_uri AS `input_uri`, @read AS `read`, @scored AS `scored`, @rejected AS `rejected`, "
        "@started_at AS `started_at`, @ended_at AS `ended_at`, @pipeline_execution_dt AS `pipeline_execution_dt`) AS run\n"
        "ON runs.pipeline_id = run.pipeline_id\n"
        "WHEN MATCHED THEN UPDATE SET `batch_id` = run.`batch_id`, `model_version` = run.`model_version`, "
        "`input_uri` = run.`input_uri`, `read` = run.`read`, `scored` = run.`scored`, `rejected` = run.`rejected`, "
        "`started_at` = run.`started_at`, `ended_at` = run.`ended_at`, `pipeline_execution_dt` = run.`pipeline_execution_dt`\n"
        "WHEN NOT MATCHED THEN INSERT (`pipeline_id`, `batch_id`, `model_version`, `input_uri`, `read`, `scored`, "
        "`rejected`, `started_at`, `ended_at`, `pipeline_execution_dt`)\n"
        "  VALUES (run.`pipeline_id`, run.`batch_id`, run.`model_version`, run.`input_uri`, run.`read`, run.`scored`, "
        "run.`rejected`, run.`started_at`, run.`ended_at`, run.`pipeline_execution_dt`)"
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
    }
    # Every column of the table is bound, with the table's own type.
    schema = {c["name"]: c["type"] for c in load_table_schemas()[RUNS_TABLE]}
    assert {name: kind for name, (kind, _) in params_of(query).items()} == schema


def test_a_run_row_that_does_not_fit_the_table_is_refused():
    from lab_job import JobError

    t0 = datetime(2026, 1, 31, tzinfo=timezone.utc)
    fields = dict(pipeline_id="r", batch_id="b", model_version="v", input_uri="u", started_at=t0, ended_at=t0)
    with pytest.raises(JobError, match=r"read is '411', expected a INT64 value"):
        run_row(**fields, read="411", scored=400, rejected=11, pipeline_execution_dt=t0)
