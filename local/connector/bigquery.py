"""The spark-bigquery connector's indirect write, step for step, for the cloud twin.

The connector jar (com.google.cloud.spark, any artifact and version) is not served by the package
registry this project can reach, so the twin cannot load it. Everything around it is real: the
DataFrame goes through Spark's Parquet writer and the Cloud Storage connector into the emulated
temporary bucket, and one load job goes through google-cloud-bigquery to the BigQuery emulator.
The steps are those of BigQueryWriteHelper.writeDataFrameToBigQuery and
BigQueryClient.loadDataIntoTable at tag 0.42.3 of GoogleCloudDataproc/spark-bigquery-connector:
  1. a unique folder gs://<temporaryGcsBucket>/.spark-bigquery-<applicationId>-<uuid>
     (SparkBigQueryUtil.getUniqueGcsPath);
  2. data.write().format("parquet").save(folder) (intermediateFormat defaults to parquet);
  3. one load job over the folder's *.parquet files: PARQUET, CREATE_IF_NEEDED, WRITE_APPEND for
     SaveMode.Append, with the destination table's schema (BigQueryUtil.adjustSchemaIfNeeded) and
     the bigQueryJobLabel.<key> options as its labels;
  4. the folder deleted whatever happened (IntermediateDataCleaner).
Installed over pyspark/s8s_churn/sinks.py's connector_write by install(); the job's own code is unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from s8s_churn import sinks
from s8s_churn.job import hadoop_path


@dataclass(frozen=True)
class Load:
    """One load job the stand-in ran: what a test asserts on."""

    table_id: str
    job_id: str
    folder: str
    source_uris: tuple[str, ...]
    output_rows: int


LOADS: list[Load] = []


def indirect_write(rows, table_id: str, options: dict[str, str]) -> None:
    from google.cloud import bigquery

    temp_bucket = options["temporaryGcsBucket"]
    # The connector copies its bigQueryJobLabel.<key> options onto the load job (BigQueryClient).
    labels = {k.split(".", 1)[1]: v for k, v in options.items() if k.startswith("bigQueryJobLabel.")}

    spark = rows.sparkSession
    folder = f"gs://{temp_bucket}/.spark-bigquery-{spark.sparkContext.applicationId}-{uuid.uuid4()}"
    client = sinks.bigquery_client(table_id.split(".", 1)[0])
    fs, path = hadoop_path(spark, folder)
    try:
        rows.write.format("parquet").save(folder)
        uris = sorted(str(s.getPath()) for s in fs.listStatus(path) if s.getPath().getName().lower().endswith(".parquet"))
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=client.get_table(table_id).schema,
            labels=labels,
        )
        job = client.load_table_from_uri(uris, table_id, job_config=config)
        job.result()
        LOADS.append(Load(table_id, job.job_id, folder, tuple(uris), int(job.output_rows or 0)))
    finally:
        fs.delete(path, True)


# The job's own write through the connector, kept to show what it does without the jar.
CONNECTOR_WRITE = sinks.connector_write


def install() -> None:
    """Makes the BigQuery sink write through the stand-in."""
    sinks.connector_write = indirect_write
