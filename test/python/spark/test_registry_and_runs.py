"""The two tables a scoring run is audited by: model_versions (the registry's metadata files,
read as BigQuery's external table reads them) and batch_runs (one row per run)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from s8s_churn import scoring
from s8s_churn.contract import LAB, MODEL_VERSIONS_TABLE, PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE, check_record, spark_schema
from s8s_churn.job import JobError
from s8s_churn.registry import METADATA_FILE, read_model_versions, resolve_model_version


def test_metadata_is_one_json_line_that_fits_model_versions(spark, models_root):
    text = (models_root / "v-test" / METADATA_FILE).read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1, "BigQuery reads newline-delimited JSON: one object per line"
    meta = json.loads(text)
    check_record(meta, MODEL_VERSIONS_TABLE)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00", meta["trained_at"]), meta["trained_at"]

    table = read_model_versions(spark, str(models_root))
    assert table.schema == spark_schema(MODEL_VERSIONS_TABLE)
    [row] = table.collect()
    assert row.version == "v-test" and row.rows_read == 7000 and row.params.seed == 42
    assert row.trained_at is not None and row.metrics.auc == meta["metrics"]["auc"] and row.metrics.test_rows > 0


def test_metadata_that_does_not_fit_the_table_is_refused():
    good = {"version": "v1", "metrics": {"auc": 0.8, "test_rows": 10}}
    check_record(good, MODEL_VERSIONS_TABLE)
    with pytest.raises(JobError, match=r"owner is not a column"):
        check_record({**good, "owner": "me"}, MODEL_VERSIONS_TABLE)
    with pytest.raises(JobError, match=r"metrics\.f1 is not a column"):
        check_record({**good, "metrics": {"f1": 0.5}}, MODEL_VERSIONS_TABLE)
    with pytest.raises(JobError, match=r"metrics\.test_rows is 10\.5, expected a INT64 value"):
        check_record({**good, "metrics": {"test_rows": 10.5}}, MODEL_VERSIONS_TABLE)


def test_the_stack_s_external_table_reads_exactly_the_metadata_files(models_root):
    """The contract file names the files model_versions reads (test/bigquery.test.ts checks the synthesized
    external table's source URI; test/python/airflow/test_execute.py the --models-root the DAG sends); the
    registry writes them there. Whether or not BigQuery's one '*' matches across '/', no other file of a saved version may end
    in /metadata.json, or the table would read a model file as a version."""
    pattern = f"{LAB['models_prefix']}/*/{LAB['model_metadata_file']}"
    prefix, suffix = pattern.split("*")
    assert pattern.count("*") == 1 and suffix == f"/{METADATA_FILE}"
    ending = [p.relative_to(models_root).as_posix() for p in models_root.rglob("*") if p.is_file()]
    assert [p for p in ending if p.endswith(suffix)] == [f"v-test/{METADATA_FILE}"]


def test_a_metadata_file_bigquery_could_not_read_is_named(spark, models_root, tmp_path):
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    (tmp_path / "v-old").mkdir()
    (tmp_path / "v-old" / METADATA_FILE).write_text(json.dumps(meta, indent=2))  # as written before one-line files
    with pytest.raises(JobError, match=r"v-old/metadata.json is not one JSON line"):
        read_model_versions(spark, str(tmp_path))
    (tmp_path / "v-old" / METADATA_FILE).write_text(json.dumps({**meta, "owner": "me"}) + "\n")
    with pytest.raises(JobError, match=r"v-old/metadata.json: record for model_versions .* owner is not a column"):
        read_model_versions(spark, str(tmp_path))


def test_latest_orders_by_time_not_by_text(spark, models_root):
    """An older file may say 2026-01-01T..., a newer one 2026-01-01 ...: compare times, not strings."""
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    folders = {"v-a": "2998-01-01T10:00:00+00:00", "v-b": "2998-01-01 09:00:00+00:00"}
    try:
        for version, trained_at in folders.items():
            (models_root / version).mkdir()
            (models_root / version / METADATA_FILE).write_text(json.dumps({**meta, "version": version, "trained_at": trained_at}))
        assert resolve_model_version(spark, str(models_root), "latest")["version"] == "v-a"
    finally:
        for version in folders:
            (models_root / version / METADATA_FILE).unlink()
            (models_root / version).rmdir()


def score(spark, models_root, input_path, out, pipeline_id, batch_id):
    cfg = scoring.parse_args(
        [
            *("--pipeline-id", pipeline_id, "--input", str(input_path), "--models-root", str(models_root)),
            *("--sink", "local", "--output", str(out), "--execution-ts", "2026-01-31T12:00:00Z", "--batch-id", batch_id),
        ]
    )
    return cfg, scoring.run(spark, cfg)


def test_each_run_writes_its_run_row_and_a_rerun_replaces_it(spark, models_root, sample_files, tmp_path):
    out = tmp_path / "out"
    score(spark, models_root, sample_files["scoring"], out, "run-a", "s8s-score-run-a-a1")
    cfg, summary = score(spark, models_root, sample_files["scoring"], out, "run-a", "s8s-score-run-a-a2")
    score(spark, models_root, sample_files["scoring"], out, "run-b", "s8s-score-run-b-a1")

    runs = spark.read.parquet(str(out / RUNS_TABLE))
    assert sorted(runs.columns) == sorted(f.name for f in spark_schema(RUNS_TABLE).fields)
    rows = {r.pipeline_id: r for r in runs.collect()}
    assert sorted(rows) == ["run-a", "run-b"], "a re-run replaces its row"
    a = rows["run-a"]
    assert a.batch_id == "s8s-score-run-a-a2" and a.model_version == "v-test"
    assert a.input_uri == str(sample_files["scoring"])
    assert (a.read, a.scored, a.rejected) == (summary["read"], summary["scored"], summary["rejected"])
    assert a.read == a.scored + a.rejected and a.rejected > 0
    assert a.pipeline_execution_dt.replace(tzinfo=timezone.utc) == datetime(2026, 1, 31, 12, tzinfo=timezone.utc)
    assert cfg.started_at.replace(tzinfo=None) <= a.started_at <= a.ended_at

    # The reconciliation the check task runs in BigQuery, here on the local tables.
    predictions = spark.read.parquet(str(out / PREDICTIONS_TABLE)).where("pipeline_id = 'run-a'").count()
    rejects = spark.read.parquet(str(out / REJECTS_TABLE)).where("pipeline_id = 'run-a'").count()
    assert (predictions, rejects) == (a.scored, a.rejected)
