"""The deploy into the twin: what the stack synthesizes (local/twin/stack.ts), created as
`cdktf deploy` would create it (deploy(); docs/twin.md, "Deploying the stack into the twin").

The buckets go to the Cloud Storage emulator, the dataset and tables to the BigQuery emulator, so
the emulated BigQuery has the tables `cdktf deploy` would create, not a copy of them; the bucket
objects with their synthesized bytes (local/twin/uploads.py); the settings no emulator holds into
the state folder (local/twin/settings.py). Standard library only, like local/twin/emulators.py.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import time
from pathlib import Path

from local.twin.emulators import PROJECT, REPO, TwinError, TwinState, _call


def synthesized_stack(root: Path) -> dict:
    """Every resource and output the stack synthesizes for the twin's project, and the folder
    Terraform would run in (`workdir`: STATE_DIR/cdktf.out/stacks/<stack>, the assets beside it)."""
    cached = Path(root) / "stack.json"
    ts_node = REPO / "node_modules" / ".bin" / "ts-node"
    if not ts_node.exists():
        raise TwinError(f"{ts_node} is missing: run `npm ci` first (the twin reads the synthesized stack)")
    out = subprocess.run(
        [str(ts_node), "--transpile-only", str(REPO / "local" / "twin" / "stack.ts"), PROJECT,
         str(Path(root).resolve() / "cdktf.out")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )  # fmt: skip
    if out.returncode != 0:
        raise TwinError(f"synthesizing the stack failed:\n{out.stderr[-2000:]}")
    cached.write_text(out.stdout)
    return resolve_references(json.loads(out.stdout))


def resolve_references(stack: dict) -> dict:
    """Replaces ${google_storage_bucket.X.name} and ${google_bigquery_dataset.X.dataset_id} by the
    values those resources are given, which is what Terraform does at apply."""
    res = stack["resources"]
    values = {f"google_storage_bucket.{k}.name": v["name"] for k, v in res["google_storage_bucket"].items()}
    values |= {f"google_bigquery_dataset.{k}.dataset_id": v["dataset_id"] for k, v in res["google_bigquery_dataset"].items()}

    def sub(value):
        if isinstance(value, str):
            return re.sub(r"\$\{([a-z_]+\.[A-Za-z0-9_]+\.[a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), value)
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    return sub(stack)


def bigquery_table_body(project: str, table: dict) -> dict:
    """A tables.insert body (https://cloud.google.com/bigquery/docs/reference/rest/v2/tables) from
    a google_bigquery_table resource as synthesized."""
    body = {
        "tableReference": {"projectId": project, "datasetId": table["dataset_id"], "tableId": table["table_id"]},
        "description": table.get("description", ""),
        "labels": table.get("labels", {}),
    }
    if "schema" in table:
        body["schema"] = {"fields": json.loads(table["schema"])}
    if "time_partitioning" in table:
        body["timePartitioning"] = {"type": table["time_partitioning"]["type"], "field": table["time_partitioning"]["field"]}
    if "clustering" in table:
        body["clustering"] = {"fields": table["clustering"]}
    if "external_data_configuration" in table:
        # The emulator stores an external table's definition but answers every query on it from an
        # empty native table (bqemulator 1.4.0 has no external-table reader): the twin creates it as
        # a native table with the external schema and loads the same files into it (load_model_versions).
        ext = table["external_data_configuration"]
        body["schema"] = {"fields": json.loads(ext["schema"])}
    return body


def create_lab_objects(state: TwinState, stack: dict) -> None:
    """The stack's buckets in the Cloud Storage emulator, its dataset and tables in the BigQuery one."""
    res = stack["resources"]
    for bucket in res["google_storage_bucket"].values():
        _call("POST", f"{state.gcs_endpoint}/storage/v1/b?project={state.project}", {"name": bucket["name"]}, exists_ok=True)
    bq = f"{state.bigquery_endpoint}/bigquery/v2/projects/{state.project}"
    for ds in res["google_bigquery_dataset"].values():
        _call("POST", f"{bq}/datasets", {
            "datasetReference": {"projectId": state.project, "datasetId": ds["dataset_id"]},
            "location": ds["location"], "description": ds.get("description", ""), "labels": ds.get("labels", {}),
        }, exists_ok=True)  # fmt: skip
    for table in res["google_bigquery_table"].values():
        _call("POST", f"{bq}/datasets/{table['dataset_id']}/tables", bigquery_table_body(state.project, table), exists_ok=True)
    # The bucket objects (DAGs, the jobs' entry points and package archive, sample data) are
    # written by deploy() through local/twin/uploads.py, from the synthesized assets.


def external_tables(stack: dict) -> list[dict]:
    return [t for t in stack["resources"]["google_bigquery_table"].values() if "external_data_configuration" in t]


def load_model_versions(state: TwinState, stack: dict) -> int:
    """Refreshes the twin's model_versions from the registry's metadata.json files: a load job over
    the external table's own source URIs and format, replacing what the table held. In the cloud
    the external table reads the files at query time and needs no refresh. Returns the row count."""
    bq = f"{state.bigquery_endpoint}/bigquery/v2/projects/{state.project}"
    total = 0
    for table in external_tables(stack):
        ext = table["external_data_configuration"]
        uris = ext["source_uris"]
        if not any(glob.glob(_local(state, u)) for u in uris):
            continue  # no version registered yet; a load job over no file fails in BigQuery too
        job = _call("POST", f"{bq}/jobs", {"configuration": {"load": {
            "sourceUris": uris, "sourceFormat": ext["source_format"], "schema": {"fields": json.loads(ext["schema"])},
            "destinationTable": {"projectId": state.project, "datasetId": table["dataset_id"], "tableId": table["table_id"]},
            "writeDisposition": "WRITE_TRUNCATE", "ignoreUnknownValues": ext["ignore_unknown_values"],
            "maxBadRecords": ext["max_bad_records"],
        }}})  # fmt: skip
        job = _wait_job(state, job)
        total += int(job.get("statistics", {}).get("load", {}).get("outputRows", 0))
    return total


def _wait_job(state: TwinState, job: dict) -> dict:
    ref = job["jobReference"]
    url = f"{state.bigquery_endpoint}/bigquery/v2/projects/{ref['projectId']}/jobs/{ref['jobId']}"
    if ref.get("location"):
        url += f"?location={ref['location']}"
    for _ in range(600):
        if job.get("status", {}).get("state") == "DONE":
            break
        time.sleep(0.1)
        job = _call("GET", url)
    error = job.get("status", {}).get("errorResult")
    if error:
        raise TwinError(f"BigQuery job {ref['jobId']} failed: {error.get('message')}")
    return job


def _local(state: TwinState, uri: str) -> str:
    return str(Path(state.gcs_root) / uri.removeprefix("gs://"))


def bucket(stack: dict, purpose: str) -> str:
    """The name of the stack's bucket for a purpose (data, models, spark, ...)."""
    for b in stack["resources"]["google_storage_bucket"].values():
        if b.get("labels", {}).get("purpose") == purpose:
            return b["name"]
    raise TwinError(f"the stack has no bucket with purpose {purpose!r}")


def deploy(root: Path) -> dict:
    """Deploys the synthesized stack into the running twin, as `cdktf deploy` would: the buckets,
    the dataset and tables, every bucket object with the bytes its source names (unchanged ones
    left alone), and the settings no emulator holds. Returns {"objects": [Deployed], "files": {name: path}}."""
    from local.twin import settings, uploads

    state = TwinState.load(root)
    stack = synthesized_stack(root)
    create_lab_objects(state, stack)
    objects = uploads.deploy_objects(root, state.gcs_endpoint, stack)
    files = settings.save(stack, root)
    return {"objects": objects, "files": files}
