"""The twin's gs:// is Google's Cloud Storage connector at the version scripts/requirements/twin-jars.txt
pins: the class Spark's Hadoop picks for gs:// reports that version and comes from the pinned jar
(its sha256), and a DataFrame written to and read from gs:// through it lands in the Cloud Storage
emulator as objects of the sizes Hadoop reports."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from local.connector import jars
from local.twin import gcs

GHFS = "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"


def hadoop_fs(spark, uri: str):
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark._jsc.hadoopConfiguration())


def test_gs_goes_through_the_pinned_cloud_storage_connector(spark, buckets):
    pin = jars.gcs_connector_pin()
    _, fs = hadoop_fs(spark, f"gs://{buckets['spark']}/")
    cls = fs.getClass()
    assert cls.getName() == GHFS
    # GoogleHadoopFileSystem.VERSION is what the connector reads from its own gcs.properties
    # (gcs.connector.version) and sends in its User-Agent; it is package-private, hence reflection.
    field = cls.getDeclaredField("VERSION")
    field.setAccessible(True)
    assert field.get(None) == pin.version
    loaded_from = Path(unquote(urlparse(cls.getProtectionDomain().getCodeSource().getLocation().toString()).path))
    assert loaded_from.name == pin.file_name
    assert jars.sha256(loaded_from) == pin.sha256


def test_a_dataframe_round_trips_through_gs_into_the_storage_emulator(spark, twin_state, buckets):
    uri = f"gs://{buckets['spark']}/twin-checks/gcs-connector/round-trip"
    rows = [(i, f"customer-{i}", i * 0.5) for i in range(200)]
    df = spark.createDataFrame(rows, "id INT, name STRING, score DOUBLE")
    df.repartition(3).write.mode("overwrite").parquet(uri)

    back = spark.read.parquet(uri)
    assert sorted(tuple(r) for r in back.collect()) == rows

    path, fs = hadoop_fs(spark, uri)
    files = [s for s in fs.listStatus(path) if s.isFile()]
    names = sorted(s.getPath().getName() for s in files)
    assert "_SUCCESS" in names and sum(n.endswith(".parquet") for n in names) == 3
    for status in files:
        name = status.getPath().getName()
        meta = gcs.stat(twin_state.gcs_endpoint, f"{uri}/{name}")
        assert meta is not None, f"{uri}/{name} is not in the Cloud Storage emulator"
        assert int(meta["size"]) == status.getLen(), name
