"""Preprocessing and validation units on tiny frames."""

from __future__ import annotations

import pytest

import common_utils as cu
from pyspark.sql import types as T

GOOD = {
    "customerID": "C1",
    "gender": "Female",
    "SeniorCitizen": "0",
    "Partner": "Yes",
    "Dependents": "No",
    "tenure": "5",
    "PhoneService": "Yes",
    "MultipleLines": "No",
    "InternetService": "Fiber optic",
    "OnlineSecurity": "No internet service",
    "OnlineBackup": "Yes",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "Yes",
    "StreamingMovies": "No",
    "Contract": "Month-to-month",
    "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": "70.35",
    "TotalCharges": "351.75",
}


def frame(spark, *overrides: dict, label: str | None = None):
    rows = []
    for o in overrides:
        row = {**GOOD, **o}
        if label is not None:
            row.setdefault(cu.LABEL_COLUMN, label)
        row[cu.CORRUPT_COLUMN] = o.get(cu.CORRUPT_COLUMN)
        rows.append(row)
    columns = cu.INPUT_COLUMNS + ([cu.LABEL_COLUMN] if label is not None else []) + [cu.CORRUPT_COLUMN]
    schema = T.StructType([T.StructField(c, T.StringType(), True) for c in columns])
    return spark.createDataFrame([[r.get(c) for c in columns] for r in rows], schema)


def test_snake_case_names_match_the_table():
    assert cu.RENAMES["customerID"] == "customer_id"
    assert cu.RENAMES["StreamingTV"] == "streaming_tv"
    assert cu.RENAMES["SeniorCitizen"] == "senior_citizen"
    assert cu.RENAMES["PaymentMethod"] == "payment_method"
    table = {c["name"] for c in cu.load_table_schemas()[cu.PREDICTIONS_TABLE]}
    assert set(cu.RENAMES.values()) - {"churn"} <= table


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"customerID": "  "}, "customerID: blank; expected an id"),
        ({"SeniorCitizen": "2"}, "SeniorCitizen: '2' is not 0 or 1"),
        ({"tenure": "-3"}, "tenure: '-3' is not a whole number of months"),
        ({"tenure": "1.5"}, "tenure: '1.5' is not a whole number of months"),
        ({"MonthlyCharges": "abc"}, "MonthlyCharges: 'abc' is not a non-negative amount"),
        ({"MonthlyCharges": None}, "MonthlyCharges: '' is not a non-negative amount"),
        ({"TotalCharges": "1,000.5"}, "TotalCharges: '1,000.5' is not a non-negative amount or blank"),
        ({cu.CORRUPT_COLUMN: "a,b,c"}, "malformed CSV row (wrong number of fields or bad quoting)"),
    ],
)
def test_validate_names_column_value_and_expectation(spark, override, reason):
    row = cu.validate(frame(spark, override), with_label=False).first()
    assert row[cu.REJECT_REASON] == reason


def test_validate_keeps_new_customers_and_unknown_categories(spark):
    df = frame(spark, {"TotalCharges": " ", "tenure": "0"}, {"PaymentMethod": "Bitcoin"}, {"gender": None})
    assert [r[cu.REJECT_REASON] for r in cu.validate(df, with_label=False).collect()] == [None, None, None]


def test_validate_lists_every_problem_of_a_row(spark):
    row = cu.validate(frame(spark, {"SeniorCitizen": "x", "tenure": "y"}), with_label=False).first()
    assert row[cu.REJECT_REASON] == "SeniorCitizen: 'x' is not 0 or 1; tenure: 'y' is not a whole number of months"


def test_validate_checks_the_label_when_training(spark):
    row = cu.validate(frame(spark, {cu.LABEL_COLUMN: "Maybe"}, label="Yes"), with_label=True).first()
    assert row[cu.REJECT_REASON] == "Churn: 'Maybe' is not Yes or No"


def test_validate_refuses_wrongly_typed_columns(spark):
    df = frame(spark, {}).withColumn("tenure", cu.F.lit(5))
    with pytest.raises(cu.JobError, match="column tenure is int, expected string"):
        cu.validate(df, with_label=False)


def test_preprocess_types_folds_and_bins(spark):
    df = frame(
        spark,
        {"TotalCharges": "", "tenure": "0"},
        {"tenure": "12"},
        {"tenure": "13"},
        {"tenure": "48"},
        {"tenure": "60"},
        {"tenure": "61"},
    )
    rows = cu.preprocess(cu.validate(df, with_label=False)).collect()
    assert [r.tenure_group for r in rows] == [
        "Tenure_0-12",
        "Tenure_0-12",
        "Tenure_12-24",
        "Tenure_24-48",
        "Tenure_48-60",
        "Tenure_gt_60",
    ]
    first = rows[0]
    assert first.total_charges is None  # blank stays NULL in the output
    assert first.total_charges_filled == 0.0  # the model sees what zero months cost
    assert first.online_security == "No"  # 'No internet service' folded
    assert first.online_backup == "Yes"
    assert isinstance(first.tenure, int) and isinstance(first.monthly_charges, float)
    assert "label" not in first.asDict()


def test_preprocess_adds_the_label_when_present(spark):
    rows = cu.preprocess(cu.validate(frame(spark, {}, {cu.LABEL_COLUMN: "No"}, label="Yes"), with_label=True)).collect()
    assert [r.label for r in rows] == [1.0, 0.0]


def test_conform_orders_columns_and_refuses_missing_ones(spark):
    df = spark.createDataFrame([("x",)], ["customer_id"])
    with pytest.raises(cu.JobError, match=r"output for batch_rejects lacks column\(s\) \['reject_reason'"):
        cu.conform(df, cu.REJECTS_TABLE)


def test_spark_schema_follows_table_schemas_json():
    columns = cu.load_table_schemas()[cu.PREDICTIONS_TABLE]
    schema = cu.spark_schema(cu.PREDICTIONS_TABLE)
    assert schema.fieldNames() == [c["name"] for c in columns]
    assert schema["tenure"].dataType == T.LongType()
    assert schema["churn_probability"].dataType == T.DoubleType()
    assert schema["pipeline_execution_dt"].dataType == T.TimestampType()


@pytest.mark.parametrize("version", ["latest", "v1", "2026.01.31_a-b"])
def test_model_versions_that_are_accepted(version):
    assert cu.check_model_version(version, allow_latest=True) == version


@pytest.mark.parametrize("version", ["", "V1", "v 1", "-v1", "a" * 64, "../x"])
def test_model_versions_that_are_refused(version):
    with pytest.raises(cu.JobError, match="is not valid"):
        cu.check_model_version(version, allow_latest=True)


def test_latest_is_not_a_name_for_a_new_version():
    with pytest.raises(cu.JobError):
        cu.check_model_version("latest", allow_latest=False)
