"""The original lab's preprocessing, plus typing: pure DataFrame -> DataFrame functions."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from s8s_churn.contract import CORRUPT_COLUMN, INTERNET_ADDONS, REJECT_REASON, RENAMES, is_blank

TENURE_GROUPS = [(12, "Tenure_0-12"), (24, "Tenure_12-24"), (48, "Tenure_24-48"), (60, "Tenure_48-60")]
TENURE_GT_60 = "Tenure_gt_60"


def rename_columns(df: DataFrame) -> DataFrame:
    return df.select([F.col(c).alias(RENAMES.get(c, c)) for c in df.columns])


def cast_columns(df: DataFrame) -> DataFrame:
    """Types the validated text columns. Blank total_charges becomes NULL (new customers)."""
    return df.withColumns(
        {
            "senior_citizen": F.trim("senior_citizen").cast("long"),
            "tenure": F.trim("tenure").cast("long"),
            "monthly_charges": F.trim("monthly_charges").cast("double"),
            "total_charges": F.when(is_blank(F.col("total_charges")), None).otherwise(F.trim("total_charges")).cast("double"),
        }
    )


def fold_no_internet(df: DataFrame) -> DataFrame:
    """'No internet service' says the same as 'No' for the six internet add-ons."""
    return df.withColumns({c: F.when(F.col(c) == "No internet service", "No").otherwise(F.col(c)) for c in INTERNET_ADDONS})


def add_tenure_group(df: DataFrame) -> DataFrame:
    group = F.when(F.col("tenure") <= TENURE_GROUPS[0][0], TENURE_GROUPS[0][1])
    for upper, label in TENURE_GROUPS[1:]:
        group = group.when(F.col("tenure") <= upper, label)
    return df.withColumn("tenure_group", group.otherwise(TENURE_GT_60))


def add_model_inputs(df: DataFrame) -> DataFrame:
    """total_charges_filled: a new customer's total is what the months so far cost (zero)."""
    return df.withColumn("total_charges_filled", F.coalesce(F.col("total_charges"), F.col("monthly_charges") * F.col("tenure")))


def add_label(df: DataFrame) -> DataFrame:
    return df.withColumn("label", F.when(F.col("churn") == "Yes", 1.0).otherwise(0.0))


def preprocess(valid: DataFrame) -> DataFrame:
    """Validated input rows -> typed, cleaned rows with the model's inputs."""
    df = rename_columns(valid.drop(CORRUPT_COLUMN, REJECT_REASON))
    df = add_model_inputs(add_tenure_group(fold_no_internet(cast_columns(df))))
    return add_label(df) if "churn" in df.columns else df


def valid_features(checked: DataFrame) -> DataFrame:
    """The model's inputs of the rows validation left without a reject_reason."""
    return preprocess(checked.where(F.col(REJECT_REASON).isNull()))
