"""A batch's life in the twin as the API reports it: states and their history, labels and
runtime_config as sent, the driver output where runtime_info.output_uri says, a failing job with
its cause, a cancel that stops the batch's process, the long-running operation, list and delete."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import dataproc_v1

from conftest import wait

State = dataproc_v1.Batch.State


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line holds the text (the batch's folder is in spark-submit's)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(pid))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def succeeded(client, parent, lab_batch, hello):
    sent = lab_batch(hello, ["--greeting=twin", "two words"])
    op = client.create_batch(parent=parent, batch_id="s8s-hello-1", batch=sent)
    first = client.get_batch(name=op.metadata.batch)
    return sent, op, first, op.result(timeout=600)


def test_a_batch_goes_pending_running_succeeded_with_its_history(succeeded):
    _, op, first, batch = succeeded
    assert first.state in (State.PENDING, State.RUNNING)
    assert batch.state == State.SUCCEEDED and batch.state_message == ""
    assert [h.state for h in batch.state_history] == [State.PENDING, State.RUNNING]
    times = [h.state_start_time for h in batch.state_history] + [batch.state_time]
    assert times == sorted(times) and batch.create_time <= times[0]
    assert op.done() and op.metadata.batch_uuid == batch.uuid


def test_labels_and_runtime_config_are_kept_as_sent(succeeded):
    sent, _, _, batch = succeeded
    assert dict(batch.labels) == dict(sent.labels)
    assert dataproc_v1.RuntimeConfig.to_dict(batch.runtime_config) == dataproc_v1.RuntimeConfig.to_dict(sent.runtime_config)
    assert batch.pyspark_batch == sent.pyspark_batch
    assert batch.environment_config == sent.environment_config
    assert batch.operation.startswith("projects/twin-project/regions/us-central1/operations/")


def test_driver_output_is_where_output_uri_says(succeeded, state, variables):
    from local.twin import gcs

    _, _, _, batch = succeeded
    uri = batch.runtime_info.output_uri
    prefix = (
        f"gs://{variables['spark_bucket']}/google-cloud-dataproc-metainfo/{batch.uuid}/jobs/srvls-batch-{batch.uuid}/driveroutput"
    )
    assert uri == prefix
    text = gcs.read(state.gcs_endpoint, uri + ".000000000").decode()
    assert "HELLO --greeting=twin two words" in text  # the batch's args, as sent
    assert "COUNT 10" in text


def test_event_logs_go_to_the_history_folder(succeeded, root):
    from local.dataproc.runner import HISTORY_DIR

    logs = list((root / HISTORY_DIR).iterdir())
    assert logs, f"no event log in {root / HISTORY_DIR}"
    assert any('"App Name":"twin-hello"' in p.read_text(errors="replace") for p in logs if p.is_file())


def test_get_operation_reports_the_finished_batch(client, succeeded):
    _, op, _, batch = succeeded
    got = client.get_operation(request={"name": batch.operation})
    assert got.done and got.name == batch.operation
    assert dataproc_v1.Batch.deserialize(got.response.value).name == batch.name


def test_a_job_reading_a_missing_input_fails_with_its_cause(client, parent, lab_job, variables):
    """The lab's training job, uploaded by the deploy, pointed at an input that does not exist."""
    missing = f"gs://{variables['data_bucket']}/data/no-such-input.csv"
    args = [f"--input={missing}", f"--models-root=gs://{variables['model_bucket']}/churn-model", "--model-version=v-never"]
    op = client.create_batch(parent=parent, batch_id="s8s-bad-input", batch=lab_job("model_training.py", args))
    batch = wait(client, op.metadata.batch)
    assert batch.state == State.FAILED, batch.state_message
    assert batch.state_message.startswith("Job failed with message [")
    assert "no-such-input.csv" in batch.state_message, batch.state_message
    assert batch.runtime_info.output_uri in batch.state_message
    with pytest.raises(exceptions.GoogleAPICallError, match="no-such-input.csv"):
        op.result(timeout=10)


def test_cancel_stops_the_running_batch(client, parent, lab_batch, sleeper, root):
    from local.dataproc.runner import batch_dir

    op = client.create_batch(parent=parent, batch_id="s8s-to-cancel", batch=lab_batch(sleeper, []))
    name = op.metadata.batch
    wait(client, name, until=("RUNNING",))
    output = batch_dir(root, "s8s-to-cancel") / "driveroutput"
    deadline = time.monotonic() + 300
    while "READY" not in (output.read_text(errors="replace") if output.exists() else ""):
        assert time.monotonic() < deadline, "the batch never started its Spark session"
        time.sleep(1)
    folder = str(batch_dir(root, "s8s-to-cancel"))
    assert processes_mentioning(folder), "no process runs the batch"
    client.cancel_operation(request={"name": client.get_batch(name=name).operation})
    assert client.get_batch(name=name).state in (State.CANCELLING, State.CANCELLED)
    batch = wait(client, name, timeout_s=60)
    assert batch.state == State.CANCELLED
    assert [h.state for h in batch.state_history] == [State.PENDING, State.RUNNING, State.CANCELLING]
    assert processes_mentioning(folder) == []
    with pytest.raises(exceptions.FailedPrecondition, match="in state CANCELLED"):
        client.cancel_operation(request={"name": batch.operation})


def test_list_shows_batches_newest_first_and_filters_by_state(client, parent, succeeded):
    batches = list(client.list_batches(parent=parent))
    assert [b.create_time for b in batches] == sorted((b.create_time for b in batches), reverse=True)
    assert succeeded[3].name in [b.name for b in batches]
    request = dataproc_v1.ListBatchesRequest(parent=parent, filter="state = SUCCEEDED", page_size=1)
    pages = list(client.list_batches(request=request).pages)
    assert all(len(p.batches) <= 1 for p in pages)
    assert {b.state for p in pages for b in p.batches} == {State.SUCCEEDED}


def test_delete_removes_a_finished_batch_and_refuses_a_live_one(client, parent, lab_batch, sleeper, hello):
    op = client.create_batch(parent=parent, batch_id="s8s-delete-me", batch=lab_batch(hello, []))
    op.result(timeout=600)
    client.delete_batch(name=op.metadata.batch)
    with pytest.raises(exceptions.NotFound):
        client.get_batch(name=op.metadata.batch)
    live = client.create_batch(parent=parent, batch_id="s8s-live", batch=lab_batch(sleeper, []))
    with pytest.raises(exceptions.FailedPrecondition, match="only a finished batch can be deleted"):
        client.delete_batch(name=live.metadata.batch)
    client.cancel_operation(request={"name": client.get_batch(name=live.metadata.batch).operation})
    assert wait(client, live.metadata.batch, timeout_s=120).state == State.CANCELLED


def test_get_of_an_unknown_batch_is_not_found(client, parent):
    with pytest.raises(exceptions.NotFound, match="no-such-batch"):
        client.get_batch(name=f"{parent}/batches/no-such-batch")
