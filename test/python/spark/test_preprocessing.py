"""Preprocessing and validation units on tiny frames."""

from __future__ import annotations

import pytest

from pyspark.sql import functions as F
from pyspark.sql import types as T
from s8s_churn.contract import (
    CORRUPT_COLUMN,
    INPUT_COLUMNS,
    LABEL_COLUMN,
    PREDICTIONS_TABLE,
    REJECT_REASON,
    REJECTS_TABLE,
    RENAMES,
    conform,
    load_table_schemas,
    spark_schema,
)
from s8s_churn.features import preprocess
from s8s_churn.job import JobError
from s8s_churn.registry import check_model_version
from s8s_churn.validation import validate

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
            row.setdefault(LABEL_COLUMN, label)
        row[CORRUPT_COLUMN] = o.get(CORRUPT_COLUMN)
        rows.append(row)
    columns = INPUT_COLUMNS + ([LABEL_COLUMN] if label is not None else []) + [CORRUPT_COLUMN]
    schema = T.StructType([T.StructField(c, T.StringType(), True) for c in columns])
    return spark.createDataFrame([[r.get(c) for c in columns] for r in rows], schema)


def test_snake_case_names_match_the_table():
    assert RENAMES["customerID"] == "customer_id"
    assert RENAMES["StreamingTV"] == "streaming_tv"
    assert RENAMES["SeniorCitizen"] == "senior_citizen"
    assert RENAMES["PaymentMethod"] == "payment_method"
    table = {c["name"] for c in load_table_schemas()[PREDICTIONS_TABLE]}
    assert set(RENAMES.values()) - {"churn"} <= table


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
        ({CORRUPT_COLUMN: "a,b,c"}, "malformed CSV row (wrong number of fields or bad quoting)"),
    ],
)
def test_validate_names_column_value_and_expectation(spark, override, reason):
    row = validate(frame(spark, override), with_label=False).first()
    assert row[REJECT_REASON] == reason


def test_validate_keeps_new_customers_and_unknown_categories(spark):
    df = frame(spark, {"TotalCharges": " ", "tenure": "0"}, {"PaymentMethod": "Bitcoin"}, {"gender": None})
    assert [r[REJECT_REASON] for r in validate(df, with_label=False).collect()] == [None, None, None]


def test_validate_lists_every_problem_of_a_row(spark):
    row = validate(frame(spark, {"SeniorCitizen": "x", "tenure": "y"}), with_label=False).first()
    assert row[REJECT_REASON] == "SeniorCitizen: 'x' is not 0 or 1; tenure: 'y' is not a whole number of months"


def test_validate_checks_the_label_when_training(spark):
    row = validate(frame(spark, {LABEL_COLUMN: "Maybe"}, label="Yes"), with_label=True).first()
    assert row[REJECT_REASON] == "Churn: 'Maybe' is not Yes or No"


def test_validate_refuses_wrongly_typed_columns(spark):
    df = frame(spark, {}).withColumn("tenure", F.lit(5))
    with pytest.raises(JobError, match="column tenure is int, expected string"):
        validate(df, with_label=False)


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
    rows = preprocess(validate(df, with_label=False)).collect()
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
    rows = preprocess(validate(frame(spark, {}, {LABEL_COLUMN: "No"}, label="Yes"), with_label=True)).collect()
    assert [r.label for r in rows] == [1.0, 0.0]


def test_conform_orders_columns_and_refuses_missing_ones(spark):
    df = spark.createDataFrame([("x",)], ["customer_id"])
    with pytest.raises(JobError, match=r"output for batch_rejects lacks column\(s\) \['reject_reason'"):
        conform(df, REJECTS_TABLE)


def test_spark_schema_follows_table_schemas_json():
    columns = load_table_schemas()[PREDICTIONS_TABLE]
    schema = spark_schema(PREDICTIONS_TABLE)
    assert schema.fieldNames() == [c["name"] for c in columns]
    assert schema["tenure"].dataType == T.LongType()
    assert schema["churn_probability"].dataType == T.DoubleType()
    assert schema["pipeline_execution_dt"].dataType == T.TimestampType()


@pytest.mark.parametrize("version", ["latest", "v1", "2026.01.31_a-b"])
def test_model_versions_that_are_accepted(version):
    assert check_model_version(version, allow_latest=True) == version


@pytest.mark.parametrize("version", ["", "V1", "v 1", "-v1", "a" * 64, "../x"])
def test_model_versions_that_are_refused(version):
    with pytest.raises(JobError, match="is not valid"):
        check_model_version(version, allow_latest=True)


def test_latest_is_not_a_name_for_a_new_version():
    with pytest.raises(JobError):
        check_model_version("latest", allow_latest=False)
