"""local/twin's own failures: an emulator that does not come up is named, with its log; a jar
that is not the pinned one is refused and removed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from local.connector import jars
from local.twin import emulators as twin


def test_an_emulator_that_exits_at_start_is_named_with_its_log(tmp_path):
    log = tmp_path / "bqemulator.log"
    with open(log, "w") as out:
        code = "print('duckdb: spatial extension missing'); raise SystemExit(3)"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out)
    proc.wait()
    with pytest.raises(twin.TwinError) as failed:
        twin._wait_until_up("BigQuery (bqemulator)", proc, f"http://127.0.0.1:{twin.free_port()}/", str(log))
    message = str(failed.value)
    assert "the BigQuery (bqemulator) emulator exited with code 3 at start" in message
    assert "duckdb: spatial extension missing" in message and str(log) in message


def test_a_jar_that_is_not_the_pinned_one_is_refused_and_removed(tmp_path):
    coords, name, pinned = jars.locked_jars()[0]
    jar = tmp_path / name
    jar.write_bytes(b"not the connector")
    with pytest.raises(twin.TwinError, match=f"{name}: sha256 [0-9a-f]{{64}} is not the pinned {pinned}"):
        jars.ensure_jars(tmp_path)
    assert not jar.exists()


def test_every_pinned_jar_names_its_version_and_a_sha256():
    rows = jars.locked_jars()
    assert {name for _, name, _ in rows} == {
        "gcs-connector-3.0.4-shaded.jar",
        "hadoop-client-api-3.3.6.jar",
        "hadoop-client-runtime-3.3.6.jar",
    }
    assert all(len(sha) == 64 for _, _, sha in rows)
