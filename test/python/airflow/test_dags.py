"""The DAGs as the real Airflow of this environment (one of airflow/composer_images.json's lines)
loads and parses them, and what they are built from; test_execute.py runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from conftest import (
    DAGBAG_KWARGS,
    DAGBAG_MODULE,
    DAGS,
    IMAGES,
    LINE,
    OPTIONAL_VARIABLES,
    REPO,
    SAMPLE_VARIABLES,
    VARIABLES,
    load_dagbag,
)

SCORING = "customer-churn-prediction"
TRAINING = "customer-churn-training"
BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")


@pytest.fixture(scope="module")
def dagbag():
    return load_dagbag()


def test_dagbag_loads_without_import_errors_or_deprecation_warnings():
    """Imported in a fresh process, as the DAG processor does: no import error, and no warning
    about anything Airflow moved or removed, raised from the DAG files."""
    code = (
        "import warnings\n"
        f"from {DAGBAG_MODULE} import DagBag\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    bag = DagBag(**{DAGBAG_KWARGS!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        f"ours = [f'{{w.filename}}:{{w.lineno}}: {{w.message}}' for w in caught if {str(DAGS)!r} in str(w.filename)]\n"
        "assert not ours, ours\n"
        "print(sorted(bag.dag_ids))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(DAGS)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == str(sorted([SCORING, TRAINING]))


def test_this_environment_is_the_package_set_of_its_composer_build():
    """The environment's lock names the build it copies and pins what that build ships."""
    from importlib.metadata import version

    lock = (REPO / "scripts" / "requirements" / f"{LINE['testEnv']}.lock").read_text()
    assert f"the packages of Cloud Composer's {LINE['build']}." in lock.splitlines()[0]
    for name, pinned in LINE["pins"].items():
        assert f"\n{name}=={pinned} \\" in lock, name
        assert version(name) == pinned, name
    unverified = ", ".join(LINE["unverified"])
    assert f"# Unverified (not read from Google's package list; see airflow/composer_images.json): {unverified}." in lock
    assert [line["testEnv"] for line in IMAGES["lines"]] == ["airflow3", "airflow2"]
    # The default deploys the very build this environment copies, not an alias that resolves later.
    assert IMAGES["default"] == IMAGES["lines"][0]["build"] and not IMAGES["lines"][0]["legacy"]


def test_every_pin_says_whether_it_was_read_from_google():
    for line in IMAGES["lines"]:
        verified, unverified = set(line["verified"]), set(line["unverified"])
        assert set(line["pins"]) == verified | unverified and not verified & unverified, line["image"]
        assert all(why.strip() for why in {**line["verified"], **line["unverified"]}.values())
    docs = (REPO / "docs" / "versions.md").read_text()
    for line in IMAGES["lines"]:
        for name in line["unverified"]:
            assert f"`{name}` {line['pins'][name]} (unverified" in docs, (line["image"], name)


def test_test_python_runs_the_suite_once_per_line():
    script = (REPO / "scripts" / "test-python.sh").read_text()
    assert "airflow/composer_images.json" in script and 'for name in "${airflow_envs[@]}"' in script
    assert "pytest -p no:cacheprovider -q test/python/airflow" in script


def test_scoring_dag_shape(dagbag):
    dag = dagbag.get_dag(SCORING)
    assert set(dag.task_ids) == {"announce_pipeline", "Predict-Customer-Churn", "check_predictions_written", "check_drift"}
    assert dag.get_task("announce_pipeline").downstream_task_ids == {"Predict-Customer-Churn"}
    assert dag.get_task("Predict-Customer-Churn").downstream_task_ids == {"check_predictions_written"}
    assert dag.get_task("check_predictions_written").downstream_task_ids == {"check_drift"}
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: runs only when triggered
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert dag.get_task("Predict-Customer-Churn").retries == 1


def test_training_dag_shape(dagbag):
    dag = dagbag.get_dag(TRAINING)
    assert dag.task_ids == ["Train-Churn-Model"]
    assert type(dag.timetable).__name__ == "NullTimetable" and dag.catchup is False and dag.max_active_runs == 1


def test_ids_from_airflow_3_manual_run_ids_are_valid_and_stable():
    """Airflow 3 names a run triggered without a logical date manual__<run_after>_<8 random
    characters>: the pipeline and batch ids made from it are valid, the same every time they are
    made from that id, and differ for two runs triggered in the same microsecond."""
    from s8s_common import batch_id_for, pipeline_id_for

    run_id = "manual__2026-12-01T09:02:29.303346+00:00_r6QUIbw1"
    twin = "manual__2026-12-01T09:02:29.303346+00:00_Zk0pQ2mB"
    assert pipeline_id_for(run_id) == pipeline_id_for(run_id)
    assert re.fullmatch(r"manual-2026-12-01t09-02-29-3033-[0-9a-f]{8}", pipeline_id_for(run_id)), pipeline_id_for(run_id)
    assert pipeline_id_for(run_id) != pipeline_id_for(twin)
    for attempt in (1, 2, 12):
        assert BATCH_ID.match(batch_id_for("score", run_id, attempt)), batch_id_for("score", run_id, attempt)
    assert len({batch_id_for("score", run_id, n) for n in (1, 2)}) == 2


def test_long_run_ids_still_give_valid_batch_ids():
    from s8s_common import batch_id_for, pipeline_id_for

    run_id = "scheduled__" + "x" * 200 + "__ÄÖ:+/"
    assert BATCH_ID.match(batch_id_for("score", run_id, 12))
    assert pipeline_id_for(run_id) != pipeline_id_for(run_id + "y")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,38}[a-z0-9]", pipeline_id_for(run_id))


def test_run_timestamp_is_the_logical_date_else_run_after():
    """What a re-run keeps: both come from the stored run, not from the clock at run time."""
    from types import SimpleNamespace

    from s8s_common import default_model_version, run_timestamp

    logical = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    after = datetime(2026, 12, 1, 9, 2, 29, 303346, tzinfo=timezone.utc)
    assert run_timestamp(SimpleNamespace(run_id="r", logical_date=logical, run_after=after)) == logical
    cli = SimpleNamespace(run_id="manual__2026-12-01T09:02:29.303346+00:00_r6QUIbw1", logical_date=None, run_after=after)
    assert run_timestamp(cli) == after
    assert re.fullmatch(r"v20261201t090229-[0-9a-f]{8}", default_model_version(cli))
    with pytest.raises(ValueError, match="neither a logical date nor run_after"):
        run_timestamp(SimpleNamespace(run_id="r", logical_date=None, run_after=None))


def test_version_pattern_is_the_registrys():
    """The DAGs check a trigger's model_version with the pattern pyspark/s8s_churn/registry.py enforces."""
    import s8s_common

    registry = (REPO / "pyspark" / "s8s_churn" / "registry.py").read_text()
    assert 'MODEL_VERSION = re.compile(LAB["model_version_pattern"])' in registry
    pattern = json.loads((REPO / "pyspark" / "s8s_churn" / "lab_contract.json").read_text())["model_version_pattern"]
    assert s8s_common.VERSION_PATTERN == pattern
    assert s8s_common.SCORING_VERSION_PATTERN == "^(latest|" + pattern[1:-1] + ")$"


def test_templates_use_no_context_key_a_run_without_logical_date_lacks():
    """On Airflow 3 a run triggered without a logical date has none of these in its context."""
    missing = (
        r"\b(ts|ts_nodash|ts_nodash_with_tz|ds|ds_nodash|logical_date|execution_date"
        r"|data_interval_start|data_interval_end|prev_ds|next_ds)\b"
    )
    for path in DAGS.glob("*.py"):
        for template in re.findall(r"\{\{(.*?)\}\}", path.read_text()):
            assert not re.search(missing, template), f"{path.name}: {{{{{template}}}}}"


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


def test_dag_paths_match_what_the_stack_uploads_and_the_job_writes(dagbag):
    import s8s_common

    jobs = REPO / "pyspark"
    for name in ("batch_scoring.py", "model_training.py", "s8s_churn/table_schemas.json", "s8s_churn/__init__.py"):
        assert (jobs / name).is_file()
    assert s8s_common.JOBS_ARCHIVE == "s8s_churn.zip"  # the package folder's name: what lib/archive.ts names it
    # The tables the DAGs name are tables the stack creates from pyspark/s8s_churn/table_schemas.json, and the
    # reconciliation reads the columns the scoring job writes there.
    tables = json.loads((jobs / "s8s_churn" / "table_schemas.json").read_text())
    named = {s8s_common.PREDICTIONS_TABLE, s8s_common.REJECTS_TABLE, s8s_common.RUNS_TABLE}
    assert named <= set(tables), sorted(named - set(tables))
    sql = s8s_common.reconciliation_sql("p.d")
    for column in ("pipeline_id", "batch_id", "read", "scored", "rejected"):
        assert column in {c["name"] for c in tables[s8s_common.RUNS_TABLE]}
        assert column in sql
    assert "pipeline_id" in {c["name"] for c in tables[s8s_common.PREDICTIONS_TABLE]}
    assert "pipeline_id" in {c["name"] for c in tables[s8s_common.REJECTS_TABLE]}
    # The DAG ids the stack's trigger commands name (lib/contract.ts reads them from the contract file;
    # the stack snapshot in test/__snapshots__ holds the synthesized commands) are the DAGs Airflow loads,
    # which read them from the same file beside them (airflow/dags/lab_contract.json links to it).
    contract = json.loads((jobs / "s8s_churn" / "lab_contract.json").read_text())
    assert (DAGS / "lab_contract.json").resolve() == (jobs / "s8s_churn" / "lab_contract.json").resolve()
    assert set(contract["dag_ids"].values()) == set(dagbag.dag_ids)
    for sample in ("scoring.csv", "training.csv"):
        assert (jobs / "data" / sample).is_file()


def test_parsing_touches_no_database_and_no_variables(tmp_path):
    """Parse in a fresh process whose metadata database cannot be opened and that has no
    variables at all: any Variable.get or query at parse time would fail the import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_VAR_")}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path}/missing/dir/airflow.db"
    env["AIRFLOW_HOME"] = str(tmp_path)
    env["PYTHONPATH"] = str(DAGS)  # as Airflow 3's DAG processor puts the bundle folder on sys.path
    code = (
        f"from {DAGBAG_MODULE} import DagBag\n"
        f"bag = DagBag(**{DAGBAG_KWARGS!r})\n"
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
