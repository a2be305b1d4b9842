"""Where the scoring job's tables go: one code path, two places. Each write first removes the
run's earlier rows, so a retry or re-run of a pipeline_id replaces its rows instead of adding to them.

The BigQuery sink talks to BigQuery twice besides the connector's load jobs: a DELETE of the run's
earlier output rows and a MERGE of the run's row into batch_runs. Both go through the
google-cloud-bigquery client, which must be importable on the batch's image. The client is built
when the arguments are parsed (BigQuerySink.connect), before any Spark work, so a runtime without
it fails in seconds instead of after scoring every row.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lab_contract import RUNS_TABLE, check_record, load_table_schemas, spark_schema
from lab_job import JobError, hadoop_path
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger("s8s.sinks")


def run_row(
    *,
    pipeline_id: str,
    batch_id: str,
    model_version: str,
    input_uri: str,
    read: int,
    scored: int,
    rejected: int,
    started_at: datetime,
    ended_at: datetime,
    pipeline_execution_dt: datetime,
) -> dict[str, Any]:
    """The run's batch_runs row, in the table's column order."""
    values = dict(locals())
    columns = [c["name"] for c in load_table_schemas()[RUNS_TABLE]]
    if sorted(columns) != sorted(values):
        raise JobError(f"{RUNS_TABLE} has columns {columns}; the job builds {sorted(values)}")
    row = {c: values[c] for c in columns}
    check_record(row, RUNS_TABLE)
    return row


def one_row(spark: SparkSession, row: dict[str, Any], schema: T.StructType) -> DataFrame:
    """A one-row DataFrame of the schema, made of literals in the JVM. createDataFrame would import
    pandas and start a Python worker for one row: about 2 s of every local run (issue 11)."""

    def literal(value: Any, dtype: T.DataType):
        if isinstance(value, datetime):  # an ISO 8601 text with its offset casts exactly
            value = value.isoformat()
        return F.lit(value).cast(dtype)

    return spark.range(1, numPartitions=1).select([literal(row[f.name], f.dataType).alias(f.name) for f in schema.fields])


@dataclass(frozen=True)
class LocalSink:
    """Parquet tables under a folder, partitioned by pipeline_id (pipeline_id=<id>/)."""

    root: str

    def table_uri(self, table: str) -> str:
        return f"{self.root.rstrip('/')}/{table}"

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        partition = f"{self.table_uri(table)}/pipeline_id={pipeline_id}"
        fs, path = hadoop_path(spark, partition)
        fs.delete(path, True)
        # Straight into the run's partition folder: partitionBy would make Spark sort every row by
        # pipeline_id (one value) before writing, buffering the whole output (issue 11).
        rows.drop("pipeline_id").write.mode("append").parquet(partition)

    def record_run(self, spark: SparkSession, row: dict[str, Any]) -> None:
        self.replace(spark, RUNS_TABLE, row["pipeline_id"], one_row(spark, row, spark_schema(RUNS_TABLE)))


# Set only by the cloud twin (scripts/twin.py): the BigQuery emulator's REST endpoint. Unset on
# Dataproc, where the client and the connector talk to BigQuery itself.
ENDPOINT_VARIABLE = "S8S_BIGQUERY_ENDPOINT"


def bigquery_endpoint() -> str | None:
    """The BigQuery endpoint to use instead of Google's, or None (the default endpoint)."""
    return os.environ.get(ENDPOINT_VARIABLE) or None


def bigquery_client(project: str):
    """A google-cloud-bigquery client, or a JobError saying why there is none."""
    try:
        from google.cloud import bigquery
    except ImportError as e:
        raise JobError(
            f"the google-cloud-bigquery package does not import here ({e}); "
            "run the job on a Serverless runtime or custom container that has it"
        ) from e
    try:
        endpoint = bigquery_endpoint()
        if endpoint:  # an emulator asks for no credentials
            from google.auth.credentials import AnonymousCredentials

            return bigquery.Client(project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
        return bigquery.Client(project=project)
    except Exception as e:  # noqa: BLE001 - credentials or project problems, re-raised with the setting
        raise JobError(f"cannot create a BigQuery client for project {project!r}: {str(e).splitlines()[0]}") from e


def connector_write(rows: DataFrame, table_id: str, temp_bucket: str) -> None:
    """Appends rows to a table through the spark-bigquery connector's indirect write: files in the
    temporary bucket, then one load job. bigQueryHttpEndpoint (SparkBigQueryConfig in
    GoogleCloudDataproc/spark-bigquery-connector) sends its BigQuery calls to an emulator."""
    writer = rows.write.format("bigquery").option("writeMethod", "indirect").option("temporaryGcsBucket", temp_bucket)
    endpoint = bigquery_endpoint()
    if endpoint:
        writer = writer.option("bigQueryHttpEndpoint", endpoint)
    writer.mode("append").save(table_id)


@dataclass(frozen=True)
class BigQuerySink:
    """customer_churn_ds tables, through the BigQuery connector runtime 2.2 ships.

    Delete-then-append: the DELETE runs as a query job; the rows go in one load job (indirect
    write), which is atomic and, unlike streamed rows, can be deleted at once by a later retry.
    """

    project: str
    dataset: str
    temp_bucket: str
    client: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def connect(cls, project: str, dataset: str, temp_bucket: str) -> BigQuerySink:
        return cls(project, dataset, temp_bucket, bigquery_client(project))

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def delete_statement(self, table: str) -> str:
        return f"DELETE FROM `{self.table_id(table)}` WHERE pipeline_id = @pipeline_id"

    def run_statement(self) -> str:
        """Upserts the run's row: one statement, so a reader sees the old row or the new one."""
        columns = [c["name"] for c in load_table_schemas()[RUNS_TABLE]]
        updated = [c for c in columns if c != "pipeline_id"]
        return "\n".join(
            [
                f"MERGE `{self.table_id(RUNS_TABLE)}` AS runs",
                "USING (SELECT " + ", ".join(f"@{c} AS `{c}`" for c in columns) + ") AS run",
                "ON runs.pipeline_id = run.pipeline_id",
                "WHEN MATCHED THEN UPDATE SET " + ", ".join(f"`{c}` = run.`{c}`" for c in updated),
                "WHEN NOT MATCHED THEN INSERT (" + ", ".join(f"`{c}`" for c in columns) + ")",
                "  VALUES (" + ", ".join(f"run.`{c}`" for c in columns) + ")",
            ]
        )

    def _query(self, sql: str, params: list) -> Any:
        from google.cloud import bigquery

        if self.client is None:
            raise JobError("the BigQuery sink has no client; build it with BigQuerySink.connect")
        job = self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
        job.result()
        return job

    def delete_rows(self, table: str, pipeline_id: str) -> None:
        from google.cloud import bigquery

        params = [bigquery.ScalarQueryParameter("pipeline_id", "STRING", pipeline_id)]
        job = self._query(self.delete_statement(table), params)
        log.info("deleted %s earlier rows of pipeline_id=%s from %s", job.num_dml_affected_rows, pipeline_id, table)

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        self.delete_rows(table, pipeline_id)
        connector_write(rows, self.table_id(table), self.temp_bucket)

    def record_run(self, spark: SparkSession, row: dict[str, Any]) -> None:
        from google.cloud import bigquery

        types = {c["name"]: c["type"] for c in load_table_schemas()[RUNS_TABLE]}
        params = [bigquery.ScalarQueryParameter(name, types[name], value) for name, value in row.items()]
        self._query(self.run_statement(), params)
        log.info("recorded run %s in %s", row["pipeline_id"], RUNS_TABLE)
