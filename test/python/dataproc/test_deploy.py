"""The deploy into the twin (local/twin/deploy.py), checked against the synthesized stack it read
(STATE_DIR/stack.json): every bucket object with its source's bytes, nothing uploaded again when
nothing changed, the Composer environment's software_config and the history server's event-log
location saved, the Dataproc twin's project facts taken from the stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def stack(state):
    return state.stack()


def test_every_bucket_object_holds_the_bytes_its_source_names(stack, state):
    from local.twin import gcs

    objects = stack["resources"]["google_storage_bucket_object"]
    names = {o["name"] for o in objects.values()}
    assert {"dags/customer_churn_prediction.py", "pyspark/batch_scoring.py", "pyspark/s8s_churn.zip", "data/scoring.csv"} <= names
    workdir = Path(stack["workdir"])
    for obj in objects.values():
        uri = f"gs://{obj['bucket']}/{obj['name']}"
        source = workdir / obj["source"]
        assert gcs.read(state.gcs_endpoint, uri) == source.read_bytes(), uri
    # The DAGs are in the Composer environment's bucket, under dags/, as Composer reads them.
    composer_bucket = next(iter(stack["resources"]["google_composer_environment"].values()))["storage_config"]["bucket"]
    dags = sorted(o["name"] for o in objects.values() if o["bucket"] == composer_bucket)
    assert "dags/customer_churn_prediction.py" in dags and all(d.startswith("dags/") for d in dags)
    for name in dags:
        repo_file = REPO / "airflow" / name
        assert gcs.read(state.gcs_endpoint, f"gs://{composer_bucket}/{name}") == repo_file.read_bytes()


def test_a_redeploy_of_unchanged_code_uploads_nothing(root):
    from local.twin import deploy

    report = deploy.deploy(root)
    actions = {o.action for o in report["objects"]}
    assert actions == {"unchanged"}, [o for o in report["objects"] if o.action != "unchanged"]


def test_the_composer_software_config_is_saved_whole(root, stack):
    saved = json.loads((root / "composer" / "environment.json").read_text())
    env = next(iter(stack["resources"]["google_composer_environment"].values()))
    assert saved["software_config"] == env["config"]["software_config"]
    assert saved["software_config"]["env_variables"]["AIRFLOW_VAR_PROJECT_ID"] == "twin-project"
    assert saved["software_config"]["airflow_config_overrides"]  # the overrides travel too
    assert saved["dags_folder"] == f"gs://{env['storage_config']['bucket']}/dags"


def test_the_history_servers_event_log_location_is_saved(root, stack):
    from local.dataproc.runner import HISTORY_DIR

    saved = json.loads((root / "history" / "server.json").read_text())
    cluster = next(iter(stack["resources"]["google_dataproc_cluster"].values()))
    props = cluster["cluster_config"]["software_config"]["override_properties"]
    assert saved["cloud_log_directory"] == props["spark:spark.history.fs.logDirectory"]
    assert saved["cloud_log_directory"].startswith("gs://s8s-twin-project-phs/")
    assert Path(saved["log_directory"]) == (root / HISTORY_DIR).resolve() and Path(saved["log_directory"]).is_dir()
    assert saved["cluster"] == "projects/twin-project/regions/us-central1/clusters/s8s-phs"


def test_the_dataproc_twins_project_is_the_stacks(root, stack):
    from local.dataproc.project import Project

    project = Project.load(root)
    res = stack["resources"]
    assert project.subnetworks == [
        f"projects/twin-project/regions/us-central1/subnetworks/{s['name']}" for s in res["google_compute_subnetwork"].values()
    ]
    assert sorted(project.service_accounts) == sorted(
        f"{a['account_id']}@twin-project.iam.gserviceaccount.com" for a in res["google_service_account"].values()
    )
    env = json.loads((root / "composer" / "environment.json").read_text())["software_config"]["env_variables"]
    assert env["AIRFLOW_VAR_UMSA_FQN"] in project.service_accounts and env["AIRFLOW_VAR_SUBNET"] in project.subnetworks
