"""The scoring job's main() with --sink bigquery against the emulators: gs:// input and model through
the Cloud Storage connector, the output through Google's spark-bigquery connector's indirect write
(temporary files in the emulated spark bucket, one load job per table), the DELETE and the batch_runs MERGE in the emulated
BigQuery. The counts the job reports are the rows the emulator holds."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from conftest import DATASET, run_scoring, score_argv

TABLES = ("batch_predictions", "batch_rejects", "batch_drift")


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


def test_each_table_is_written_by_one_parquet_load_job_of_the_connector(twin_state, buckets, scored, spark):
    pipeline_id, summary, run_loads = scored
    loads = {job.destination.table_id: job for job in run_loads}
    assert len(run_loads) == 3 and set(loads) == set(TABLES)
    # The connector's unique folder in the temporary bucket (SparkBigQueryUtil.createGcsPath).
    prefix = f"gs://{buckets['spark']}/.spark-bigquery-{spark.sparkContext.applicationId}-"
    for job in loads.values():
        assert job.state == "DONE" and job.error_result is None
        assert job.source_format == "PARQUET" and job.write_disposition == "WRITE_APPEND"
        assert job.create_disposition == "CREATE_NEVER"  # the job's option: never a table of the connector's
        # The run's labels, from the connector's bigQueryJobLabel.<key> options (the retry fence finds them).
        assert job.labels == {"s8s-pipeline-id": pipeline_id, "s8s-batch-id": "local"}
        assert job.destination.dataset_id == DATASET
        assert all(u.startswith(prefix) and "/part-" in u and u.endswith(".parquet") for u in job.source_uris)
    assert (loads["batch_predictions"].output_rows, loads["batch_rejects"].output_rows, loads["batch_drift"].output_rows) == (
        summary["scored"],
        summary["rejected"],
        len(summary["drift"]),
    )
    # The temporary files are gone once the load jobs finished (the connector's IntermediateDataCleaner).
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


def test_the_reasons_land_in_bigquery_as_records_and_add_up_to_churn_logit(bq, twin_state, scored, spark, models_root):
    """The three reason records went through the Parquet load into the emulator; on those rows the
    base value plus every contribution is churn_logit (1e-9), and the stored reasons are the top
    positive ones."""
    import math

    from s8s_churn.model import REASON_COLUMNS, load_model

    pipeline_id, summary, _ = scored
    model = load_model(spark, models_root, "v-twin")
    table = f"`{twin_state.project}.{DATASET}.batch_predictions`"
    rows = [dict(r.items()) for r in bq.query(f"SELECT * FROM {table} WHERE pipeline_id = '{pipeline_id}'").result()]
    assert len(rows) == summary["scored"] == 395
    with_reasons = 0
    for row in rows:
        parts = {}
        for column, weight in model.numeric.items():
            value = row["total_charges"] if column == "total_charges_filled" else row[column]
            if value is None:
                value = row["monthly_charges"] * row["tenure"]
            parts["total_charges" if column == "total_charges_filled" else column] = weight * (
                value - model.reference.numeric_means[column]
            )
        for column in model.categorical:
            parts[column] = model.categorical[column].get(row[column], 0.0) - model.mean_category_weight(column)
        assert abs(model.base_value() + sum(parts.values()) - row["churn_logit"]) < 1e-9
        assert abs(1 / (1 + math.exp(-row["churn_logit"])) - row["churn_probability"]) < 1e-12
        top = sorted((-c, f) for f, c in parts.items() if c > 0)[:3]
        stored = [row[c] for c in REASON_COLUMNS if row[c] is not None]
        assert [r["feature"] for r in stored] == [f for _, f in top]
        with_reasons += bool(stored)
    assert with_reasons > 300


def test_the_runs_drift_rows_and_status_are_in_bigquery(bq, twin_state, scored):
    pipeline_id, summary, _ = scored
    drift = f"`{twin_state.project}.{DATASET}.batch_drift`"
    rows = [dict(r.items()) for r in bq.query(f"SELECT * FROM {drift} WHERE pipeline_id = '{pipeline_id}'").result()]
    assert sorted(r["feature"] for r in rows) == sorted(summary["drift"]) and len(rows) == 21
    assert all(r["status"] == "ok" and r["rows"] == 395 and 0 <= r["js_distance"] <= 1 for r in rows)
    (run,) = run_row(bq, twin_state.project, pipeline_id)
    assert run["drift_status"] == "ok"
