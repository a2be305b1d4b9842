"""Seed 7.2-7.5 as a person does them, in a real browser (Debian's chromium driven by Playwright) on
the local Airflow UI, then checked outside the browser: the run's conf through the REST API, the
seed's 7.5 query in the emulated BigQuery, the Spark History Server's applications. And a run whose
batch fails (a bad input URI) shown failed in the UI, with the cause in its task log."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from local import walkthrough
from local.composer import runs

REPO = Path(__file__).resolve().parents[3]
SEED_7_5 = REPO / "test" / "python" / "twin" / "fixtures" / "seed_7_5.sql"
RUN_TIMEOUT_S = 600


def sign_in(page, airflow) -> None:
    page.goto(airflow.url)
    page.get_by_label("Username").fill(airflow.username)
    page.get_by_label("Password").fill(airflow.password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(airflow.url + "/")


def wait_for_run_state(page, want: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Waits on the run's page until the run's badge (the page's first state badge, in its header)
    reads a finished state; reloads now and then as a person would. Returns the state shown."""
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        badge = page.get_by_test_id("state-badge").first
        badge.wait_for(timeout=30_000)
        shown = badge.inner_text().strip()
        if shown in ("Success", "Failed"):
            return shown
        page.wait_for_timeout(5_000)
        page.reload()
    pytest.fail(f"the run page still showed {shown!r} after {timeout:.0f} s; expected {want}")


def batch_app_id(lab, batch_id: str) -> str:
    """The Spark application id the batch's driver logged (its event log is named by it)."""
    output = (lab.state_dir / "dataproc" / "batches" / batch_id / "driveroutput").read_text(errors="replace")
    ids = set(re.findall(r"\blocal-\d{10,}\b", output))
    assert len(ids) == 1, f"batch {batch_id}: expected one application id in its driver output, found {ids}"
    return ids.pop()


@pytest.fixture(scope="module")
def failing_run(lab):
    """A training run on a missing input file, triggered through the REST API when this module
    starts; the training DAG runs one run at a time, so it runs after the good training run (which
    test_airflow.py's cases made first) and waits out its retry delay during the browser case."""
    data_bucket = lab_variable(lab, "DATA_BUCKET")
    uri = f"gs://{data_bucket}/data/no-such-file.csv"
    run = runs.trigger(lab.airflow, walkthrough.TRAINING_DAG, {"input_uri": uri})
    return {"run_id": run["dag_run_id"], "input_uri": uri}


def lab_variable(lab, name: str) -> str:
    from local.composer import environment

    return environment.software_config(lab.state_dir)["env_variables"][f"AIRFLOW_VAR_{name}"]


def test_scoring_run_triggered_in_the_ui(lab, training, failing_run, browser_page, bigquery):
    page, airflow, version = browser_page, lab.airflow, training["model_version"]
    sign_in(page, airflow)
    page.goto(f"{airflow.url}/dags/{walkthrough.SCORING_DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_model_version").fill(version)  # the DAG's model_version param
    dialog.get_by_role("button", name="Trigger").click()
    page.wait_for_url(re.compile(rf".*/dags/{walkthrough.SCORING_DAG}/runs/.+"))
    run_id = unquote(page.url.rsplit("/runs/", 1)[1])
    if wait_for_run_state(page, "Success") != "Success":
        explained = runs.explain_failure(airflow, lab.state_dir, walkthrough.SCORING_DAG, run_id)
        pytest.fail(f"the run showed Failed in the UI: {explained}")

    # Outside the browser: the run's conf holds the version typed into the form.
    run = runs.get_run(airflow, walkthrough.SCORING_DAG, run_id)
    assert run["state"] == "success"
    assert run["conf"]["model_version"] == version
    # The seed's 7.5 query, bound to this run's pipeline_id, returns rows scored with that version.
    pipeline_id = walkthrough.xcom(lab, walkthrough.SCORING_DAG, run_id, "announce_pipeline")
    sql = "\n".join(line for line in SEED_7_5.read_text().splitlines() if not line.startswith("--"))
    rows = [dict(r.items()) for r in bigquery.query(sql.replace("'YOUR_PIPELINE_ID'", f"'{pipeline_id}'")).result()]
    assert rows, f"the 7.5 query returned no rows for pipeline_id {pipeline_id}"
    assert {r["model_version"] for r in rows} == {version}
    assert {r["pipeline_id"] for r in rows} == {pipeline_id}
    # The history server lists the application of the batch this run submitted.
    ti = airflow.call(
        "GET", f"/api/v2/dags/{walkthrough.SCORING_DAG}/dagRuns/{runs._q(run_id)}/taskInstances/{walkthrough.SCORE_TASK}"
    )
    app_id = batch_app_id(lab, runs.rendered(ti, "batch_id"))
    deadline = time.monotonic() + 60
    while app_id not in {a["id"] for a in lab.history.applications()} and time.monotonic() < deadline:
        time.sleep(2)
    (app,) = [a for a in lab.history.applications() if a["id"] == app_id]
    assert app["name"] == "s8s-batch-scoring" and app["attempts"][0]["completed"]


def test_failed_batch_shows_failed_in_the_ui_with_its_cause(lab, failing_run, browser_page):
    page, airflow = browser_page, lab.airflow
    run = runs.wait(airflow, walkthrough.TRAINING_DAG, failing_run["run_id"], timeout=RUN_TIMEOUT_S)
    assert run["state"] == "failed"
    explained = runs.explain_failure(airflow, lab.state_dir, walkthrough.TRAINING_DAG, failing_run["run_id"])
    assert "no-such-file.csv" in explained, explained  # it failed reading its input, not before
    sign_in(page, airflow)
    page.goto(f"{airflow.url}/dags/{walkthrough.TRAINING_DAG}/runs/{runs._q(failing_run['run_id'])}")
    assert wait_for_run_state(page, "Failed") == "Failed"
    # The task's row in the run's task list shows it failed.
    row = page.get_by_role("row").filter(has_text=walkthrough.TRAIN_TASK)
    assert row.get_by_test_id("state-badge").inner_text().strip() == "Failed"
    # Its log, opened in the UI, names the batch and why it failed: the missing input.
    row.get_by_role("link", name=walkthrough.TRAIN_TASK).click()
    page.wait_for_url(re.compile(rf".*/tasks/{walkthrough.TRAIN_TASK}.*"))
    log = page.get_by_text(re.compile(r"no-such-file\.csv")).first
    log.wait_for(timeout=60_000)
    text = page.locator("body").inner_text()
    assert "no-such-file.csv" in text and re.search(r"FAILED|failed", text)
    # The same failure explained by `npm run local` names the DAG, the task and the batch's state_message.
    assert f"DAG {walkthrough.TRAINING_DAG}" in explained and f"task {walkthrough.TRAIN_TASK} failed" in explained
    assert re.search(r"batch s8s-train-\S+: FAILED: .*no-such-file\.csv", explained), explained
