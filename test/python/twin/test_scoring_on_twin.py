"""The scoring job's main() with --sink bigquery against the emulators: gs:// input and model through
the Cloud Storage connector, the output through the connector's indirect write (temporary files in the
emulated spark bucket, one load job per table), the DELETE and the batch_runs MERGE in the emulated
BigQuery. The counts the job reports are the rows the emulator holds."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from conftest import DATASET, run_scoring, score_argv

TABLES = ("batch_predictions", "batch_rejects")


def objects(twin_state, bucket: str, prefix: str) -> list[str]:
    q = urllib.parse.urlencode({"prefix": prefix})
    with urllib.request.urlopen(f"{twin_state.gcs_endpoint}/storage/v1/b/{bucket}/o?{q}") as r:
        return [o["name"] for o in json.load(r).get("items", [])]


def run_row(bq, project: str, pipeline_id: str) -> list[dict]:
    sql = f"SELECT * FROM `{project}.{DATASET}.batch_runs` WHERE pipeline_id = '{pipeline_id}'"
    return [dict(r.items()) for r in bq.query(sql).result()]


def test_the_counts_the_job_records_are_the_rows_bigquery_holds(bq, twin_state, scored, inputs):
    pipeline_id, summary, _ = scored
    assert (summary["read"], summary["scored"], summary["rejected"]) == (400, 395, 5)
    assert twin_state.pipeline_rows("batch_predictions", pipeline_id) == summary["scored"]
    assert twin_state.pipeline_rows("batch_rejects", pipeline_id) == summary["rejected"]
    (run,) = run_row(bq, twin_state.project, pipeline_id)
    assert (run["read"], run["scored"], run["rejected"]) == (400, 395, 5)
    assert run["model_version"] == "v-twin" and run["input_uri"] == inputs["scoring.csv"] and run["batch_id"] == "local"
    table = f"`{twin_state.project}.{DATASET}.batch_predictions`"
    churn = next(iter(bq.query(f"SELECT SUM(prediction) AS c FROM {table} WHERE pipeline_id = '{pipeline_id}'").result()))["c"]
    assert churn == summary["predictions"]["1"]


def test_each_table_is_written_by_one_parquet_load_job_from_the_temporary_bucket(bq, twin_state, buckets, scored, spark):
    pipeline_id, summary, run_loads = scored
    loads = {load.table_id.rsplit(".", 1)[-1]: load for load in run_loads}
    assert len(run_loads) == 2 and set(loads) == set(TABLES)
    prefix = f"gs://{buckets['spark']}/.spark-bigquery-{spark.sparkContext.applicationId}-"
    for table in TABLES:
        load = loads[table]
        job = bq.get_job(load.job_id)  # the load job as the emulator recorded it
        assert job.job_type == "load" and job.state == "DONE" and job.error_result is None
        assert job.source_format == "PARQUET" and job.write_disposition == "WRITE_APPEND"
        assert job.create_disposition == "CREATE_IF_NEEDED"
        # The run's labels, from the connector's bigQueryJobLabel.<key> options (the retry fence finds them).
        assert job.labels == {"s8s-pipeline-id": pipeline_id, "s8s-batch-id": "local"}
        assert job.destination.table_id == table and job.destination.dataset_id == DATASET
        assert load.folder.startswith(prefix) and all(u.startswith(load.folder + "/part-") for u in load.source_uris)
    assert (loads["batch_predictions"].output_rows, loads["batch_rejects"].output_rows) == (
        summary["scored"],
        summary["rejected"],
    )
    # The temporary files are gone once the load jobs finished.
    assert objects(twin_state, buckets["spark"], ".spark-bigquery-") == []


def test_a_rerun_of_a_pipeline_id_replaces_its_rows(bq, twin_state, buckets, inputs, models_root):
    pipeline_id = "twin-rerun"
    argv = score_argv(twin_state, buckets, inputs, models_root, pipeline_id)
    first = run_scoring(argv)
    second = run_scoring(argv)
    assert first["scored"] == second["scored"] == 395
    assert twin_state.pipeline_rows("batch_predictions", pipeline_id) == 395
    assert twin_state.pipeline_rows("batch_rejects", pipeline_id) == 5
    assert len(run_row(bq, twin_state.project, pipeline_id)) == 1


def test_without_the_connector_jar_the_jobs_own_write_stops_at_the_bigquery_data_source(spark, twin_state, buckets):
    """Only s8s_churn.sinks.connector_write is replaced by the stand-in: the job's own version reaches
    Spark's data source lookup for "bigquery", which fails here because no connector jar could be
    had (docs/twin.md)."""
    import pytest

    from local.connector import bigquery as twin_connector

    rows = spark.range(1).selectExpr("'x' AS pipeline_id")
    with pytest.raises(Exception, match=r"Failed to find the data source: bigquery"):
        options = {"writeMethod": "indirect", "temporaryGcsBucket": buckets["spark"]}
        twin_connector.CONNECTOR_WRITE(rows, f"{twin_state.project}.{DATASET}.batch_runs", options)
