"""Train -> score end to end on the local SparkSession, and the jobs' failure modes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import JOBS, job_args, write_csv
from s8s_churn import scoring, training
from s8s_churn.contract import INPUT_COLUMNS, PREDICTIONS_TABLE, REJECTS_TABLE, load_table_schemas, spark_schema
from s8s_churn.job import JobError, run_main
from s8s_churn.registry import METADATA_FILE, resolve_model_version


def score(spark, models_root, tmp_path, input_path, pipeline_id="run-1", version="latest"):
    cfg = scoring.parse_args(job_args(models_root, input_path, tmp_path / "out", pipeline_id, version))
    return scoring.run(spark, cfg)


def test_training_registers_a_version_with_held_out_metrics(models_root):
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    assert meta["version"] == "v-test"
    assert meta["rows_read"] == 7000 and meta["rows_rejected"] == 0
    m = meta["metrics"]
    assert m["auc"] >= 0.75, m
    assert 0.6 <= m["accuracy"] <= 1.0 and 0 < m["precision"] <= 1 and 0 < m["recall"] <= 1
    assert 1000 <= m["test_rows"] <= 1800  # about 20% held out
    assert (models_root / "v-test" / "model" / "logistic.json").is_file()  # the default model: its coefficients


def test_scoring_reconciles_and_writes_the_table_schema(spark, models_root, sample_files, tmp_path):
    summary = score(spark, models_root, tmp_path, sample_files["scoring"])
    assert summary["read"] == 400
    assert summary["read"] == summary["scored"] + summary["rejected"]
    assert summary["rejected"] == 5
    assert summary["model_version"] == "v-test"
    assert sum(summary["predictions"].values()) == summary["scored"]

    predictions = spark.read.parquet(str(tmp_path / "out" / PREDICTIONS_TABLE))
    table = load_table_schemas()
    expected = {f.name: f.dataType for f in spark_schema(PREDICTIONS_TABLE).fields}
    actual = {f.name: f.dataType for f in predictions.schema.fields}
    # Partition discovery reads pipeline_id back from the folder name, as a string.
    assert actual == expected
    assert predictions.count() == summary["scored"]
    assert predictions.where("customer_id IS NULL OR prediction IS NULL OR churn_probability IS NULL").count() == 0
    assert predictions.where("pipeline_id != 'run-1' OR model_version != 'v-test'").count() == 0

    rejects = spark.read.parquet(str(tmp_path / "out" / REJECTS_TABLE))
    assert {f.name for f in rejects.schema.fields} == {c["name"] for c in table[REJECTS_TABLE]}
    reasons = sorted(r.reject_reason for r in rejects.collect())
    assert "tenure: 'twelve' is not a whole number of months" in reasons
    raw = json.loads(rejects.where("reject_reason LIKE 'tenure%'").first().raw_record)
    assert raw["tenure"] == "twelve" and raw["customerID"].startswith("S")


def test_new_customers_and_unseen_categories_are_scored(spark, models_root, tmp_path):
    import csv

    header = INPUT_COLUMNS
    good = next(csv.DictReader((JOBS / "data" / "scoring.csv").open(encoding="utf-8")))
    rows = [
        [good[c] for c in header],
        [{**good, "customerID": "NEW-1", "tenure": "0", "TotalCharges": ""}[c] for c in header],
        [{**good, "customerID": "ODD-1", "PaymentMethod": "Bitcoin", "Contract": "Ten year"}[c] for c in header],
    ]
    summary = score(spark, models_root, tmp_path, write_csv(tmp_path / "in.csv", header, rows))
    assert (summary["read"], summary["scored"], summary["rejected"]) == (3, 3, 0)
    out = {r.customer_id: r for r in spark.read.parquet(str(tmp_path / "out" / PREDICTIONS_TABLE)).collect()}
    assert out["NEW-1"].total_charges is None and out["NEW-1"].tenure_group == "Tenure_0-12"
    assert out["ODD-1"].payment_method == "Bitcoin" and out["ODD-1"].prediction in (0, 1)


def test_rerun_of_a_pipeline_replaces_its_rows(spark, models_root, sample_files, tmp_path):
    first = score(spark, models_root, tmp_path, sample_files["scoring"], pipeline_id="run-a")
    score(spark, models_root, tmp_path, sample_files["scoring"], pipeline_id="run-a")
    score(spark, models_root, tmp_path, sample_files["scoring"], pipeline_id="run-b")
    predictions = spark.read.parquet(str(tmp_path / "out" / PREDICTIONS_TABLE))
    counts = {r.pipeline_id: r["count"] for r in predictions.groupBy("pipeline_id").count().collect()}
    assert counts == {"run-a": first["scored"], "run-b": first["scored"]}
    rejects = spark.read.parquet(str(tmp_path / "out" / REJECTS_TABLE))
    assert rejects.where("pipeline_id = 'run-a'").count() == first["rejected"]


def test_latest_picks_the_newest_and_unknown_versions_fail(spark, models_root, sample_files, tmp_path):
    newer = models_root / "v-newer"
    newer.mkdir()
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    (newer / METADATA_FILE).write_text(json.dumps({**meta, "version": "v-newer", "trained_at": "2999-01-01T00:00:00+00:00"}))
    (models_root / "v-interrupted").mkdir()  # no metadata: never picked
    try:
        assert resolve_model_version(spark, str(models_root), "latest")["version"] == "v-newer"
        assert resolve_model_version(spark, str(models_root), "v-test")["version"] == "v-test"
        with pytest.raises(JobError, match=r"model version 'v-interrupted' not found .* available: \['v-newer', 'v-test'\]"):
            resolve_model_version(spark, str(models_root), "v-interrupted")
        # v-newer has metadata but no model: scoring with it fails and says where it looked.
        with pytest.raises(JobError, match=r"model 'v-newer' at .*v-newer/model does not load"):
            score(spark, models_root, tmp_path, sample_files["scoring"], version="latest")
    finally:
        (newer / METADATA_FILE).unlink()
        newer.rmdir()
        (models_root / "v-interrupted").rmdir()


def test_no_model_at_all_is_a_clear_error(spark, tmp_path, sample_files):
    with pytest.raises(JobError, match="no trained model under .*; train one first"):
        score(spark, tmp_path / "empty", tmp_path, sample_files["scoring"])


def test_missing_column_names_the_column(spark, models_root, tmp_path):
    header = [c for c in INPUT_COLUMNS if c != "MonthlyCharges"]
    path = write_csv(tmp_path / "in.csv", header, [["x"] * len(header)])
    with pytest.raises(JobError, match=r"missing column\(s\) \['MonthlyCharges'\]"):
        score(spark, models_root, tmp_path, path)


def test_malformed_rows_are_rejected_not_dropped(spark, models_root, tmp_path, sample_files):
    lines = sample_files["scoring"].read_text(encoding="utf-8").splitlines()[:4]
    lines.append(lines[1] + ",surplus")  # one field too many
    lines.append("short,row")
    path = tmp_path / "dirty.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = score(spark, models_root, tmp_path, path)
    assert (summary["read"], summary["scored"], summary["rejected"]) == (5, 3, 2)
    assert any(r["reason"].startswith("malformed CSV row") for r in summary["reject_reasons"])


def test_arguments_are_parsed_strictly():
    base = ["--pipeline-id", "p1", "--input", "x", "--models-root", "m", "--sink", "local", "--output", "o"]
    assert scoring.parse_args(base).show_samples is False
    assert scoring.parse_args(base + ["--show-samples"]).show_samples is True
    assert scoring.parse_args(base + ["--no-show-samples"]).show_samples is False
    for bad in (["--show-samples", "False"], ["--model-version", "Bad Version"], ["--execution-ts", "yesterday"]):
        with pytest.raises(SystemExit) as e:
            scoring.parse_args(base + bad)
        assert e.value.code == 2
    with pytest.raises(SystemExit):
        scoring.parse_args(["--pipeline-id", "Has Spaces", *base[2:]])
    with pytest.raises(SystemExit):
        scoring.parse_args([*base[:7], "bigquery"])  # --sink bigquery without project/dataset/bucket


def test_a_failing_job_exits_non_zero(models_root, tmp_path):
    """A real process: the exit code is what Dataproc (and so Airflow) sees."""
    missing = tmp_path / "nope.csv"
    result = subprocess.run(
        [
            sys.executable,
            str(JOBS / "batch_scoring.py"),
            "--pipeline-id",
            "p1",
            "--input",
            str(missing),
            "--models-root",
            str(models_root),
            "--sink",
            "local",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"ERROR: input {missing} does not exist" in result.stderr
    assert not (tmp_path / "o").exists()


def test_training_input_errors_exit_non_zero(spark, tmp_path):
    header = INPUT_COLUMNS  # no Churn column
    path = write_csv(tmp_path / "t.csv", header, [["x"] * len(header)])
    code = run_main(training.main, ["--input", str(path), "--models-root", str(tmp_path / "m")])
    assert code == 2
    assert not (tmp_path / "m").exists()


def test_header_is_read_from_compressed_files_and_folders(spark, models_root, tmp_path, sample_files):
    """The header check reads one line on the driver; it must see what Spark's CSV reader sees:
    a gzip file (decompressed) and a folder of part files (its bookkeeping files skipped)."""
    import gzip

    text = sample_files["scoring"].read_text(encoding="utf-8")
    zipped = tmp_path / "in.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode("utf-8")))
    summary = score(spark, models_root, tmp_path, zipped, pipeline_id="gz")
    assert (summary["read"], summary["rejected"]) == (400, 5)

    lines = text.splitlines()
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "_SUCCESS").write_text("")
    (folder / "part-0.csv").write_text("\n".join([lines[0], *lines[1:201]]) + "\n", encoding="utf-8")
    (folder / "part-1.csv").write_text("\n".join([lines[0], *lines[201:]]) + "\n", encoding="utf-8")
    summary = score(spark, models_root, tmp_path, folder, pipeline_id="parts")
    assert (summary["read"], summary["rejected"]) == (400, 5)

    (folder / "part-0.csv").write_text("", encoding="utf-8")  # an empty first part: the header is in the next
    (folder / "part-1.csv").write_text("\n".join([lines[0], *lines[1:]]) + "\n", encoding="utf-8")
    assert score(spark, models_root, tmp_path, folder, pipeline_id="parts")["read"] == 400

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(JobError, match="is empty; expected a CSV file with a header line"):
        score(spark, models_root, tmp_path, empty, pipeline_id="empty")
