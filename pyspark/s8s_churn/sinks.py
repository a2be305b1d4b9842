"""Where the scoring job's tables go: one code path, two places. Each write first removes the
run's earlier rows, so a retry or re-run of a pipeline_id replaces its rows instead of adding to them.

The BigQuery sink talks to BigQuery besides the connector's load jobs: a DELETE of the run's
earlier output rows, a MERGE of the run's row into batch_runs, and, before the first DELETE, the
fence over an earlier attempt's jobs (fence_earlier_jobs). All go through the google-cloud-bigquery
client. Serverless runs a batch in the runtime's default container, whose Python packages include
google-cloud-bigquery (the "installed in the default image" list of
https://cloud.google.com/dataproc-serverless/docs/guides/custom-containers); a custom container
must bring it. The client is built when the arguments are parsed (BigQuerySink.connect), before any
Spark work, so an image without it fails in seconds instead of after scoring every row.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from s8s_churn.contract import RUNS_TABLE, check_record, load_table_schemas, spark_schema
from s8s_churn.job import JobError, hadoop_path

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
    drift_status: str,
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


def literal_rows(spark: SparkSession, rows: list[dict[str, Any]], schema: T.StructType) -> DataFrame:
    """A few rows of the schema, made of literals in the JVM (as one_row); empty when rows is."""
    if not rows:
        return spark.range(0).select([F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields])

    def literal(value: Any, dtype: T.DataType):
        if isinstance(value, datetime):
            value = value.isoformat()
        return F.lit(value).cast(dtype)

    structs = [F.struct(*[literal(r.get(f.name), f.dataType).alias(f.name) for f in schema.fields]) for r in rows]
    return spark.range(1, numPartitions=1).select(F.inline(F.array(*structs)))


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

    def fence_earlier_attempts(self) -> list[str]:
        """Nothing to fence: a local run writes in its own process, with nothing left running."""
        return []

    def require_tables(self, tables: tuple[str, ...]) -> None:
        """Nothing to check: a local table is a folder the first write creates."""


# Set only by the cloud twin (local/twin): the BigQuery emulator's REST endpoint. Unset on
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


# Retry safety across attempts. Cancelling an earlier attempt's batch does not cancel a BigQuery
# load job its connector had started: the connector (0.36.4 through 0.45.0, BigQueryClient.
# createAndWaitFor in GoogleCloudDataproc/spark-bigquery-connector) waits on the job and, when
# interrupted, throws without cancelling it. Such a load could land after this attempt's DELETE and
# add the earlier attempt's rows to the run. So every BigQuery job of a run carries the run's
# labels (the connector's through its bigQueryJobLabel.<key> options, which it copies onto its
# load jobs, the DELETE and MERGE through their QueryJobConfig), and before its first DELETE the job
# cancels and waits for the still-unfinished jobs that carry its pipeline id but another batch id.
# The DAG has already finished every earlier attempt's batch (LabBatchOperator), so no earlier
# attempt can start a job after the fence has listed them.
PIPELINE_LABEL = "s8s-pipeline-id"
BATCH_LABEL = "s8s-batch-id"
# Job label keys and values: at most 63 lowercase letters, digits, '_' and '-' (JobConfiguration.labels,
# https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfiguration). Pipeline ids may be longer.
LABEL_VALUE_MAX = 63
# How long the fence waits for cancelled jobs to reach DONE, and how often it asks.
FENCE_WAIT_S = 300
FENCE_POLL_S = 5
UNFINISHED_STATES = ("pending", "running")  # jobs.list stateFilter values


def label_value(value: str) -> str:
    """`value` as a BigQuery label value: itself when it fits, else a prefix and a digest of it."""
    if len(value) <= LABEL_VALUE_MAX:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{value[: LABEL_VALUE_MAX - len(digest) - 1]}-{digest}"


def run_labels(pipeline_id: str, batch_id: str) -> dict[str, str]:
    """The labels every BigQuery job of this run carries."""
    return {PIPELINE_LABEL: label_value(pipeline_id), BATCH_LABEL: label_value(batch_id)}


def earlier_attempt_jobs(client: Any, project: str, labels: Mapping[str, str]) -> list:
    """The caller's PENDING or RUNNING jobs labelled with this run's pipeline id by another batch.

    jobs.list without allUsers lists the jobs the caller created, and needs no IAM permission for
    them (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/list): every attempt runs
    as the same batch account, so an earlier attempt's jobs are among them.
    """
    found = {}  # by id: a job that went from PENDING to RUNNING between the two lists is in both
    for state in UNFINISHED_STATES:
        for job in client.list_jobs(project=project, state_filter=state):
            theirs = job.labels or {}
            if theirs.get(PIPELINE_LABEL) == labels[PIPELINE_LABEL] and theirs.get(BATCH_LABEL) != labels[BATCH_LABEL]:
                found.setdefault(job.job_id, job)
    return list(found.values())


def fence_earlier_jobs(
    client: Any,
    project: str,
    labels: Mapping[str, str],
    *,
    wait_s: float = FENCE_WAIT_S,
    poll_s: float = FENCE_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Cancels the earlier attempts' unfinished jobs of this pipeline id and waits until each is DONE.

    Returns their ids. A load job is atomic: once DONE it has either landed (and the DELETE that
    follows removes its rows) or not. Cancelling one's own job needs only bigquery.jobs.create on
    the project (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/cancel), which the
    batch account's roles/bigquery.jobUser holds. A job still not DONE after `wait_s` fails the
    run with a JobError: replacing the rows then could still be undone by that job.
    """
    if not labels.get(PIPELINE_LABEL) or not labels.get(BATCH_LABEL):
        raise JobError(f"the BigQuery sink has no run labels ({PIPELINE_LABEL}, {BATCH_LABEL}); cannot fence earlier attempts")
    jobs = earlier_attempt_jobs(client, project, labels)
    unfinished = {}
    for job in jobs:
        log.warning(
            "BigQuery job %s of batch %s (%s=%s) is %s: cancelling it before replacing the run's rows",
            job.job_id,
            job.labels.get(BATCH_LABEL),
            PIPELINE_LABEL,
            labels[PIPELINE_LABEL],
            job.state,
        )
        _job_call(client.cancel_job, job.job_id, project, job.location, "cancel")
        unfinished[job.job_id] = job.location
    deadline = clock() + wait_s
    while unfinished:
        for job_id, location in list(unfinished.items()):
            if _job_call(client.get_job, job_id, project, location, "read the state of").state == "DONE":
                del unfinished[job_id]
        if not unfinished:
            break
        if clock() >= deadline:
            raise JobError(
                f"BigQuery jobs {sorted(unfinished)} of an earlier attempt of {PIPELINE_LABEL}={labels[PIPELINE_LABEL]} "
                f"were cancelled but are not DONE after {wait_s:g} s; replacing the run's rows now could be undone by them. "
                "Retry the task once `bq show -j <job id>` shows them DONE"
            )
        sleep(poll_s)
    if jobs:
        log.info("earlier attempts' BigQuery jobs %s are DONE", [job.job_id for job in jobs])
    return [job.job_id for job in jobs]


def _job_call(call: Callable, job_id: str, project: str, location: str, what: str):
    """jobs.cancel or jobs.get of one job, its failure a JobError naming the job."""
    from google.api_core.exceptions import GoogleAPICallError

    try:
        return call(job_id, project=project, location=location)
    except GoogleAPICallError as e:
        raise JobError(f"cannot {what} BigQuery job {project}:{location}.{job_id} of an earlier attempt: {e.message}") from e


def connector_write(rows: DataFrame, table_id: str, options: Mapping[str, str]) -> None:
    """Appends rows to a table through the spark-bigquery connector with `options` (its indirect
    write: files in the temporary bucket, then one load job). bigQueryHttpEndpoint (SparkBigQueryConfig
    in GoogleCloudDataproc/spark-bigquery-connector) sends its BigQuery calls to an emulator."""
    writer = rows.write.format("bigquery").options(**options)
    endpoint = bigquery_endpoint()
    if endpoint:
        writer = writer.option("bigQueryHttpEndpoint", endpoint)
    writer.mode("append").save(table_id)


@dataclass(frozen=True)
class BigQuerySink:
    """customer_churn_ds tables, through the BigQuery connector the Serverless runtime ships.

    Delete-then-append: the DELETE runs as a query job; the rows go in one load job (indirect
    write), which is atomic and, unlike streamed rows, can be deleted at once by a later retry.
    Every job carries `labels` (run_labels), which fence_earlier_attempts looks for.
    """

    project: str
    dataset: str
    temp_bucket: str
    client: Any = field(default=None, compare=False, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def connect(cls, project: str, dataset: str, temp_bucket: str, labels: Mapping[str, str]) -> BigQuerySink:
        return cls(project, dataset, temp_bucket, bigquery_client(project), dict(labels))

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
        config = bigquery.QueryJobConfig(query_parameters=params, labels=dict(self.labels))
        job = self.client.query(sql, job_config=config)
        job.result()
        return job

    def delete_rows(self, table: str, pipeline_id: str) -> None:
        from google.cloud import bigquery

        params = [bigquery.ScalarQueryParameter("pipeline_id", "STRING", pipeline_id)]
        job = self._query(self.delete_statement(table), params)
        log.info("deleted %s earlier rows of pipeline_id=%s from %s", job.num_dml_affected_rows, pipeline_id, table)

    def require_table(self, table: str) -> None:
        """A JobError unless the table exists: the stack creates it partitioned and clustered, while
        the connector, finding no table, would create an unpartitioned one from the DataFrame."""
        from google.api_core.exceptions import NotFound

        if self.client is None:
            raise JobError("the BigQuery sink has no client; build it with BigQuerySink.connect")
        try:
            self.client.get_table(self.table_id(table))
        except NotFound as e:
            raise JobError(
                f"BigQuery table {self.table_id(table)} does not exist; deploy the stack (npx cdktf deploy), which "
                "creates it partitioned and clustered, then run the job again"
            ) from e

    def require_tables(self, tables: tuple[str, ...]) -> None:
        """Every table the run writes, checked before its first write: a missing one stops the job
        before any row lands, not halfway through its tables."""
        for table in tables:
            self.require_table(table)

    def connector_options(self) -> dict[str, str]:
        """The connector's write options: one load job through the spark bucket, with the run's labels.
        CREATE_NEVER: the connector fails instead of creating a missing table (BigQueryWriteHelper
        checks before it writes any file), a second guard behind require_table."""
        options = {"writeMethod": "indirect", "temporaryGcsBucket": self.temp_bucket, "createDisposition": "CREATE_NEVER"}
        options.update({f"bigQueryJobLabel.{key}": value for key, value in self.labels.items()})
        return options

    def fence_earlier_attempts(self) -> list[str]:
        """Cancels and waits for an earlier attempt's unfinished jobs of this pipeline id (before any DELETE)."""
        if self.client is None:
            raise JobError("the BigQuery sink has no client; build it with BigQuerySink.connect")
        return fence_earlier_jobs(self.client, self.project, self.labels)

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        self.require_table(table)
        self.delete_rows(table, pipeline_id)
        connector_write(rows, self.table_id(table), self.connector_options())

    def record_run(self, spark: SparkSession, row: dict[str, Any]) -> None:
        from google.cloud import bigquery

        types = {c["name"]: c["type"] for c in load_table_schemas()[RUNS_TABLE]}
        params = [bigquery.ScalarQueryParameter(name, types[name], value) for name, value in row.items()]
        self._query(self.run_statement(), params)
        log.info("recorded run %s in %s", row["pipeline_id"], RUNS_TABLE)
