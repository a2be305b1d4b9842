"""Reading the customer CSV with an explicit schema and giving every unusable row its reasons."""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from s8s_churn.contract import CORRUPT_COLUMN, INPUT_COLUMNS, LABEL_COLUMN, REJECT_REASON, is_blank
from s8s_churn.job import JobError, first_line, path_exists


def read_header(spark: SparkSession, uri: str) -> list[str]:
    """The header line of a CSV file (or of the first file of a folder). Reads one line."""
    line = first_line(spark, uri)
    if not line:
        raise JobError(f"input {uri} is empty; expected a CSV file with a header line")
    return [h.strip().strip('"') for h in line.lstrip("\ufeff").split(",")]


def input_schema(header: Sequence[str]) -> T.StructType:
    """Every column as text, in the file's order; typing happens in validate() with reasons."""
    return T.StructType(
        [T.StructField(h, T.StringType(), True) for h in header] + [T.StructField(CORRUPT_COLUMN, T.StringType(), True)]
    )


def read_customers(spark: SparkSession, uri: str, with_label: bool) -> DataFrame:
    """Reads the customer CSV with an explicit schema (no inference) and checks its columns."""
    if not path_exists(spark, uri):
        raise JobError(f"input {uri} does not exist; expected a CSV file of customers")
    header = read_header(spark, uri)
    expected = INPUT_COLUMNS + ([LABEL_COLUMN] if with_label else [])
    missing = [c for c in expected if c not in header]
    if missing:
        raise JobError(f"input {uri} is missing column(s) {missing}; expected the columns {expected}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise JobError(f"input {uri} repeats column(s) {duplicated} in its header")
    df = (
        spark.read.schema(input_schema(header))
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .option("multiLine", False)
        .csv(uri)
    )
    return df.select(*expected, CORRUPT_COLUMN)


def require_columns(df: DataFrame, columns: dict[str, T.DataType]) -> None:
    """Raises a JobError naming each missing column or column of the wrong type."""
    actual = dict((f.name, f.dataType) for f in df.schema.fields)
    problems = []
    for name, dtype in columns.items():
        if name not in actual:
            problems.append(f"column {name} is missing")
        elif actual[name] != dtype:
            problems.append(f"column {name} is {actual[name].simpleString()}, expected {dtype.simpleString()}")
    if problems:
        raise JobError("; ".join(problems))


_WHOLE = r"^\s*[0-9]+\s*$"
_NUMBER = r"^\s*[0-9]+(\.[0-9]+)?\s*$"


def _quoted(name: str) -> Column:
    return F.concat(F.lit(f"{name}: '"), F.coalesce(F.col(name), F.lit("")), F.lit("'"))


def validate(df: DataFrame, with_label: bool) -> DataFrame:
    """Adds reject_reason: NULL for a row that can be scored, else every problem with the row.

    Blank TotalCharges is not a problem (new customers); unknown category values are not either
    (the model has a bucket for them). Values that cannot be typed are.
    """
    require_columns(df, {c: T.StringType() for c in INPUT_COLUMNS})
    checks = [
        F.when(F.col(CORRUPT_COLUMN).isNotNull(), F.lit("malformed CSV row (wrong number of fields or bad quoting)")),
        F.when(is_blank(F.col("customerID")), F.lit("customerID: blank; expected an id")),
        F.when(
            ~F.coalesce(F.col("SeniorCitizen"), F.lit("")).rlike(r"^\s*[01]\s*$"),
            F.concat(_quoted("SeniorCitizen"), F.lit(" is not 0 or 1")),
        ),
        F.when(
            ~F.coalesce(F.col("tenure"), F.lit("")).rlike(_WHOLE),
            F.concat(_quoted("tenure"), F.lit(" is not a whole number of months")),
        ),
        F.when(
            ~F.coalesce(F.col("MonthlyCharges"), F.lit("")).rlike(_NUMBER),
            F.concat(_quoted("MonthlyCharges"), F.lit(" is not a non-negative amount")),
        ),
        F.when(
            ~is_blank(F.col("TotalCharges")) & ~F.col("TotalCharges").rlike(_NUMBER),
            F.concat(_quoted("TotalCharges"), F.lit(" is not a non-negative amount or blank")),
        ),
    ]
    if with_label:
        checks.append(
            F.when(
                ~F.coalesce(F.col(LABEL_COLUMN), F.lit("")).isin("Yes", "No"),
                F.concat(_quoted(LABEL_COLUMN), F.lit(" is not Yes or No")),
            )
        )
    # concat_ws skips NULLs: the problems found, joined, without a lambda evaluated per row.
    reasons = F.concat_ws("; ", *checks)
    return df.withColumn(REJECT_REASON, F.when(reasons != "", reasons))


def checked_rows(spark: SparkSession, uri: str, with_label: bool) -> DataFrame:
    """The input as read (every column as text), each row with its reject_reason (NULL if usable)."""
    return validate(read_customers(spark, uri, with_label=with_label), with_label=with_label)
