"""The local Airflow as started by the local lab: its four components healthy on 127.0.0.1, the
stack's whole software_config read back from the running Airflow (the airflow_config_overrides
through GET /api/v2/config, the AIRFLOW_VAR_* env variables in what the running tasks rendered),
the lab's DAGs loaded from the twin's Composer bucket, and the batches sent to the Dataproc twin."""

from __future__ import annotations

import json

from local import walkthrough
from local.composer import runs


def test_components_healthy_on_loopback(lab):
    health = lab.airflow.health()
    assert {k: v["status"] for k, v in health.items()} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }
    assert lab.airflow.url.startswith("http://127.0.0.1:")
    assert set(lab.airflow.pids) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    assert all(lab.airflow.alive().values())
    # AIRFLOW_HOME is in the twin's state folder; the DAG folder is the Composer bucket's dags/.
    assert lab.airflow.home == str(lab.state_dir / "airflow")
    composer = json.loads((lab.state_dir / "composer" / "environment.json").read_text())
    assert lab.airflow.dags_folder.endswith(composer["dags_folder"].removeprefix("gs://"))


def test_airflow_config_overrides_read_back(lab, software_config):
    overrides = software_config["airflow_config_overrides"]
    assert overrides, "the stack sets airflow_config_overrides"
    token = lab.airflow.token()
    for name, value in overrides.items():
        section, key = name.split("-", 1)
        got = lab.airflow.call("GET", f"/api/v2/config/section/{section}/option/{key}", token=token)
        (option,) = got["sections"][0]["options"]
        assert option["value"] == value, f"{name}: the running Airflow has {option['value']!r}, the stack sets {value!r}"


def test_env_variables_read_back_from_what_a_task_rendered(lab, software_config, training):
    """Every AIRFLOW_VAR_* the training task reads is what the running task rendered: the values
    reached the task processes as the stack set them."""
    env = software_config["env_variables"]
    run_id = training["run_id"]
    ti = lab.airflow.call(
        "GET", f"/api/v2/dags/{walkthrough.TRAINING_DAG}/dagRuns/{runs._q(run_id)}/taskInstances/{walkthrough.TRAIN_TASK}"
    )
    batch = runs.rendered(ti, "batch")
    execution = batch["environment_config"]["execution_config"]
    assert batch["runtime_config"]["version"] == env["AIRFLOW_VAR_SPARK_RUNTIME_VERSION"]
    # Airflow masks a rendered field named service_account (core.sensitive_var_conn_names'
    # defaults), in Composer too; what the task sent is in the batch the Dataproc twin received.
    assert execution["service_account"] == "***"
    assert execution["subnetwork_uri"] == env["AIRFLOW_VAR_SUBNET"]
    assert execution["staging_bucket"] == env["AIRFLOW_VAR_SPARK_BUCKET"]
    cluster = batch["environment_config"]["peripherals_config"]["spark_history_server_config"]["dataproc_cluster"]
    assert cluster == (
        f"projects/{env['AIRFLOW_VAR_PROJECT_ID']}/regions/{env['AIRFLOW_VAR_REGION']}/clusters/{env['AIRFLOW_VAR_PHS_SERVER']}"
    )
    assert batch["pyspark_batch"]["main_python_file_uri"].startswith(f"gs://{env['AIRFLOW_VAR_CODE_BUCKET']}/")
    args = batch["pyspark_batch"]["args"]
    assert f"--input=gs://{env['AIRFLOW_VAR_DATA_BUCKET']}/data/training.csv" in args
    assert f"--models-root=gs://{env['AIRFLOW_VAR_MODEL_BUCKET']}/churn-model" in args
    # The region reached the operator too: the batch is the twin's, under the stack's project and region.
    batch_id = runs.rendered(ti, "batch_id")
    record = runs.batch_state(lab.state_dir, batch_id)
    assert record["name"] == f"projects/{env['AIRFLOW_VAR_PROJECT_ID']}/locations/{env['AIRFLOW_VAR_REGION']}/batches/{batch_id}"
    assert runs.BATCH_STATES.get(record["state"], record["state"]) == "SUCCEEDED"  # a number or a name
    assert record["environmentConfig"]["executionConfig"]["serviceAccount"] == env["AIRFLOW_VAR_UMSA_FQN"]


def test_no_import_errors_and_both_dags_unpaused(lab):
    token = lab.airflow.token()
    assert lab.airflow.call("GET", "/api/v2/importErrors", token=token)["total_entries"] == 0
    dags = {d["dag_id"]: d for d in lab.airflow.call("GET", "/api/v2/dags", token=token)["dags"]}
    for dag_id in (walkthrough.TRAINING_DAG, walkthrough.SCORING_DAG):
        # core-dags_are_paused_at_creation=False (the stack's override): a trigger runs at once.
        assert dags[dag_id]["is_paused"] is False
