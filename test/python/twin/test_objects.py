"""The lab's BigQuery objects and buckets in the emulators are the ones the stack synthesizes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DATASET


def fields(schema) -> list[tuple]:
    """(name, type, mode, subfields) of a schema, as google-cloud-bigquery or the stack's JSON gives it."""
    out = []
    for f in schema:
        if isinstance(f, dict):
            out.append((f["name"], f["type"], f.get("mode", "NULLABLE"), tuple(fields(f.get("fields", [])))))
        else:
            out.append((f.name, f.field_type, f.mode, tuple(fields(f.fields))))
    return out


def canonical(t: str) -> str:
    # BigQuery reports a legacy name for some standard SQL type names (INT64 -> INTEGER, ...).
    return {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}.get(t, t)


def canonical_fields(fs: list[tuple]) -> list[tuple]:
    return [(n, canonical(t), m, tuple(canonical_fields(list(sub)))) for n, t, m, sub in fs]


def test_the_dataset_is_the_stacks(bq, twin_state, stack):
    (ds,) = stack["resources"]["google_bigquery_dataset"].values()
    got = bq.get_dataset(f"{twin_state.project}.{ds['dataset_id']}")
    assert ds["dataset_id"] == DATASET
    assert got.location.lower() == ds["location"].lower()
    assert got.labels == ds["labels"]


def test_every_table_has_the_stacks_schema_partitioning_and_clustering(bq, twin_state, stack):
    tables = stack["resources"]["google_bigquery_table"].values()
    assert {t["table_id"] for t in tables} == {
        "batch_predictions",
        "batch_rejects",
        "batch_runs",
        "batch_drift",
        "model_versions",
    }
    for t in tables:
        got = bq.get_table(f"{twin_state.project}.{t['dataset_id']}.{t['table_id']}")
        schema = json.loads(t["schema"] if "schema" in t else t["external_data_configuration"]["schema"])
        assert canonical_fields(fields(got.schema)) == canonical_fields(fields(schema)), t["table_id"]
        if "time_partitioning" in t:
            assert got.time_partitioning.type_ == t["time_partitioning"]["type"]
            assert got.time_partitioning.field == t["time_partitioning"]["field"]
        assert (got.clustering_fields or None) == t.get("clustering"), t["table_id"]


def test_every_bucket_of_the_stack_exists_in_the_storage_emulator(twin_state, stack):
    import urllib.request

    with urllib.request.urlopen(f"{twin_state.gcs_endpoint}/storage/v1/b?project={twin_state.project}") as r:
        listed = {b["name"] for b in json.load(r)["items"]}
    assert listed == {b["name"] for b in stack["resources"]["google_storage_bucket"].values()}


def test_model_versions_holds_one_row_per_registered_metadata_file(bq, twin_state, models_root):
    """The external table's files, loaded by the twin (the emulator cannot read an external table)."""
    rows = [
        dict(r.items())
        for r in bq.query(
            f"SELECT version, rows_read, metrics.auc AS auc FROM `{twin_state.project}.{DATASET}.model_versions`"
        ).result()
    ]
    assert [r["version"] for r in rows] == ["v-twin"]
    assert rows[0]["rows_read"] == 7000 and 0.5 < rows[0]["auc"] <= 1.0


def test_every_object_the_stack_uploads_is_in_its_bucket_with_the_files_bytes(twin_state, stack):
    """The deploy into the twin uploads the stack's bucket objects (the DAGs, the jobs' entry points
    and package archive, the sample data) with the bytes of the synthesized assets."""
    objects = stack["resources"]["google_storage_bucket_object"].values()
    names = {o["name"] for o in objects}
    assert {"pyspark/batch_scoring.py", "pyspark/model_training.py", "pyspark/s8s_churn.zip", "data/scoring.csv"} <= names
    for o in objects:
        held = Path(twin_state.gcs_root) / o["bucket"] / o["name"]
        # The bytes `cdktf deploy` uploads: the synthesized asset its `source` names.
        assert held.read_bytes() == (Path(stack["workdir"]) / o["source"]).read_bytes(), o["name"]
