"""Rejected rows: kept by the scoring pass when few, read again when many, written alike either way."""

from __future__ import annotations

import pytest

from conftest import job_args
from s8s_churn import rejects, scoring
from s8s_churn.contract import REJECTS_TABLE

COLUMNS = ["customer_id", "reject_reason", "raw_record", "model_version", "pipeline_execution_dt"]


@pytest.fixture
def small_partitions(spark):
    """The sample input split in several partitions, so rejects are numbered in each."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, "16k")
    yield
    spark.conf.set(key, before)


def run(spark, models_root, input_path, out):
    summary = scoring.run(spark, scoring.parse_args(job_args(models_root, input_path, out)))
    written = spark.read.parquet(str(out / REJECTS_TABLE)).select(COLUMNS).collect()
    return summary, sorted((tuple(r) for r in written), key=repr)


def test_few_rejects_are_kept_by_the_first_pass_and_written_as_a_second_read_writes_them(
    spark, models_root, sample_files, tmp_path, monkeypatch, small_partitions
):
    assert scoring.checked_rows(spark, str(sample_files["scoring"]), with_label=False).rdd.getNumPartitions() > 1
    read_again = scoring.rejects_of

    def no_second_read(checked):
        raise AssertionError("the input was read again for 5 rejected rows")

    monkeypatch.setattr(scoring, "rejects_of", no_second_read)
    kept_summary, kept_rows = run(spark, models_root, sample_files["scoring"], tmp_path / "kept")

    monkeypatch.setattr(scoring, "rejects_of", read_again)
    monkeypatch.setattr(rejects, "KEEP_AT_MOST", 0)  # one per partition: not all 5, so read again
    again_summary, again_rows = run(spark, models_root, sample_files["scoring"], tmp_path / "again")

    assert len(kept_rows) == kept_summary["rejected"] == 5
    assert kept_rows == again_rows
    assert kept_summary == {**again_summary, "seconds": kept_summary["seconds"]}
    reasons = {r["reason"] for r in kept_summary["reject_reasons"]}
    assert "customerID: blank; expected an id" in reasons and len(reasons) == 5


def test_more_rejects_than_kept_are_read_again_and_all_written(spark, models_root, sample_files, tmp_path, monkeypatch):
    calls = []
    read_again = scoring.rejects_of
    monkeypatch.setattr(scoring, "rejects_of", lambda checked: calls.append(1) or read_again(checked))
    monkeypatch.setattr(rejects, "KEEP_AT_MOST", 3)
    summary, written = run(spark, models_root, sample_files["scoring"], tmp_path / "out")
    assert calls == [1]
    assert summary["rejected"] == len(written) == 5
    assert (summary["read"], summary["scored"]) == (400, 395)


def test_the_kept_rows_are_the_rejected_rows_as_read(spark, models_root, sample_files, tmp_path):
    _, written = run(spark, models_root, sample_files["scoring"], tmp_path / "out")
    by_reason = {r[1]: r for r in written}
    blank_id = by_reason["customerID: blank; expected an id"]
    assert blank_id[0] is None or blank_id[0].strip() == ""
    senior = by_reason["SeniorCitizen: '2' is not 0 or 1"]
    assert '"SeniorCitizen":"2"' in senior[2] and '"_corrupt_record":null' in senior[2]
