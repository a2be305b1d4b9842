"""The local lab's suite (browser environment; scripts/test-local.sh): the whole local lab started
once for every case (local/walkthrough.py: twin, deploy, Dataproc twin, history server, Airflow),
one training run through the REST API, and the lab stopped at the end with nothing left running."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))  # the `local` package; pyspark/ and airflow/ have no __init__.py, so installed packages win

CHROMIUM = os.environ.get("S8S_CHROMIUM", "/usr/bin/chromium")
# Debian's chromium, headless and offline: no sandbox (containers, root), no GPU, and none of the
# background services that would reach the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    from local import walkthrough
    from local.twin import settings

    # Two batches run at once here (the failing run's and the browser's scoring run): 2 x 12 vCPUs
    # and the history server's 2 are more than the twin's default regional CPUS quota of 24, which
    # would refuse the second batch as the service does. The suite's twin project has 48.
    os.environ[settings.CPUS_QUOTA_ENV] = "48"
    state = tmp_path_factory.mktemp("lab")
    started = walkthrough.start(state, log=lambda line: print(line, file=sys.stderr))
    try:
        yield started
    finally:
        walkthrough.stop(state)
        assert not any(started.airflow.alive().values()), "an Airflow component outlived `stop`"
        assert started.history.pid() is None or not _alive(started.history.pid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session")
def software_config(lab) -> dict:
    from local.composer import environment

    return environment.software_config(lab.state_dir)


@pytest.fixture(scope="session")
def training(lab) -> dict:
    """One training run through the REST API, as `npm run local` triggers it; its run and version."""
    from local import walkthrough
    from local.composer import runs

    run = runs.run_and_wait(
        lab.airflow, lab.state_dir, walkthrough.TRAINING_DAG, {}, log=lambda line: print(line, file=sys.stderr)
    )
    return {"run_id": run["dag_run_id"], "model_version": walkthrough.trained_version(lab, run["dag_run_id"])}


@pytest.fixture(scope="session")
def bigquery(lab):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bq

    from local.twin.emulators import TwinState

    state = TwinState.load(lab.state_dir)
    return bq.Client(
        project=state.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": state.bigquery_endpoint}
    )


@pytest.fixture()
def browser_page(tmp_path):
    """A fresh Chromium profile per case (its own user-data-dir), driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
