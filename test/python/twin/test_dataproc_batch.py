"""The Dataproc Serverless twin (local/dataproc/batch.py) runs a batch as the service would: the main
file and the python files from the twin's code bucket, the package from the stack's archive, never
from the repository's pyspark/ folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def run_batch(state_dir: str, *args: str) -> subprocess.CompletedProcess:
    # The repository root is the working directory (for `local`), pyspark/ is not on the path.
    cmd = [sys.executable, "-m", "local.dataproc.batch", state_dir, *args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def code(twin_state, stack):
    from local import twin

    return f"gs://{twin.bucket(stack, 'code')}/pyspark"


def test_a_training_batch_runs_from_the_archive_and_registers_its_version(twin_state, buckets, inputs, code):
    root = f"gs://{buckets['models']}/batch-twin"
    done = run_batch(
        twin_state.root, f"--python-file-uri={code}/s8s_churn.zip", f"{code}/model_training.py",
        "--input", inputs["training.csv"], "--models-root", root, "--model-version", "v-batch",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "TRAINED " in done.stdout
    assert (Path(twin_state.gcs_root) / buckets["models"] / "batch-twin" / "v-batch" / "metadata.json").is_file()


def test_without_the_archive_the_job_cannot_import_its_package(twin_state, inputs, code):
    done = run_batch(twin_state.root, f"{code}/model_training.py", "--input", inputs["training.csv"], "--models-root", "/x")
    assert done.returncode == 1
    assert "No module named 's8s_churn'" in done.stdout


def test_a_main_file_the_stack_does_not_upload_is_refused_by_name(twin_state, code):
    done = run_batch(twin_state.root, f"{code}/lab_job.py")
    assert done.returncode == 2
    assert f"main_python_file_uri '{code}/lab_job.py' is not in the twin's Cloud Storage" in done.stdout
