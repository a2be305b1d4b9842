"""The lab's own jobs as batches, sent by google-cloud-dataproc's client to the twin: the training
job registers a model, then the scoring job, its uploaded file changed in the emulator (one log
line added), scores the sample customers into the emulated BigQuery. The driver output shows the
added line: the batch ran the uploaded bytes, not the repository's file."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest
from google.cloud import dataproc_v1

from conftest import REPO, wait

State = dataproc_v1.Batch.State
MODEL_VERSION = "v-dataproc-twin"
PIPELINE_ID = "dataproc-twin-run"
MARKER = "TWIN-MARKER: this line was added to the uploaded batch_scoring.py"


@pytest.fixture(scope="module")
def trained(client, parent, lab_job, variables):
    v = variables
    args = [
        f"--input=gs://{v['data_bucket']}/data/training.csv",
        f"--models-root=gs://{v['model_bucket']}/churn-model",
        f"--model-version={MODEL_VERSION}",
    ]
    op = client.create_batch(parent=parent, batch_id="s8s-train-twin-a1", batch=lab_job("model_training.py", args))
    batch = wait(client, op.metadata.batch)
    assert batch.state == State.SUCCEEDED, batch.state_message
    return batch


@pytest.fixture(scope="module")
def scoring_batch(client, parent, lab_job, state, variables, trained):
    """The scoring batch, finished, whatever its end."""
    from local.twin import gcs

    v = variables
    uri = f"gs://{v['code_bucket']}/pyspark/batch_scoring.py"
    original = gcs.read(state.gcs_endpoint, uri).decode()
    head, future, rest = original.partition("from __future__ import annotations\n")
    assert future, "batch_scoring.py has no `from __future__` line to add the log line after"
    gcs.upload(state.gcs_endpoint, uri, (head + future + f"print({MARKER!r}, flush=True)\n" + rest).encode())
    args = [
        f"--pipeline-id={PIPELINE_ID}",
        f"--model-version={MODEL_VERSION}",
        f"--input=gs://{v['data_bucket']}/data/scoring.csv",
        f"--models-root=gs://{v['model_bucket']}/churn-model",
        "--sink=bigquery",
        f"--project={v['project_id']}",
        f"--dataset={v['bq_dataset']}",
        f"--temp-bucket={v['spark_bucket']}",
        f"--execution-ts={datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc).isoformat()}",
        "--batch-id=s8s-score-twin-a1",
    ]
    op = client.create_batch(parent=parent, batch_id="s8s-score-twin-a1", batch=lab_job("batch_scoring.py", args))
    return op, wait(client, op.metadata.batch, timeout_s=1200)


@pytest.fixture(scope="module")
def scored(scoring_batch):
    """The scoring batch, which must have succeeded."""
    op, batch = scoring_batch
    assert batch.state == State.SUCCEEDED, batch.state_message
    return op, op.result(timeout=60)


def test_without_the_package_archive_the_job_cannot_import_its_package(client, parent, lab_job, variables):
    """The entry point alone: the batch runs the uploaded file, which fails at `import s8s_churn`
    (the repository's pyspark/ is nowhere on the driver's path)."""
    v = variables
    args = [f"--input=gs://{v['data_bucket']}/data/training.csv", f"--models-root=gs://{v['model_bucket']}/churn-model"]
    op = client.create_batch(parent=parent, batch_id="s8s-no-package", batch=lab_job("model_training.py", args, package=False))
    batch = wait(client, op.metadata.batch)
    assert batch.state == State.FAILED
    assert "No module named 's8s_churn'" in batch.state_message, batch.state_message


def test_the_scoring_batch_succeeds_and_writes_its_predictions(scored, state):
    _, batch = scored
    assert batch.state == State.SUCCEEDED, batch.state_message
    assert state.pipeline_rows("batch_predictions", PIPELINE_ID) == 395
    assert state.pipeline_rows("batch_rejects", PIPELINE_ID) == 5
    assert state.pipeline_rows("batch_runs", PIPELINE_ID) == 1


def test_the_driver_output_shows_the_uploaded_bytes_ran(scoring_batch, state):
    from local.twin import gcs

    _, batch = scoring_batch
    output = gcs.read(state.gcs_endpoint, batch.runtime_info.output_uri + ".000000000").decode()
    assert MARKER in output
    assert MARKER not in (REPO / "pyspark" / "batch_scoring.py").read_text()  # not the repository's file


def test_a_redeploy_puts_back_the_stacks_bytes_and_only_those(scoring_batch, root, state):
    """The deploy compares each object's MD5/CRC32C: only the changed job file is uploaded again."""
    from local.twin import deploy, gcs

    report = deploy.deploy(root)
    uploaded = [o.uri for o in report["objects"] if o.action == "uploaded"]
    assert [u.rsplit("/", 1)[-1] for u in uploaded] == ["batch_scoring.py"]
    assert MARKER not in gcs.read(state.gcs_endpoint, uploaded[0]).decode()


def test_the_batches_command_lists_and_shows_the_batch(scoring_batch, root):
    state = scoring_batch[1].state.name
    cmd = [sys.executable, "-m", "local.dataproc", "batches", str(root)]
    listed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["BATCH", "ID", "STATE", "CREATED", "ELAPSED", "LABELS"]
    row = next(line for line in lines if line.startswith("s8s-score-twin-a1 "))
    assert f" {state} " in row and "airflow-dag-id=twin-suite" in row
    shown = subprocess.run([*cmd, "s8s-score-twin-a1", "--tail=0"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f'"state": "{state}"' in shown.stdout and "state history:" in shown.stdout
    assert MARKER in shown.stdout  # the driver output, in full
    missing = subprocess.run([*cmd, "no-such-batch"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no batch 'no-such-batch'" in missing.stdout
