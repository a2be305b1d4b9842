"""The scoring job's BigQuery writes through Google's spark-bigquery connector (the jar the twin builds,
at the version the batches pin) into the BigQuery emulator: many part files, a retry, a missing table,
a schema mismatch, the retry fence against the emulator's jobs API, and the load statistics the
emulator's patched load handler computes (local/twin/bqemulator_gaps.py). Each test reads back what
BigQuery holds (rows, schema, partitioning, each row's partition) and the load jobs as the emulator
recorded them (labels, source URIs, dispositions)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from conftest import DATASET, REPO, load_jobs, run_scoring, score_argv

EXECUTION_TS = "2026-12-01T10:30:00+00:00"
EXECUTION_DAY = date(2026, 12, 1)
# Legacy and standard names of the same BigQuery types (TableFieldSchema.type).
SAME_TYPE = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def table_schemas() -> dict:
    return json.loads((REPO / "pyspark" / "s8s_churn" / "table_schemas.json").read_text())


def argv_for(twin_state, buckets, inputs, models_root, pipeline_id, batch_id="local", dataset=DATASET, input_uri=None):
    argv = score_argv(twin_state, buckets, inputs, models_root, pipeline_id, batch_id) + ["--execution-ts", EXECUTION_TS]
    argv[argv.index("--dataset") + 1] = dataset
    if input_uri:
        argv[argv.index("--input") + 1] = input_uri
    return argv


def assert_table_as_the_stack_made_it(bq, dataset: str, table: str) -> None:
    """Schema, partitioning and clustering of the table are still the stack's (never the connector's)."""
    t = bq.get_table(f"{bq.project}.{dataset}.{table}")
    want = [(c["name"], SAME_TYPE.get(c["type"], c["type"])) for c in table_schemas()[table]]
    assert [(f.name, SAME_TYPE.get(f.field_type, f.field_type)) for f in t.schema] == want
    assert (t.time_partitioning.type_, t.time_partitioning.field) == ("DAY", "pipeline_execution_dt")
    assert t.clustering_fields == ["pipeline_id"]


def partitions(bq, dataset: str, table: str, pipeline_id: str) -> dict:
    """The pipeline's rows per daily partition (the day of pipeline_execution_dt)."""
    sql = (
        f"SELECT DATE(pipeline_execution_dt) AS day, COUNT(*) AS n FROM `{bq.project}.{dataset}.{table}` "
        "WHERE pipeline_id = @p GROUP BY day"
    )
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
    return {r["day"]: r["n"] for r in bq.query(sql, job_config=config).result()}


def runs_of(bq, dataset: str, pipeline_id: str) -> list[dict]:
    sql = f"SELECT * FROM `{bq.project}.{dataset}.batch_runs` WHERE pipeline_id = @p"
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline_id)])
    return [dict(r.items()) for r in bq.query(sql, job_config=config).result()]


def load_stats(job) -> dict:
    """statistics.load of the job as the emulator answers jobs.get (JobStatistics3)."""
    return job._properties["statistics"]["load"]


def assert_connector_load(job, pipeline_id: str, batch_id: str) -> None:
    assert job.source_format == "PARQUET"
    assert (job.write_disposition, job.create_disposition) == ("WRITE_APPEND", "CREATE_NEVER")
    assert job.labels == {"s8s-pipeline-id": pipeline_id, "s8s-batch-id": batch_id}
    assert all("/.spark-bigquery-" in u and "/part-" in u and u.endswith(".parquet") for u in job.source_uris)


def make_dataset(twin_state, stack, dataset: str, tables: dict[str, list[dict]] | None = None) -> None:
    """A dataset of the twin holding the stack's job tables under another dataset id, each schema
    replaced by `tables` where given; with tables={}, an empty dataset."""
    from local.twin.emulators import _call

    bq = f"{twin_state.bigquery_endpoint}/bigquery/v2/projects/{twin_state.project}"
    body = {"datasetReference": {"projectId": twin_state.project, "datasetId": dataset}, "location": "US"}
    _call("POST", f"{bq}/datasets", body, exists_ok=True)
    for resource in stack["resources"]["google_bigquery_table"].values():
        name = resource["table_id"]
        if tables is None or name in tables:
            create_table(twin_state, dataset, resource, (tables or {}).get(name))


def create_table(twin_state, dataset: str, resource: dict, schema: list[dict] | None = None) -> None:
    from local.twin.deploy import bigquery_table_body
    from local.twin.emulators import _call

    resource = {**resource, "dataset_id": dataset}
    if schema is not None:
        resource["schema"] = json.dumps(schema)
    body = bigquery_table_body(twin_state.project, resource)
    _call("POST", f"{twin_state.bigquery_endpoint}/bigquery/v2/projects/{twin_state.project}/datasets/{dataset}/tables", body)


def stack_table(stack, name: str) -> dict:
    return next(t for t in stack["resources"]["google_bigquery_table"].values() if t["table_id"] == name)


# ----------------------------------------------------------------------------- many part files


def test_ten_or_more_part_files_are_loaded_through_the_connectors_wildcard_uris(
    spark, bq, twin_state, buckets, inputs, models_root, tmp_path
):
    from local import sample_data, twin

    big = tmp_path / "many.csv"
    read = sample_data.write_csv(big, sample_data.customers(6000, 606, False, "M", bad_rows=True), False)
    uri = twin.upload(twin_state, buckets["data"], "data/many.csv", big)
    # Input splits of about a twelfth of the file: Spark reads it in 12 or 13 partitions, and the
    # job's writes keep them, so each table's write leaves that many part files.
    saved = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(big.stat().st_size // 12 + 1))
    try:
        summary = run_scoring(argv_for(twin_state, buckets, inputs, models_root, "twin-many", input_uri=uri))
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", saved)
    assert summary["read"] == read == summary["scored"] + summary["rejected"] and summary["rejected"] > 0

    jobs = {job.destination.table_id: job for job in load_jobs(bq, "twin-many")}
    job = jobs["batch_predictions"]
    assert_connector_load(job, "twin-many", "local")
    stats = load_stats(job)
    assert int(stats["inputFiles"]) >= 10
    # The connector folds part-00000..part-00009 into one wildcard URI and lists the rest
    # (BigQueryUtil.optimizeLoadUriList); the emulator counted the files the URIs match.
    wildcards = [u for u in job.source_uris if "*" in u]
    assert len(wildcards) == 1 and "/part-0000*-" in wildcards[0]
    assert int(stats["inputFiles"]) == 10 + len(job.source_uris) - 1
    assert int(stats["outputRows"]) == job.output_rows == summary["scored"]
    assert int(stats["inputFileBytes"]) > 0 and int(stats["outputBytes"]) > 0
    assert twin_state.pipeline_rows("batch_predictions", "twin-many") == summary["scored"]
    assert partitions(bq, DATASET, "batch_predictions", "twin-many") == {EXECUTION_DAY: summary["scored"]}
    assert_table_as_the_stack_made_it(bq, DATASET, "batch_predictions")


# ------------------------------------------------------------------------------------ a retry


def test_a_retry_replaces_the_rows_of_the_earlier_attempt(bq, twin_state, buckets, inputs, models_root):
    attempts = ["s8s-score-twin-retry-a1", "s8s-score-twin-retry-a2"]
    summaries = [run_scoring(argv_for(twin_state, buckets, inputs, models_root, "twin-retry", a)) for a in attempts]
    assert summaries[0]["scored"] == summaries[1]["scored"] == 395
    rows_of = {"batch_predictions": 395, "batch_rejects": 5, "batch_drift": len(summaries[1]["drift"])}
    assert rows_of["batch_drift"] > 0
    for table, rows in rows_of.items():
        assert partitions(bq, DATASET, table, "twin-retry") == {EXECUTION_DAY: rows}  # not twice as many
        assert_table_as_the_stack_made_it(bq, DATASET, table)
    (run,) = runs_of(bq, DATASET, "twin-retry")
    assert run["batch_id"] == attempts[1] and (run["read"], run["scored"], run["rejected"]) == (400, 395, 5)
    for attempt in attempts:  # each attempt's own three loads, labelled with its batch id
        jobs = load_jobs(bq, "twin-retry", attempt)
        assert sorted(j.destination.table_id for j in jobs) == sorted(rows_of)
        for job in jobs:
            assert_connector_load(job, "twin-retry", attempt)
            assert job.error_result is None and job.output_rows == rows_of[job.destination.table_id]


def test_the_retry_fence_runs_against_the_emulators_jobs_api(bq, twin_state, buckets, inputs, models_root):
    """What the emulator serves of the fence: jobs.list by state with each job's labels, jobs.get,
    jobs.cancel. It runs every job to DONE inside jobs.insert, so no earlier attempt's job is ever
    PENDING or RUNNING here and the cancel-then-wait path runs only against the stubbed HTTP session
    of test/python/spark/test_bigquery_sink.py (docs/twin.md)."""
    from s8s_churn.sinks import BATCH_LABEL, PIPELINE_LABEL, fence_earlier_jobs, run_labels

    pipeline_id, earlier = "twin-fence", "s8s-score-twin-fence-a1"
    run_scoring(argv_for(twin_state, buckets, inputs, models_root, pipeline_id, earlier))
    labels = run_labels(pipeline_id, "s8s-score-twin-fence-a2")
    assert fence_earlier_jobs(bq, bq.project, labels) == []  # nothing unfinished to cancel
    for state in ("pending", "running"):
        assert [j for j in bq.list_jobs(project=bq.project, state_filter=state)] == []
    done = [
        j for j in bq.list_jobs(project=bq.project, state_filter="done") if (j.labels or {}).get(PIPELINE_LABEL) == pipeline_id
    ]
    # The earlier attempt's DELETEs, loads and MERGE, each found by the labels the fence filters on.
    assert {j.labels[BATCH_LABEL] for j in done} == {earlier}
    # Loads of batch_predictions, batch_drift and batch_rejects; their three DELETEs and the MERGE.
    assert sorted(j.job_type for j in done) == ["load", "load", "load", "query", "query", "query", "query"]
    cancelled = bq.cancel_job(done[0].job_id, project=bq.project)
    assert cancelled.state == "DONE" and cancelled.job_id == done[0].job_id
    for job in (bq.get_job(j.job_id) for j in done if j.job_type == "load"):
        assert_connector_load(job, pipeline_id, earlier)
    assert partitions(bq, DATASET, "batch_predictions", pipeline_id) == {EXECUTION_DAY: 395}
    assert_table_as_the_stack_made_it(bq, DATASET, "batch_predictions")


# --------------------------------------------------------------------------- a missing table


def test_a_missing_target_table_fails_the_job_before_any_row_naming_the_table(
    bq, twin_state, stack, buckets, inputs, models_root, capsys
):
    from s8s_churn import scoring
    from s8s_churn.job import run_main

    make_dataset(twin_state, stack, "twin_missing_ds", tables={})  # the dataset, none of its tables
    argv = argv_for(twin_state, buckets, inputs, models_root, "twin-missing", dataset="twin_missing_ds")
    assert run_main(scoring.main, argv) == 2
    err = capsys.readouterr().err
    table = f"{twin_state.project}.twin_missing_ds.batch_predictions"
    assert f"BigQuery table {table} does not exist; deploy the stack (npx cdktf deploy)" in err
    with pytest.raises(NotFound):  # the connector never created an unpartitioned table
        bq.get_table(table)
    assert list(bq.list_tables("twin_missing_ds")) == []
    assert load_jobs(bq, "twin-missing") == []


def test_a_table_missing_after_others_stops_the_job_before_it_writes_any_of_them(
    bq, twin_state, stack, buckets, inputs, models_root, capsys
):
    """Every table but batch_drift (a lab deployed before drift was measured, say): the job checks
    all the tables it writes before its first write, so batch_predictions gets no row either."""
    from s8s_churn import scoring
    from s8s_churn.job import run_main

    ds = "twin_no_drift_ds"
    make_dataset(twin_state, stack, ds, tables={"batch_predictions": None, "batch_rejects": None, "batch_runs": None})
    argv = argv_for(twin_state, buckets, inputs, models_root, "twin-no-drift", dataset=ds)
    assert run_main(scoring.main, argv) == 2
    err = capsys.readouterr().err
    assert f"BigQuery table {twin_state.project}.{ds}.batch_drift does not exist; deploy the stack" in err
    assert partitions(bq, ds, "batch_predictions", "twin-no-drift") == {}
    assert load_jobs(bq, "twin-no-drift") == []


# -------------------------------------------------------------------------- a schema mismatch


def test_a_schema_mismatch_fails_with_the_connectors_message_and_a_retry_after_the_fix_replaces_it(
    bq, twin_state, stack, buckets, inputs, models_root
):
    """batch_rejects with raw_record as INT64: the predictions load lands, the rejects load fails in
    the emulator as in BigQuery, the connector fails the write and the job exits non-zero without a
    batch_runs row. With the table fixed, the retry replaces what the failed attempt wrote."""
    from local import twin

    ds, pipeline_id = "twin_mismatch_ds", "twin-mismatch"
    wrong = [dict(c, type="INT64") if c["name"] == "raw_record" else c for c in table_schemas()["batch_rejects"]]
    make_dataset(
        twin_state, stack, ds, tables={"batch_predictions": None, "batch_rejects": wrong, "batch_runs": None, "batch_drift": None}
    )
    code_bucket = twin.bucket(stack, "code")

    def attempt(batch_id: str) -> subprocess.CompletedProcess:
        """The job as a batch runs it: the Dataproc twin's runner stages the uploaded files and runs
        them in their own spark-submit process (local/dataproc/runner.py)."""
        from local.dataproc.__main__ import twin_spark
        from local.dataproc.runner import SparkSubmit

        argv = argv_for(twin_state, buckets, inputs, models_root, pipeline_id, batch_id, dataset=ds)
        # The fields of a dataproc_v1.Batch the runner reads (the spark environment has no
        # google-cloud-dataproc; the Dataproc suite sends real Batch messages through the server).
        batch = SimpleNamespace(
            pyspark_batch=SimpleNamespace(
                main_python_file_uri=f"gs://{code_bucket}/pyspark/batch_scoring.py",
                python_file_uris=[f"gs://{code_bucket}/pyspark/s8s_churn.zip"],  # what the DAG's batch lists
                file_uris=[],
                jar_file_uris=[],
                args=argv,
            ),
            runtime_config=SimpleNamespace(properties={}),
        )
        runner = SparkSubmit(twin_spark(Path(twin_state.root)))
        work = Path(twin_state.root) / "mismatch-batches" / batch_id
        output = work / "driveroutput"
        staged = runner.stage(batch, work)
        proc = runner.start(batch, staged, output)
        code = proc.wait(timeout=600)
        text = output.read_text(errors="replace")
        return subprocess.CompletedProcess(proc.args, code, stdout=text, stderr=text)

    failed = attempt("s8s-score-twin-mismatch-a1")
    assert failed.returncode != 0, failed.stdout[-2000:]
    assert "com.google.cloud.bigquery.connector.common.BigQueryConnectorException: Failed to write to BigQuery" in failed.stderr
    assert "Parquet column 'raw_record' has type BYTE_ARRAY which does not match the target cpp_type INT64" in failed.stderr, (
        failed.stderr[-3000:]
    )
    assert runs_of(bq, ds, pipeline_id) == []
    assert partitions(bq, ds, "batch_predictions", pipeline_id) == {EXECUTION_DAY: 395}  # written before the failure
    (rejects_load,) = [j for j in load_jobs(bq, pipeline_id) if j.destination.table_id == "batch_rejects"]
    assert rejects_load.error_result["reason"] == "invalid" and "raw_record" in rejects_load.error_result["message"]
    assert_connector_load(rejects_load, pipeline_id, "s8s-score-twin-mismatch-a1")

    bq.delete_table(f"{bq.project}.{ds}.batch_rejects")  # the fix: the table as the stack defines it
    create_table(twin_state, ds, stack_table(stack, "batch_rejects"))
    retried = attempt("s8s-score-twin-mismatch-a2")
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert partitions(bq, ds, "batch_predictions", pipeline_id) == {EXECUTION_DAY: 395}  # replaced, not added
    assert partitions(bq, ds, "batch_rejects", pipeline_id) == {EXECUTION_DAY: 5}
    (run,) = runs_of(bq, ds, pipeline_id)
    assert run["batch_id"] == "s8s-score-twin-mismatch-a2" and (run["scored"], run["rejected"]) == (395, 5)
    for table in ("batch_predictions", "batch_rejects", "batch_runs", "batch_drift"):
        assert_table_as_the_stack_made_it(bq, ds, table)


# ------------------------------------------------------------- the emulator's load statistics


def test_load_statistics_are_computed_from_the_files_the_job_loaded(spark, bq, twin_state, buckets):
    """A Parquet load of three files through a wildcard URI, columns in another order than the
    table's: the emulator (with the gaps closed) loads them by name and reports inputFiles,
    inputFileBytes from the files' sizes, outputRows, and outputBytes by BigQuery's data size rules."""
    from pyspark.sql import types as T

    rows = [(i, None if i % 4 == 0 else f"name-{i}-é", float(i) / 3, i % 2 == 0) for i in range(30)]
    schema = T.StructType([
        T.StructField("id", T.LongType()), T.StructField("name", T.StringType()),
        T.StructField("amount", T.DoubleType()), T.StructField("flag", T.BooleanType()),
    ])  # fmt: skip
    folder = f"gs://{buckets['spark']}/stats-test"
    df = spark.createDataFrame(rows, schema).select("name", "flag", "id", "amount").repartition(3)
    df.write.mode("overwrite").parquet(folder)
    files = sorted(Path(twin_state.gcs_root, buckets["spark"], "stats-test").glob("part-*.parquet"))
    assert len(files) == 3

    table = bigquery.Table(
        f"{bq.project}.{DATASET}.stats_test",
        schema=[
            bigquery.SchemaField(n, t) for n, t in (("id", "INT64"), ("name", "STRING"), ("amount", "FLOAT64"), ("flag", "BOOL"))
        ],
    )
    bq.create_table(table, exists_ok=True)
    config = bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_TRUNCATE")
    job = bq.load_table_from_uri(f"{folder}/part-*", table.reference, job_config=config)
    job.result()
    stats = load_stats(bq.get_job(job.job_id))
    strings = sum(2 + len(name.encode("utf-8")) for _, name, _, _ in rows if name is not None)
    assert stats == {
        "inputFiles": "3",
        "inputFileBytes": str(sum(f.stat().st_size for f in files)),
        "outputRows": "30",
        # https://cloud.google.com/bigquery/pricing#data: INT64 and FLOAT64 8 bytes, BOOL 1, STRING 2 + UTF-8 bytes.
        "outputBytes": str(30 * 8 + 30 * 8 + 30 * 1 + strings),
        "badRecords": "0",
    }
    held = {r["id"]: (r["name"], r["amount"], r["flag"]) for r in bq.query(f"SELECT * FROM `{table}`").result()}
    assert held == {i: (name, amount, flag) for i, name, amount, flag in rows}  # by name, not by position
    bq.delete_table(table)


def test_the_batches_and_the_twin_pin_one_connector_version():
    """airflow/dags/connectors.json is the one definition: the DAGs send it as a batch property
    (test/python/airflow/test_execute.py checks the CreateBatchRequest), the twin loads that version."""
    from local.connector.jars import bigquery_connector, bigquery_connector_jar

    connector = bigquery_connector()
    assert (connector.property, connector.version) == ("dataproc.sparkBqConnector.version", "0.43.1")
    with zipfile.ZipFile(bigquery_connector_jar()) as jar:
        props = dict(
            line.split("=", 1) for line in jar.read("spark-bigquery-connector.properties").decode().splitlines() if "=" in line
        )
    assert props == {"scala.binary.version": "2.12", "connector.version": connector.version}
    assert connector.version in (REPO / "docs" / "twin.md").read_text()
