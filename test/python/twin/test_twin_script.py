"""The twin's own failures: an emulator that does not come up is named, with its log; a jar that is
not the pinned one is refused and removed; a connector source that is not the pinned one, or is not
where the setting points, is refused before any build (local/connector/jars.py)."""

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
    pin = next(p for p in jars.pins() if p.kind == "jar")
    jar = tmp_path / pin.file_name
    jar.write_bytes(b"not the connector")
    with pytest.raises(jars.JarError, match=f"{pin.file_name}: sha256 [0-9a-f]{{64}} is not the pinned {pin.sha256}"):
        jars.pinned_jars(tmp_path)
    assert not jar.exists()


def test_every_pin_names_its_artifact_or_source_and_a_sha256():
    assert {(p.kind, p.file_name) for p in jars.pins()} == {
        ("source", "spark-bigquery-connector-0.43.1-src.tar.gz"),
        ("jar", "gcs-connector-3.0.4-shaded.jar"),
        ("jar", "hadoop-client-api-3.3.6.jar"),
        ("jar", "hadoop-client-runtime-3.3.6.jar"),
    }
    assert all(len(p.sha256) == 64 for p in jars.pins())


def test_a_connector_source_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "spark-bigquery-connector-0.43.1-src.tar.gz"
    fake.write_bytes(b"not the source")
    monkeypatch.setenv(jars.SOURCE_SETTING, str(fake))
    monkeypatch.setenv(jars.CACHE_SETTING, str(tmp_path / "cache"))
    with pytest.raises(
        jars.JarError, match=rf"{fake}: sha256 [0-9a-f]{{64}} is not the pinned [0-9a-f]{{64}}; refusing to build"
    ):
        jars.bigquery_connector_jar()
    assert not list((tmp_path / "cache").rglob("*.jar"))


def test_a_missing_connector_source_names_the_setting_that_points_at_it(tmp_path, monkeypatch):
    monkeypatch.setenv(jars.SOURCE_SETTING, str(tmp_path / "nowhere.tar.gz"))
    monkeypatch.setenv(jars.CACHE_SETTING, str(tmp_path / "cache"))
    with pytest.raises(
        jars.JarError, match=r"its source tarball is not at S8S_CONNECTOR_SOURCE=.*nowhere\.tar\.gz; set S8S_CONNECTOR_SOURCE"
    ):
        jars.bigquery_connector_jar()


def test_the_twin_runs_the_one_pinned_cloud_storage_connector(monkeypatch):
    pin = jars.gcs_connector_pin()
    assert (pin.name, pin.version) == ("com.google.cloud.bigdataoss:gcs-connector:3.0.4:jar:shaded", "3.0.4")
    second = jars.Pin("jar", "com.google.cloud.bigdataoss:gcs-connector:3.1.22", "0" * 64)
    monkeypatch.setattr(jars, "pins", lambda: [pin, second])
    with pytest.raises(jars.JarError, match="must pin exactly one com.google.cloud.bigdataoss:gcs-connector jar; found 2"):
        jars.gcs_connector_pin()
