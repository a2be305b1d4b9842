"""The DAGs as a real Airflow loads, parses and renders them."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from conftest import DAGS, OPTIONAL_VARIABLES, REPO, SAMPLE_VARIABLES, VARIABLES, worker_dag_run

SCORING = "customer-churn-prediction"
TRAINING = "customer-churn-training"
BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), include_examples=False)


def test_dagbag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {SCORING, TRAINING}


def test_scoring_dag_shape(dagbag):
    dag = dagbag.get_dag(SCORING)
    assert set(dag.task_ids) == {"announce_pipeline", "Predict-Customer-Churn", "check_predictions_written"}
    assert dag.get_task("announce_pipeline").downstream_task_ids == {"Predict-Customer-Churn"}
    assert dag.get_task("Predict-Customer-Churn").downstream_task_ids == {"check_predictions_written"}
    assert dag.schedule_interval is None
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert dag.get_task("Predict-Customer-Churn").retries == 1


def test_training_dag_shape(dagbag):
    dag = dagbag.get_dag(TRAINING)
    assert dag.task_ids == ["Train-Churn-Model"]
    assert dag.schedule_interval is None and dag.catchup is False and dag.max_active_runs == 1


def render(dagbag, dag_id, task_id, run_id, conf=None, try_number=1):
    """Renders one task for a real DagRun in the metadata database, as a worker would."""

    dag, dr = worker_dag_run(dagbag, dag_id, run_id, conf)
    ti = dr.get_task_instance(task_id)
    ti.task = dag.get_task(task_id)
    ti.task.params = copy.deepcopy(ti.task.params)
    ti.try_number = try_number
    ti.render_templates()
    return ti.task


def test_scoring_batch_renders_what_the_stack_sets(dagbag):
    task = render(dagbag, SCORING, "Predict-Customer-Churn", "manual__2026-01-31T12:00:00+00:00")
    v = SAMPLE_VARIABLES
    assert task.project_id == v["project_id"] and task.region == v["region"]
    assert BATCH_ID.match(task.batch_id), task.batch_id
    batch = task.batch
    # No container image variable: the runtime's own image, and the smallest batch size.
    assert batch["runtime_config"] == {
        "version": "2.2",
        "properties": {
            "spark.driver.cores": "4",
            "spark.executor.cores": "4",
            "spark.executor.instances": "2",
            "spark.dynamicAllocation.enabled": "false",
            "spark.dataproc.driver.disk.size": "400g",
            "spark.dataproc.executor.disk.size": "400g",
        },
    }
    execution = batch["environment_config"]["execution_config"]
    assert execution == {"service_account": v["umsa_fqn"], "subnetwork_uri": v["subnet"], "staging_bucket": v["spark_bucket"]}
    assert batch["environment_config"]["peripherals_config"]["spark_history_server_config"]["dataproc_cluster"] == (
        "projects/demo-proj/regions/us-central1/clusters/s8s-phs"
    )
    job = batch["pyspark_batch"]
    assert job["main_python_file_uri"] == "gs://s8s-demo-proj-code/pyspark/batch_scoring.py"
    shipped = sorted(p.name for p in (REPO / "pyspark").glob("lab_*.py"))
    assert job["python_file_uris"] == [f"gs://s8s-demo-proj-code/pyspark/{name}" for name in shipped]
    assert job["file_uris"] == ["gs://s8s-demo-proj-code/pyspark/table_schemas.json"]
    assert "jar_file_uris" not in job  # runtime 2.2's own connector
    args = dict(a[2:].split("=", 1) for a in job["args"])
    assert args == {
        "pipeline-id": args["pipeline-id"],
        "model-version": "latest",
        "input": "gs://s8s-demo-proj-data/data/scoring.csv",
        "models-root": "gs://s8s-demo-proj-models/churn-model",
        "sink": "bigquery",
        "project": "demo-proj",
        "dataset": "customer_churn_ds",
        "temp-bucket": "s8s-demo-proj-spark",
        "execution-ts": "2026-01-31T12:00:00+00:00",
        "batch-id": task.batch_id,
    }
    assert re.fullmatch(r"manual-2026-01-31t12-00-00-00-0-[0-9a-f]{8}", args["pipeline-id"])
    assert task.batch_id == f"s8s-score-{args['pipeline-id']}-a1"


def test_batch_id_differs_per_attempt_and_run(dagbag):
    run = "manual__2026-01-31T12:00:00+00:00"
    first = render(dagbag, SCORING, "Predict-Customer-Churn", run, try_number=1).batch_id
    again = render(dagbag, SCORING, "Predict-Customer-Churn", run, try_number=1).batch_id
    retry = render(dagbag, SCORING, "Predict-Customer-Churn", run, try_number=2).batch_id
    other = render(dagbag, SCORING, "Predict-Customer-Churn", "manual__2026-01-31T12:00:00.5+00:00").batch_id
    assert first == again  # deterministic
    assert len({first, retry, other}) == 3
    assert all(BATCH_ID.match(b) for b in (first, retry, other))


def test_long_run_ids_still_give_valid_batch_ids():
    from s8s_common import batch_id_for, pipeline_id_for

    run_id = "scheduled__" + "x" * 200 + "__ÄÖ:+/"
    assert BATCH_ID.match(batch_id_for("score", run_id, 12))
    assert pipeline_id_for(run_id) != pipeline_id_for(run_id + "y")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,38}[a-z0-9]", pipeline_id_for(run_id))


def test_trigger_conf_model_version_wins_over_the_variable(dagbag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MODEL_VERSION", "v-from-variable")
    run = "manual__2026-01-31T13:00:00+00:00"
    task = render(dagbag, SCORING, "Predict-Customer-Churn", run, conf={"model_version": "v-from-conf"})
    assert "--model-version=v-from-conf" in task.batch["pyspark_batch"]["args"]
    task = render(dagbag, SCORING, "Predict-Customer-Churn", "manual__2026-01-31T14:00:00+00:00")
    assert "--model-version=v-from-variable" in task.batch["pyspark_batch"]["args"]


def test_trigger_conf_with_a_bad_model_version_is_refused(dagbag):
    """A run triggered with a malformed version is refused before anything runs."""
    from airflow.exceptions import ParamValidationError
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    when = datetime(2026, 1, 31, 17, 0, tzinfo=timezone.utc)
    for dag_id in (SCORING, TRAINING):
        with pytest.raises(ParamValidationError, match="model_version"):
            dagbag.get_dag(dag_id).create_dagrun(
                run_id="manual__bad",
                run_type=DagRunType.MANUAL,
                execution_date=when,
                data_interval=(when, when),
                state=DagRunState.QUEUED,
                conf={"model_version": "not a version!"},
                external_trigger=True,
            )


def test_configured_container_and_jar_are_passed(dagbag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CONTAINER_IMAGE_URI", "us-docker.pkg.dev/demo-proj/lab/spark:1")
    monkeypatch.setenv("AIRFLOW_VAR_BQ_CONNECTOR_JAR_URI", "gs://spark-lib/bigquery/connector.jar")
    task = render(dagbag, SCORING, "Predict-Customer-Churn", "manual__2026-01-31T15:00:00+00:00")
    assert task.batch["runtime_config"]["container_image"] == "us-docker.pkg.dev/demo-proj/lab/spark:1"
    assert task.batch["pyspark_batch"]["jar_file_uris"] == ["gs://spark-lib/bigquery/connector.jar"]


def test_check_and_announcement_use_the_same_pipeline_id(dagbag):
    run = "manual__2026-01-31T16:00:00+00:00"
    batch = render(dagbag, SCORING, "Predict-Customer-Churn", run)
    pipeline_id = next(a.split("=", 1)[1] for a in batch.batch["pyspark_batch"]["args"] if a.startswith("--pipeline-id="))
    check = render(dagbag, SCORING, "check_predictions_written", run)
    assert check.op_kwargs["pipeline_id"] == pipeline_id
    assert check.op_kwargs["dataset"] == "demo-proj.customer_churn_ds"
    assert (check.op_kwargs["project"], check.op_kwargs["location"]) == ("demo-proj", "us-central1")
    announce = render(dagbag, SCORING, "announce_pipeline", run)
    assert announce.op_args[0] == pipeline_id
    assert f"WHERE pipeline_id = '{pipeline_id}'" not in announce.op_args[2]  # the table; the query is logged at run time
    assert announce.op_args[2] == "demo-proj.customer_churn_ds.batch_predictions"


def test_training_batch_registers_a_version_named_after_the_run(dagbag):
    task = render(dagbag, TRAINING, "Train-Churn-Model", "manual__2026-01-31T12:00:00+00:00")
    job = task.batch["pyspark_batch"]
    assert job["main_python_file_uri"] == "gs://s8s-demo-proj-code/pyspark/model_training.py"
    assert job["args"] == [
        "--input=gs://s8s-demo-proj-data/data/training.csv",
        "--models-root=gs://s8s-demo-proj-models/churn-model",
        "--model-version=v20260131t120000",
    ]
    assert BATCH_ID.match(task.batch_id) and task.batch_id.startswith("s8s-train-")


def test_dags_read_exactly_the_variables_the_stack_sets():
    """Every variable the DAG folder reads is in airflow/variables.json, and every entry is read;
    the optional ones only with a default (var.value.get('name', ...)), the others directly."""
    direct, with_default = set(), set()
    for path in DAGS.glob("*.py"):
        text = path.read_text()
        direct |= set(re.findall(r"var\.(?:value|json)\.([a-z_]+)", text)) - {"get"}
        with_default |= set(re.findall(r"var\.(?:value|json)\.get\(\s*['\"]([a-z_]+)['\"]\s*,", text))
    assert direct | with_default == set(VARIABLES)
    assert with_default == OPTIONAL_VARIABLES
    assert not direct & OPTIONAL_VARIABLES
    assert OPTIONAL_VARIABLES < set(VARIABLES)
    assert set(SAMPLE_VARIABLES) == set(VARIABLES) - OPTIONAL_VARIABLES


def test_dags_render_with_every_optional_variable_absent(dagbag, monkeypatch):
    """The stack leaves optional variables out when they have no value; the tasks still render,
    and the batches leave the settings out so that the service applies its defaults."""
    for name in OPTIONAL_VARIABLES:
        monkeypatch.delenv(f"AIRFLOW_VAR_{name.upper()}", raising=False)
    run = "manual__2026-01-31T18:00:00+00:00"
    for dag_id, task_id in ((SCORING, "Predict-Customer-Churn"), (TRAINING, "Train-Churn-Model")):
        batch = render(dagbag, dag_id, task_id, run).batch
        assert "container_image" not in batch["runtime_config"]
        assert "jar_file_uris" not in batch["pyspark_batch"]


def test_dag_paths_match_what_the_stack_uploads_and_the_job_writes():
    import s8s_common

    jobs = REPO / "pyspark"
    for name in ("batch_scoring.py", "model_training.py", "table_schemas.json", *s8s_common.JOB_MODULES):
        assert (jobs / name).is_file()
    # The tables the DAGs name are tables the stack creates from pyspark/table_schemas.json, and the
    # reconciliation reads the columns the scoring job writes there.
    tables = json.loads((jobs / "table_schemas.json").read_text())
    named = {s8s_common.PREDICTIONS_TABLE, s8s_common.REJECTS_TABLE, s8s_common.RUNS_TABLE}
    assert named <= set(tables), sorted(named - set(tables))
    sql = s8s_common.reconciliation_sql("p.d")
    for column in ("pipeline_id", "batch_id", "read", "scored", "rejected"):
        assert column in {c["name"] for c in tables[s8s_common.RUNS_TABLE]}
        assert column in sql
    assert "pipeline_id" in {c["name"] for c in tables[s8s_common.PREDICTIONS_TABLE]}
    assert "pipeline_id" in {c["name"] for c in tables[s8s_common.REJECTS_TABLE]}
    stack = (REPO / "lib" / "stack.ts").read_text()
    assert "prefix: 'dags'" in stack and "prefix: 'pyspark'" in stack and "prefix: 'data'" in stack
    # The trigger commands the stack prints name the DAG ids the DAG files define.
    assert "SCORING_DAG_ID = 'customer-churn-prediction'" in stack
    assert "TRAINING_DAG_ID = 'customer-churn-training'" in stack
    for sample in ("scoring.csv", "training.csv"):
        assert (jobs / "data" / sample).is_file()


def test_parsing_touches_no_database_and_no_variables(tmp_path):
    """Parse in a fresh process whose metadata database cannot be opened and that has no
    variables at all: any Variable.get or query at parse time would fail the import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_VAR_")}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path}/missing/dir/airflow.db"
    env["AIRFLOW_HOME"] = str(tmp_path)
    code = (
        "from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r}, include_examples=False)\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(bag.dag_ids))\n"
        "from airflow.settings import Session\n"
        "from airflow.models.variable import Variable\n"
        "try:\n"
        "    Variable.get('model_version')\n"
        "except KeyError:\n"
        "    print('variable store unreachable')\n"
        "else:\n"
        "    raise SystemExit('the variable store was reachable: this test proves nothing')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['customer-churn-prediction', 'customer-churn-training']" in result.stdout
    assert "variable store unreachable" in result.stdout
    assert "unable to open database file" in result.stdout + result.stderr  # why it was unreachable


def test_ruff_with_airflow_rules_passes():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    result = subprocess.run(
        [ruff, "check", "--config", str(REPO / "airflow" / "ruff.toml"), str(REPO / "airflow")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_states_the_quota_the_batches_need():
    """Prerequisites names the regional CPUS and DISKS_TOTAL_GB and the global CPUS_ALL_REGIONS
    quota for the batch size the DAGs ask for (batch_size.json, which npm run preflight reads too)
    plus the history server's e2-standard-2 and 35 GB disk; the batch cannot grow past that size."""
    import s8s_common

    size = s8s_common.BATCH_SIZE
    assert size == json.loads((DAGS / "batch_size.json").read_text())["properties"]
    vcpus = int(size["spark.driver.cores"]) + int(size["spark.executor.cores"]) * int(size["spark.executor.instances"])
    assert vcpus == s8s_common.BATCH_VCPUS == 12
    assert size["spark.dynamicAllocation.enabled"] == "false"
    disk = int(size["spark.dataproc.driver.disk.size"].removesuffix("g"))
    assert disk == int(size["spark.dataproc.executor.disk.size"].removesuffix("g")) == 400
    readme = (REPO / "README.md").read_text()
    assert f"`CPUS` {vcpus + 2} ({vcpus} for a batch" in readme
    assert f"`DISKS_TOTAL_GB` {disk * (1 + int(size['spark.executor.instances'])) + 35} ({disk} GB for the driver" in readme
    assert f"{vcpus + 2} of the global `CPUS_ALL_REGIONS`" in readme
    assert f"{2 * vcpus + 2} CPUs if a training and a scoring batch run at once" in readme
