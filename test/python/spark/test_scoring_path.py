"""The scoring hot path (issue 11): the logistic model as SQL against Spark ML's own scores, its
held-out quality, counts taken while writing, and the reconciliation that still fails the job."""

from __future__ import annotations

import json

import pytest

from conftest import job_args, write_csv
from local import sample_data
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Observation
from pyspark.sql import functions as F
from s8s_churn import scoring, training
from s8s_churn.contract import INPUT_COLUMNS, REJECTS_TABLE, RUNS_TABLE
from s8s_churn.features import valid_features
from s8s_churn.job import JobError, run_main
from s8s_churn.model import (
    CATEGORICAL_FEATURES,
    LOGISTIC_FILE,
    LogisticModel,
    category_levels,
    design,
    load_model,
    with_feature_vector,
)
from s8s_churn.registry import METADATA_FILE
from s8s_churn.validation import checked_rows

# The forest this model replaced reached a held-out AUC of 0.8187 on the lab's training sample;
# issue 11 lets the replacement lose at most 0.005 of it.
FOREST_AUC = 0.8187
AUC_BOUND = FOREST_AUC - 0.005


def test_the_default_model_keeps_the_held_out_auc_within_the_bound(models_root):
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    assert meta["metrics"]["auc"] >= AUC_BOUND, meta["metrics"]


def test_sql_scores_equal_spark_ml_logistic_regression_on_the_same_rows(spark, sample_files, tmp_path):
    train = valid_features(checked_rows(spark, str(sample_files["training"]), with_label=True)).cache()
    model, reference = LogisticModel.fit(train)
    header = INPUT_COLUMNS
    odd = dict(zip(INPUT_COLUMNS, ["X1", "", "0", "No", "No", "5", "Yes", "No", "DSL"] + ["No"] * 6, strict=False))
    odd.update(Contract="Ten year", PaperlessBilling="Yes", PaymentMethod="Bitcoin", MonthlyCharges="50.00", TotalCharges="")
    extra = write_csv(tmp_path / "odd.csv", header, [[odd[c] for c in header]])
    rows = valid_features(checked_rows(spark, str(sample_files["scoring"]), with_label=False)).unionByName(
        valid_features(checked_rows(spark, str(extra), with_label=False))
    )

    ours = model.score(rows).select("customer_id", "churn_probability", "prediction")
    theirs = reference.transform(with_feature_vector(rows, design(category_levels(train)))).select(
        "customer_id",
        vector_to_array("probability")[1].alias("ref_probability"),
        F.col("prediction").cast("long").alias("ref_prediction"),
    )
    joined = ours.join(theirs, "customer_id").collect()
    assert len(joined) == rows.count() == 396  # 395 scorable sample rows and the odd one
    worst = max(abs(r.churn_probability - r.ref_probability) for r in joined)
    assert worst < 1e-9, worst
    assert all(r.prediction == r.ref_prediction for r in joined)
    # The odd row's blank gender, unseen contract and payment method add nothing, as in Spark ML.
    assert any(r.customer_id == "X1" for r in joined)


def test_a_saved_model_loads_without_spark_ml_and_bad_files_are_named(spark, models_root, tmp_path):
    model = load_model(spark, str(models_root), "v-test")
    assert isinstance(model, LogisticModel) and sorted(model.categorical) == sorted(CATEGORICAL_FEATURES)
    broken = tmp_path / "models" / "v-bad" / "model"
    broken.mkdir(parents=True)
    doc = json.loads((models_root / "v-test" / "model" / LOGISTIC_FILE).read_text())
    doc["numeric"]["tenure"] = "fast"
    (broken / LOGISTIC_FILE).write_text(json.dumps(doc))
    with pytest.raises(JobError, match=r"v-bad.*numeric is .*expected a weight for each of"):
        load_model(spark, str(tmp_path / "models"), "v-bad")


def test_versions_trained_as_a_forest_still_score(spark, sample_files, tmp_path):
    root = tmp_path / "models"
    args = ["--input", str(sample_files["training"]), "--models-root", str(root), "--model-version", "v-forest"]
    training.train(spark, training.parse_args([*args, "--model", "forest", "--num-trees", "5", "--max-depth", "4"]))
    assert (root / "v-forest" / "model" / "stages").is_dir()
    summary = scoring.run(spark, scoring.parse_args(job_args(root, sample_files["scoring"], tmp_path / "out")))
    assert (summary["read"], summary["scored"], summary["rejected"]) == (400, 395, 5)


def test_a_row_lost_while_scoring_fails_the_job_and_records_no_run(spark, models_root, sample_files, tmp_path, monkeypatch):
    real_predict = scoring.predict  # a scoring step that loses one row, as a bad join or filter would
    lossy = lambda model, rows: real_predict(model, rows).where("customer_id NOT LIKE 'S0000007-%'")  # noqa: E731
    monkeypatch.setattr(scoring, "predict", lossy)
    out = tmp_path / "out"
    with pytest.raises(JobError, match=r"reconciliation failed: read 400 rows but scored 394 and rejected 5"):
        scoring.run(spark, scoring.parse_args(job_args(models_root, sample_files["scoring"], out)))
    assert not (out / RUNS_TABLE).exists(), "a failed reconciliation must not report the run as complete"
    assert run_main(scoring.main, job_args(models_root, sample_files["scoring"], out)) == 2


def test_counts_not_reported_by_the_write_fail_the_job_instead_of_waiting(spark, monkeypatch):
    monkeypatch.setattr(scoring, "METRICS_WAIT_S", 0.5)
    never_written = Observation("never_written")
    spark.range(3).observe(never_written, F.count(F.lit(1)).alias("rows"))
    with pytest.raises(JobError, match=r"counts \['rows'\] of the test frame were not reported"):
        scoring.observed(never_written, "the test frame", ("rows",))


def test_a_clean_rerun_empties_the_run_s_earlier_rejects(spark, models_root, sample_files, tmp_path):
    out = tmp_path / "out"
    first = scoring.run(spark, scoring.parse_args(job_args(models_root, sample_files["scoring"], out)))
    assert first["rejected"] == 5
    clean = tmp_path / "clean.csv"
    sample_data.write_csv(clean, sample_data.customers(50, 7, False, "C"), False)
    second = scoring.run(spark, scoring.parse_args(job_args(models_root, clean, out)))
    assert (second["read"], second["scored"], second["rejected"], second["reject_reasons"]) == (50, 50, 0, [])
    assert spark.read.parquet(str(out / REJECTS_TABLE)).where("pipeline_id = 'run-1'").count() == 0
    predictions = spark.read.parquet(str(out / "batch_predictions")).where("pipeline_id = 'run-1'")
    assert predictions.count() == 50 and sum(second["predictions"].values()) == 50


def test_the_written_rows_are_counted_where_only_projections_follow(spark, models_root, sample_files, tmp_path, monkeypatch):
    """The predictions' count is taken as the scores leave the model; a filter or join after it
    would lose rows the reconciliation cannot see, so the plan above it must be projections only."""
    from s8s_churn.sinks import LocalSink

    plans, real_replace = [], LocalSink.replace

    def replace(self, spark_, table, pipeline_id, rows):
        if table == "batch_predictions":
            plans.append(rows._jdf.queryExecution().optimizedPlan().toString().splitlines())
        return real_replace(self, spark_, table, pipeline_id, rows)

    monkeypatch.setattr(LocalSink, "replace", replace)
    scoring.run(spark, scoring.parse_args(job_args(models_root, sample_files["scoring"], tmp_path / "out")))
    lines = plans[0]
    counted = next(i for i, line in enumerate(lines) if "CollectMetrics predictions_written" in line)
    assert counted > 0 and all(line.lstrip(" +-:").startswith("Project ") for line in lines[:counted]), lines[: counted + 1]
