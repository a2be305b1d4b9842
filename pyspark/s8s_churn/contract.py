"""The data contract: the input columns (the IBM Telco churn export) and the output tables,
whose one definition is table_schemas.json (the stack creates the BigQuery tables from it)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from s8s_churn.job import JobError

INPUT_COLUMNS = [
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
]
LABEL_COLUMN = "Churn"
CORRUPT_COLUMN = "_corrupt_record"
REJECT_REASON = "reject_reason"

INTERNET_ADDONS_RAW = ["OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies"]


def snake_case(name: str) -> str:
    """customerID -> customer_id, StreamingTV -> streaming_tv, SeniorCitizen -> senior_citizen."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.lower()


def is_blank(c: Column) -> Column:
    """An empty or all-space field: what the export writes for a new customer's TotalCharges."""
    return c.isNull() | (F.trim(c) == "")


RENAMES = {c: snake_case(c) for c in INPUT_COLUMNS + [LABEL_COLUMN]}
INTERNET_ADDONS = [RENAMES[c] for c in INTERNET_ADDONS_RAW]

SCHEMA_FILE = "table_schemas.json"
# The names the stack, the jobs and the DAGs share, each written once (lib/contract.ts reads the same file).
CONTRACT_FILE = "lab_contract.json"
LAB: dict = json.loads(resources.files(__package__).joinpath(CONTRACT_FILE).read_text(encoding="utf-8"))
DATASET_ID: str = LAB["dataset_id"]
PREDICTIONS_TABLE: str = LAB["tables"]["predictions"]
REJECTS_TABLE: str = LAB["tables"]["rejects"]
RUNS_TABLE: str = LAB["tables"]["runs"]
MODEL_VERSIONS_TABLE: str = LAB["tables"]["registry"]
DRIFT_TABLE: str = LAB["tables"]["drift"]
_BQ_TO_SPARK = {
    "STRING": T.StringType(),
    "INT64": T.LongType(),
    "FLOAT64": T.DoubleType(),
    "TIMESTAMP": T.TimestampType(),
    "BOOL": T.BooleanType(),
}
# What a JSON value of each column type may be in a record checked by check_record.
_BQ_TO_PYTHON: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "INT64": (int,),
    "FLOAT64": (int, float),
    "TIMESTAMP": (str, datetime),
    "RECORD": (dict,),
    "BOOL": (bool,),
}


def load_table_schemas() -> dict[str, list[dict]]:
    """Reads table_schemas.json from the package itself (importlib.resources), so it is found the same
    way in the repository, in the archive the batch ships (python_file_uris) and in a test."""
    doc = json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _spark_type(column: dict) -> T.DataType:
    base = _struct(column["fields"]) if column["type"] == "RECORD" else _BQ_TO_SPARK[column["type"]]
    return T.ArrayType(base, True) if column.get("mode") == "REPEATED" else base


def _struct(columns: list[dict]) -> T.StructType:
    return T.StructType([T.StructField(c["name"], _spark_type(c), True) for c in columns])


def spark_schema(table: str) -> T.StructType:
    return _struct(load_table_schemas()[table])


def check_record(record: dict, table: str) -> None:
    """Raises a JobError naming each key of a JSON record (and of its nested records) that the
    table lacks or whose value has the wrong type: BigQuery would refuse such a row."""
    problems = _record_problems(record, load_table_schemas()[table], "")
    if problems:
        raise JobError(f"record for {table} does not fit its schema: {'; '.join(problems)}")


def _record_problems(record: dict, columns: list[dict], prefix: str) -> list[str]:
    by_name = {c["name"]: c for c in columns}
    problems = [f"{prefix}{k} is not a column (columns: {sorted(by_name)})" for k in record if k not in by_name]
    for name, value in record.items():
        column = by_name.get(name)
        if column is None or value is None:
            continue
        if column.get("mode") == "REPEATED":
            if not isinstance(value, list):
                problems.append(f"{prefix}{name} is {value!r}, expected a list (REPEATED {column['type']})")
                continue
            for i, item in enumerate(value):
                problems += _value_problems(item, column, f"{prefix}{name}[{i}]")
        else:
            problems += _value_problems(value, column, f"{prefix}{name}")
    return problems


def _value_problems(value, column: dict, where: str) -> list[str]:
    allowed = _BQ_TO_PYTHON[column["type"]]
    # bool is an int in Python: only a BOOL column takes it.
    if value is None or (isinstance(value, allowed) and (column["type"] == "BOOL" or not isinstance(value, bool))):
        return _record_problems(value, column["fields"], f"{where}.") if column["type"] == "RECORD" and value else []
    return [f"{where} is {value!r}, expected a {column['type']} value"]


def conform(df: DataFrame, table: str) -> DataFrame:
    """Selects exactly the table's columns, in its order and types; a missing one is an error."""
    schema = spark_schema(table)
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise JobError(f"output for {table} lacks column(s) {missing}; the table has {schema.fieldNames()}")
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
