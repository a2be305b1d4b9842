"""Issue 24 on real rows: exact reason codes, the drift baseline and its measurement in the
scoring pass, and the promotion gate behind 'latest'."""

from __future__ import annotations

import json
import math

import pytest

from conftest import job_args, write_csv
from s8s_churn import scoring as batch_scoring
from s8s_churn import training as model_training
from s8s_churn.contract import DRIFT_TABLE, INPUT_COLUMNS, PREDICTIONS_TABLE, RUNS_TABLE
from s8s_churn.drift import EPSILON, js_distance, psi
from s8s_churn.job import JobError
from s8s_churn.model import LOGISTIC_FILE, REASON_COLUMNS, Reference, load_model
from s8s_churn.registry import METADATA_FILE, promotion_verdict, read_model_versions, resolve_model_version


def run_scoring(spark, models_root, input_path, out, pipeline_id="run-1", version="latest"):
    cfg = batch_scoring.parse_args(job_args(models_root, input_path, out, pipeline_id, version))
    return batch_scoring.run(spark, cfg)


@pytest.fixture(scope="module")
def scored(spark, models_root, sample_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    summary = run_scoring(spark, models_root, sample_files["scoring"], out)
    return summary, spark.read.parquet(str(out / PREDICTIONS_TABLE)), out


def contributions_by_hand(model, row) -> dict[str, float]:
    """Each input's contribution computed in Python from the saved coefficients and means."""
    ref = model.reference
    out = {}
    for column, weight in model.numeric.items():
        value = row["total_charges"] if column == "total_charges_filled" else row[column]
        if column == "total_charges_filled" and value is None:
            value = row["monthly_charges"] * row["tenure"]
        out["total_charges" if column == "total_charges_filled" else column] = weight * (value - ref.numeric_means[column])
    for column, weights in model.categorical.items():
        mean = sum(ref.category_shares[column].get(level, 0.0) * w for level, w in weights.items())
        out[column] = weights.get(row[column], 0.0) - mean
    return out


def test_base_plus_contributions_is_the_logit_on_every_row(spark, models_root, scored):
    _, predictions, _ = scored
    model = load_model(spark, str(models_root), "v-test")
    rows = predictions.collect()
    assert len(rows) == 395
    worst = 0.0
    for row in rows:
        parts = contributions_by_hand(model, row)
        worst = max(worst, abs(model.base_value() + sum(parts.values()) - row["churn_logit"]))
    assert worst < 1e-9, worst


def test_churn_probability_is_the_sigmoid_of_churn_logit(scored):
    _, predictions, _ = scored
    for row in predictions.collect():
        assert abs(1 / (1 + math.exp(-row["churn_logit"])) - row["churn_probability"]) < 1e-12
        assert row["prediction"] == (1 if row["churn_logit"] > 0 else 0)


def test_the_reasons_are_the_top_three_positive_contributions_ties_by_name(spark, models_root, scored):
    _, predictions, _ = scored
    model = load_model(spark, str(models_root), "v-test")
    with_three = 0
    for row in predictions.collect():
        parts = contributions_by_hand(model, row)
        expected = sorted(((-c, name) for name, c in parts.items() if c > 0))[:3]
        got = [row[c] for c in REASON_COLUMNS]
        got_present = [g for g in got if g is not None]
        assert [g["feature"] for g in got_present] == [name for _, name in expected], row["customer_id"]
        for g, (neg, _) in zip(got_present, expected, strict=True):
            assert abs(g["contribution"] + neg) < 1e-9
        assert got[len(got_present) :] == [None] * (3 - len(got_present))  # present ones first
        with_three += len(got_present) == 3
        if not got_present:
            assert row["reasons_note"].startswith("no input raises")
        else:
            assert row["reasons_note"] is None
    assert with_three > 300  # most customers have three


def test_a_reason_names_the_customers_value_and_blank_total_charges_is_its_own_value(spark, models_root, tmp_path):
    header = INPUT_COLUMNS
    row = dict(zip(header, ["N1", "Female", "0", "No", "No", "0", "Yes", "No", "Fiber optic"] + ["No"] * 6, strict=False))
    row.update(Contract="Month-to-month", PaperlessBilling="Yes", PaymentMethod="Electronic check", MonthlyCharges="99.5")
    row["TotalCharges"] = " "
    path = write_csv(tmp_path / "new.csv", header, [[row[c] for c in header]])
    run_scoring(spark, models_root, path, tmp_path / "out")
    got = spark.read.parquet(str(tmp_path / "out" / PREDICTIONS_TABLE)).first()
    reasons = {got[c]["feature"]: got[c]["value"] for c in REASON_COLUMNS if got[c] is not None}
    assert reasons.get("contract", "Month-to-month") == "Month-to-month"
    assert len(reasons) == 3 and got["churn_probability"] > 0.5, got
    model = load_model(spark, str(models_root), "v-test")
    parts = contributions_by_hand(model, got)
    assert abs(model.base_value() + sum(parts.values()) - got["churn_logit"]) < 1e-9
    # total_charges, if it is a reason, is shown as blank
    assert all(v == "(blank)" for f, v in reasons.items() if f == "total_charges")


def test_a_version_without_training_means_scores_without_reasons_and_without_drift(spark, models_root, sample_files, tmp_path):
    """A version trained before this change: logistic.json without reference, metadata without
    a baseline or a promotion record. Rows carry a note, the run's drift_status is no_baseline."""
    old_root = tmp_path / "models"
    (old_root / "v-old" / "model").mkdir(parents=True)
    doc = json.loads((models_root / "v-test" / "model" / LOGISTIC_FILE).read_text())
    del doc["reference"]
    (old_root / "v-old" / "model" / LOGISTIC_FILE).write_text(json.dumps(doc))
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    for key in ("drift_baseline", "promotion"):
        del meta[key]
    meta["version"] = "v-old"
    (old_root / "v-old" / METADATA_FILE).write_text(json.dumps(meta) + "\n")

    summary = run_scoring(spark, old_root, sample_files["scoring"], tmp_path / "out")
    assert summary["model_version"] == "v-old"  # no promotion record: counts as promoted
    assert summary["drift_status"] == "no_baseline" and summary["drift"] == {}
    predictions = spark.read.parquet(str(tmp_path / "out" / PREDICTIONS_TABLE))
    assert predictions.where("reason_1 IS NOT NULL OR churn_logit IS NULL").count() == 0
    notes = {r.reasons_note for r in predictions.select("reasons_note").distinct().collect()}
    assert notes == {"no reasons: this model version was trained before training means were recorded; re-train it to get reasons"}
    assert spark.read.parquet(str(tmp_path / "out" / DRIFT_TABLE)).count() == 0
    run = spark.read.parquet(str(tmp_path / "out" / RUNS_TABLE)).first()
    assert run.drift_status == "no_baseline"


def test_training_saves_a_drift_baseline_that_model_versions_reads(spark, models_root):
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    baseline = meta["drift_baseline"]
    by_name = {e["feature"]: e for e in baseline["features"]}
    assert baseline["rows"] + baseline["score_rows"] == 7000
    assert by_name["churn_probability"]["kind"] == "prediction" and len(by_name["churn_probability"]["edges"]) == 9
    tenure = by_name["tenure"]
    assert len(tenure["edges"]) >= 8 and tenure["edges"] == sorted(tenure["edges"])
    assert len(tenure["shares"]) == len(tenure["edges"]) + 2 and abs(sum(tenure["shares"]) - 1) < 1e-9
    contract = by_name["contract"]
    assert contract["levels"] == ["Month-to-month", "One year", "Two year"] and contract["shares"][-1] == 0.0
    assert by_name["total_charges"]["shares"][-1] > 0  # the blank bin: new customers
    # The external table's reader (BigQuery's JSON schema) takes the nested, repeated record.
    table = read_model_versions(spark, str(models_root)).collect()
    assert table[0]["drift_baseline"]["features"][0]["feature"] == "senior_citizen"
    assert table[0]["promotion"]["promoted"] is True


def test_the_sample_input_does_not_drift_and_the_bins_add_up(spark, scored):
    summary, _, out = scored
    assert summary["drift_status"] == "ok", summary["drift"]
    drift = spark.read.parquet(str(out / DRIFT_TABLE)).collect()
    assert len(drift) == 21  # 4 numbers, 16 categories, the score
    for r in drift:
        bins = json.loads(r.bins)
        assert r.rows == 395 and abs(sum(b["actual"] for b in bins) - 1) < 1e-5  # shares rounded to 6 places
        assert r.psi == pytest.approx(psi([b["expected"] for b in bins], [b["actual"] for b in bins]), abs=1e-5)
    run = spark.read.parquet(str(out / RUNS_TABLE)).first()
    assert run.drift_status == "ok"


def test_a_shifted_input_drifts_high_on_the_shifted_features(spark, models_root, sample_files, tmp_path):
    """Every customer on a two-year contract with charges 40 higher: contract, monthly_charges and
    the scores drift; the job still writes every row and names the features."""
    import csv

    with open(sample_files["scoring"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["Contract"] = "Two year"
        try:
            r["MonthlyCharges"] = f"{float(r['MonthlyCharges']) + 40:.2f}"
        except ValueError:
            pass
    path = write_csv(tmp_path / "shifted.csv", INPUT_COLUMNS, [[r[c] for c in INPUT_COLUMNS] for r in rows])
    summary = run_scoring(spark, models_root, path, tmp_path / "out")
    assert summary["scored"] == 395 and summary["drift_status"] == "high"
    high = {f for f, d in summary["drift"].items() if d["status"] == "high"}
    assert {"contract", "monthly_charges", "churn_probability"} <= high, summary["drift"]
    assert summary["drift"]["gender"]["status"] == "ok"


def test_psi_and_js_distance_by_their_definitions():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]) == pytest.approx(
        0.1 * math.log(0.5 / 0.4) * 2 + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    )
    assert js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint, base 2
    assert js_distance([0.3, 0.7], [0.3, 0.7]) == 0.0


def test_the_gate_refuses_a_weak_version_and_latest_skips_it(spark, models_root, sample_files, tmp_path):
    root = tmp_path / "models"
    for name in ("v-a", "v-weak"):
        (root / name).mkdir(parents=True)
        for f in ("model",):
            (root / name / f).symlink_to(models_root / "v-test" / f)
    meta = json.loads((models_root / "v-test" / METADATA_FILE).read_text())
    good = {**meta, "version": "v-a", "trained_at": "2026-01-01 00:00:00+00:00"}
    weak = {**meta, "version": "v-weak", "trained_at": "2026-02-01 00:00:00+00:00"}
    weak["metrics"] = {**meta["metrics"], "auc": 0.7}
    weak["promotion"] = promotion_verdict(0.7, good, 0.75, 0.02)
    for m in (good, weak):
        (root / m["version"] / METADATA_FILE).write_text(json.dumps(m) + "\n")
    assert weak["promotion"]["promoted"] is False
    assert "0.7000 is below the floor 0.7500" in weak["promotion"]["reason"]
    assert "below" in weak["promotion"]["reason"] and "v-a" in weak["promotion"]["reason"]
    assert resolve_model_version(spark, str(root), "latest")["version"] == "v-a"  # newest promoted
    assert resolve_model_version(spark, str(root), "v-weak")["version"] == "v-weak"  # by name still


def test_training_records_the_gates_verdict_against_the_promoted_version(spark, models_root, sample_files, tmp_path):
    root = tmp_path / "models"
    base = ["--input", str(sample_files["training"]), "--models-root", str(root)]
    first = model_training.train(spark, model_training.parse_args([*base, "--model-version", "v-1"]))
    assert first["promotion"]["promoted"] and first["promotion"]["compared_with"] is None
    # A floor above what the model reaches: trained, registered, not promoted.
    second = model_training.train(spark, model_training.parse_args([*base, "--model-version", "v-2", "--min-auc", "0.99"]))
    assert second["promotion"]["promoted"] is False and second["promotion"]["compared_with"] == "v-1"
    assert second["promotion"]["reason"].startswith("not promoted: held-out AUC")
    assert resolve_model_version(spark, str(root), "latest")["version"] == "v-1"
    with pytest.raises(SystemExit):
        model_training.parse_args([*base, "--min-auc", "1.5"])


def test_a_saved_reference_that_is_wrong_is_named(spark, models_root, tmp_path):
    broken = tmp_path / "models" / "v-bad" / "model"
    broken.mkdir(parents=True)
    doc = json.loads((models_root / "v-test" / "model" / LOGISTIC_FILE).read_text())
    doc["reference"]["numeric_means"] = {"tenure": 3}
    (broken / LOGISTIC_FILE).write_text(json.dumps(doc))
    with pytest.raises(JobError, match=r"reference.numeric_means is .*expected a mean for each of"):
        load_model(spark, str(tmp_path / "models"), "v-bad")
    assert isinstance(load_model(spark, str(models_root), "v-test").reference, Reference)


def test_the_stacks_variable_defaults_are_the_jobs_own_defaults():
    """The DAGs pass the drift thresholds and the promotion gate from Airflow variables whose
    defaults the stack sets (airflow/variables.json); run by hand, the jobs use their own."""
    from conftest import REPO
    from s8s_churn.drift import HIGH_PSI, MODERATE_PSI
    from s8s_churn.registry import DEFAULT_MAX_AUC_DROP, DEFAULT_MIN_AUC

    defaults = json.loads((REPO / "airflow" / "variables.json").read_text())["defaults"]
    assert {name: float(value) for name, value in defaults.items()} == {
        "drift_psi_moderate": MODERATE_PSI,
        "drift_psi_high": HIGH_PSI,
        "promotion_min_auc": DEFAULT_MIN_AUC,
        "promotion_max_auc_drop": DEFAULT_MAX_AUC_DROP,
    }
