"""Where the scoring job's tables go: one code path, two places. Each write first removes the
run's earlier rows, so a retry or re-run of a pipeline_id replaces its rows instead of adding to them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lab_job import hadoop_path
from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("s8s.sinks")


@dataclass(frozen=True)
class LocalSink:
    """Parquet tables under a folder, partitioned by pipeline_id (pipeline_id=<id>/)."""

    root: str

    def table_uri(self, table: str) -> str:
        return f"{self.root.rstrip('/')}/{table}"

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        fs, path = hadoop_path(spark, f"{self.table_uri(table)}/pipeline_id={pipeline_id}")
        fs.delete(path, True)
        rows.write.mode("append").partitionBy("pipeline_id").parquet(self.table_uri(table))


@dataclass(frozen=True)
class BigQuerySink:
    """customer_churn_ds tables, through the BigQuery connector runtime 2.2 ships.

    Delete-then-append: the DELETE runs as a query job; the rows go in one load job (indirect
    write), which is atomic and, unlike streamed rows, can be deleted at once by a later retry.
    """

    project: str
    dataset: str
    temp_bucket: str

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def delete_statement(self, table: str) -> str:
        return f"DELETE FROM `{self.table_id(table)}` WHERE pipeline_id = @pipeline_id"

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        from google.cloud import bigquery  # on the runtime 2.2 image; not needed locally

        client = bigquery.Client(project=self.project)
        params = [bigquery.ScalarQueryParameter("pipeline_id", "STRING", pipeline_id)]
        job = client.query(self.delete_statement(table), job_config=bigquery.QueryJobConfig(query_parameters=params))
        job.result()
        log.info("deleted %s earlier rows of pipeline_id=%s from %s", job.num_dml_affected_rows, pipeline_id, table)
        (
            rows.write.format("bigquery")
            .option("writeMethod", "indirect")
            .option("temporaryGcsBucket", self.temp_bucket)
            .mode("append")
            .save(self.table_id(table))
        )
