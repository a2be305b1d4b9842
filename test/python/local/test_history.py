"""The local Spark History Server (local/history/server.py) over a folder of real event logs: a
Spark application run by spark-submit writes its log where the Dataproc twin's batches write
theirs, and the server's REST API lists it; a port in use is named and another chosen."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from local.history import server as history  # noqa: E402

APP = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName(sys.argv[1]).getOrCreate()
print("APP_ID", spark.sparkContext.applicationId)
spark.range(10).count()
spark.stop()
"""


def env(name: str) -> Path:
    out = subprocess.run(["bash", str(REPO / "scripts" / "python-env.sh"), name], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def spark_env() -> Path:
    return env("spark")


def run_app(spark_env: Path, event_logs: Path, name: str, tmp_path: Path) -> str:
    script = tmp_path / "app.py"
    script.write_text(APP)
    event_logs.mkdir(parents=True, exist_ok=True)
    home = history.spark_home(spark_env)
    run_env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": str(spark_env / "bin" / "python")}
    out = subprocess.run(
        [str(home / "bin" / "spark-submit"), "--master", "local[1]",
         "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={event_logs.as_uri()}",
         "--conf", "spark.ui.enabled=false", str(script), name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True, env=run_env,
    )  # fmt: skip
    return next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("APP_ID"))


def test_lists_the_applications_of_the_event_log_folder(spark_env, tmp_path):
    state = tmp_path / "twin"
    app_id = run_app(spark_env, state / history.EVENT_LOG_DIR, "s8s-history-test", tmp_path)
    # Taken: the server names it and picks another (the default, 18080, may be free or not).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        server = history.up(state, spark_env, port=busy)
        try:
            assert server.port != busy
            assert server.url.startswith("http://127.0.0.1:")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                apps = server.applications()
                if any(a["id"] == app_id for a in apps):
                    break
                time.sleep(1)
            (app,) = [a for a in apps if a["id"] == app_id]
            assert app["name"] == "s8s-history-test"
            assert app["attempts"][0]["completed"] is True
            # A second `up` of the same state folder reuses the running server.
            assert history.up(state, spark_env).pid() == server.pid()
            pid = server.pid()
        finally:
            history.down(state)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert history.HistoryServer.load(state) is None
    assert json.loads(json.dumps(apps))  # the REST answer is plain JSON


def test_java_17_is_required_with_a_hint(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(history.HistoryError, match=r"Java 17 .*no java on PATH.*openjdk-17"):
        history.java_check()
