"""Starts bqemulator (the BigQuery emulator) with the gaps the spark-bigquery connector meets closed
at the emulator's boundary: its load-job handler, nothing in the scoring job.

Run as the emulator itself, from the twin environment (local/twin/emulators.py, up):
    python local/twin/bqemulator_gaps.py start --rest-port ... (bqemulator's own command line)

bqemulator 1.4.0 runs every load job inside jobs.insert (api/routes/jobs.py ->
jobs/executor.py execute_load_job). Where it differs from BigQuery for a Parquet load, this module
wraps that handler; each gap, with Google's reference, is listed in docs/twin.md ("Gaps closed at the
emulator's boundary"):

1. Load statistics (JobStatistics3, https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobStatistics3):
   the emulator fills only outputRows, and with the table's row count after the load. BigQuery
   reports inputFiles ("Number of source files in a load job"), inputFileBytes ("Number of bytes of
   source data in a load job"), outputRows ("Number of rows imported in a load job") and outputBytes
   ("Size of the loaded data in bytes"). The connector reads outputBytes after every indirect write
   (BigQueryWriteHelper.loadDataToBigQuery) and fails on null. All four are computed here from the
   files the job's source URIs match; outputBytes by BigQuery's data size calculation
   (https://cloud.google.com/bigquery/pricing#data: STRING 2 bytes + its UTF-8 length, INT64,
   FLOAT64, DATE, TIME, DATETIME, TIMESTAMP 8 bytes, BOOL 1, NUMERIC 16, BIGNUMERIC 32, BYTES 2 + its
   length, NULL 0).
2. Wildcard source URIs: BigQuery expands one `*` in a Cloud Storage object name
   (https://cloud.google.com/bigquery/docs/batch-loading-data#load-wildcards). The connector sends
   wildcards once a write has 10 or more part files (SparkBigQueryUtil.optimizeLoadUriListForSpark).
   DuckDB's read_parquet expands them too; the statistics above count the matched files.
3. Parquet columns by name: BigQuery maps a Parquet file's columns to the table's by name; the
   emulator inserts them by position (INSERT INTO t SELECT * FROM read_parquet(...)). Here: INSERT
   INTO t BY NAME.
4. Parquet column types: BigQuery fails a load whose Parquet column type does not convert to the
   table column's type (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-parquet#parquet_conversions),
   with "Error while reading data, error message: Parquet column '<name>' has type <physical type>
   which does not match the target cpp_type <type>" (the form seen in public reports, e.g.
   cal-itp/data-infra#811). The emulator casts silently (DOUBLE into a STRING column). Here the job
   fails (DONE with errorResult reason `invalid`), naming the column, both types and the file.
5. Query job labels: BigQuery keeps a job's configuration.labels and returns them from jobs.get and
   jobs.list (JobConfiguration.labels, https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfiguration).
   The emulator stores a finished query job with a configuration of its own that drops them, so the
   retry fence (pyspark/s8s_churn/sinks.py, fence_earlier_jobs) could not find an earlier attempt's DELETE
   or MERGE by its labels. Here the stored job keeps the request's labels.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Any

# Table column type -> Parquet physical types BigQuery converts into it (the conversions page above;
# INT32/INT64 with a DATE, TIMESTAMP or DECIMAL logical type are told apart by their Arrow type below).
_ARROW_KINDS = {
    "STRING": ("string",),
    "BYTES": ("binary",),
    "INT64": ("integer",),
    "INTEGER": ("integer",),
    "FLOAT64": ("floating",),
    "FLOAT": ("floating",),
    "BOOL": ("boolean",),
    "BOOLEAN": ("boolean",),
    "NUMERIC": ("decimal", "integer"),
    "BIGNUMERIC": ("decimal", "integer"),
    "DATE": ("date",),
    "TIMESTAMP": ("timestamp",),
    "DATETIME": ("timestamp",),
    "TIME": ("time",),
}
# Logical bytes of a non-NULL value, by column type (https://cloud.google.com/bigquery/pricing#data).
_FIXED_BYTES = {
    "INT64": 8, "INTEGER": 8, "FLOAT64": 8, "FLOAT": 8, "DATE": 8, "TIME": 8, "DATETIME": 8, "TIMESTAMP": 8,
    "BOOL": 1, "BOOLEAN": 1, "NUMERIC": 16, "BIGNUMERIC": 32,
}  # fmt: skip
_VARIABLE = ("STRING", "BYTES")  # 2 bytes + the value's length in bytes


def _arrow_kind(dtype: Any) -> str:
    import pyarrow as pa

    checks = (
        ("string", pa.types.is_string),
        ("string", pa.types.is_large_string),
        ("binary", pa.types.is_binary),
        ("boolean", pa.types.is_boolean),
        ("integer", pa.types.is_integer),
        ("floating", pa.types.is_floating),
        ("decimal", pa.types.is_decimal),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("time", pa.types.is_time),
    )
    return next((kind for kind, check in checks if check(dtype)), str(dtype))


def source_files(uris: list[str], gcs_root: Path) -> list[Path]:
    """The files a load job's source URIs name: gs://b/o is gcs_root/b/o; a `*` matches any text."""
    files: list[Path] = []
    for uri in uris:
        local = str(gcs_root / uri.removeprefix("gs://"))
        matched = sorted(glob.glob(local)) if "*" in local else [local]
        files += [Path(m) for m in matched if Path(m).is_file()]
    return files


def type_mismatch(files: list[Path], gcs_root: Path, table_fields: dict[str, str]) -> str | None:
    """BigQuery's message for the first Parquet column whose type does not load into its column."""
    import pyarrow.parquet as pq

    for path in files:
        meta = pq.ParquetFile(path)
        arrow = meta.schema_arrow
        for index, field in enumerate(arrow):
            want = table_fields.get(field.name.lower())
            if want is None or want.upper() not in _ARROW_KINDS:
                continue
            if _arrow_kind(field.type) not in _ARROW_KINDS[want.upper()]:
                physical = meta.schema.column(index).physical_type
                return (
                    f"Error while reading data, error message: Parquet column '{field.name}' has type {physical} "
                    f"which does not match the target cpp_type {want.upper()}. File: gs://{path.relative_to(gcs_root)}"
                )
    return None


def load_statistics(files: list[Path], table_fields: dict[str, str]) -> dict[str, str]:
    """JobStatistics3 of a load of these Parquet files, computed from them (int64 fields as text, as the REST API sends them)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = output_bytes = 0
    for path in files:
        table = pq.read_table(path)
        rows += table.num_rows
        for name in table.column_names:
            kind = (table_fields.get(name.lower()) or "").upper()
            column = table.column(name)
            present = len(column) - column.null_count
            if kind in _VARIABLE:
                lengths = pc.binary_length(column.cast("binary") if kind == "STRING" else column)
                output_bytes += 2 * present + (pc.sum(lengths).as_py() or 0)
            else:
                output_bytes += _FIXED_BYTES.get(kind, 0) * present
    return {
        "inputFiles": str(len(files)),
        "inputFileBytes": str(sum(p.stat().st_size for p in files)),
        "outputRows": str(rows),
        "outputBytes": str(output_bytes),
        "badRecords": "0",
    }


def install() -> None:
    """Wraps bqemulator's load-job handler where its route calls it."""
    from bqemulator.api.routes import jobs as routes
    from bqemulator.jobs import executor

    original = executor.execute_load_job

    async def execute_load_job(project_id: str, job_id: str, config: dict[str, Any], ctx: Any):
        load = config.get("load", {})
        if load.get("sourceFormat", "CSV").upper() != "PARQUET" or ctx.settings.gcs_local_root is None:
            return await original(project_id, job_id, config, ctx)
        dest = load.get("destinationTable", {})
        table = ctx.catalog.get_table(dest.get("projectId", project_id), dest.get("datasetId", ""), dest.get("tableId", ""))
        files = source_files(load.get("sourceUris", []), Path(ctx.settings.gcs_local_root))
        if table is not None:
            fields = {f.name.lower(): f.type for f in table.schema_.fields}
        else:
            fields = {f["name"].lower(): f["type"] for f in load.get("schema", {}).get("fields", [])}
        message = type_mismatch(files, Path(ctx.settings.gcs_local_root), fields) if table is not None else None
        if message:
            failed = routes._failed_job_meta(
                project_id=project_id,
                job_id=job_id,
                job_type="LOAD",
                config=config,
                error_result={"reason": "invalid", "message": message, "location": load.get("sourceUris", [""])[0]},
                now=ctx.clock.now(),
            )
            return failed.model_copy(update={"statistics": {"load": {"inputFiles": str(len(files)), "badRecords": "0"}}})
        job = await original(project_id, job_id, config, ctx)
        if job.error_result:
            return job
        if table is None:  # created by the load (CREATE_IF_NEEDED): its schema is the load's
            created = ctx.catalog.get_table(dest.get("projectId", project_id), dest.get("datasetId", ""), dest.get("tableId", ""))
            fields = {f.name.lower(): f.type for f in created.schema_.fields} if created else fields
        return job.model_copy(update={"statistics": {"load": load_statistics(files, fields)}})

    original_query = routes._handle_query_job

    async def handle_query_job(project_id: str, job_id: str, config: dict[str, Any], **kwargs: Any):
        job = await original_query(project_id, job_id, config, **kwargs)
        if config.get("labels") and not isinstance(job, dict):
            job = job.model_copy(update={"configuration": {**(job.configuration or {}), "labels": dict(config["labels"])}})
        return job

    def load_parquet_by_name(path: str, target_ref: str, ctx: Any) -> None:
        ctx.engine.execute(f"INSERT INTO {target_ref} BY NAME SELECT * FROM read_parquet(?)", [path])

    executor.execute_load_job = execute_load_job
    routes.execute_load_job = execute_load_job
    routes._handle_query_job = handle_query_job
    executor._LOAD_FORMAT_HANDLERS["PARQUET"] = load_parquet_by_name


def main() -> None:
    install()
    from bqemulator.cli import main as bqemulator_main

    sys.argv[0] = "bqemulator"
    bqemulator_main()


if __name__ == "__main__":
    main()
