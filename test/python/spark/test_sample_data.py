"""The generator is deterministic, realistic and dirty in the ways real exports are."""

from __future__ import annotations

import csv

from conftest import JOBS
from local import sample_data
from s8s_churn.contract import INPUT_COLUMNS, LABEL_COLUMN


def test_shipped_samples_are_what_the_generator_makes(sample_files):
    for name in (sample_data.TRAINING_FILE, sample_data.SCORING_FILE):
        shipped = (JOBS / "data" / name).read_bytes()
        assert shipped == sample_files["training" if name == sample_data.TRAINING_FILE else "scoring"].read_bytes(), (
            f"pyspark/data/{name} differs from the generator: "
            "run `PYTHONPATH=pyspark python -m local.sample_data --out pyspark/data`"
        )


def test_training_sample_distributions(sample_files):
    rows = list(csv.DictReader(sample_files["training"].open(encoding="utf-8")))
    assert len(rows) == sample_data.TRAINING_ROWS
    assert list(rows[0]) == INPUT_COLUMNS + [LABEL_COLUMN]
    churn = sum(r["Churn"] == "Yes" for r in rows) / len(rows)
    assert 0.2 <= churn <= 0.32, churn
    assert all(0 <= int(r["tenure"]) <= 72 for r in rows)
    assert all(18.0 <= float(r["MonthlyCharges"]) <= 119.0 for r in rows)
    new = [r for r in rows if r["tenure"] == "0"]
    assert new and all(r["TotalCharges"] == "" for r in new)
    assert any(r["OnlineSecurity"] == "No internet service" for r in rows)
    assert any(r["MultipleLines"] == "No phone service" for r in rows)
    assert len({r["customerID"] for r in rows}) == len(rows)


def test_scoring_sample_has_no_label_and_a_few_bad_rows(sample_files):
    rows = list(csv.DictReader(sample_files["scoring"].open(encoding="utf-8")))
    assert len(rows) == sample_data.SCORING_ROWS
    assert LABEL_COLUMN not in rows[0]
    assert sum(r["tenure"] == "twelve" or r["SeniorCitizen"] == "2" or r["customerID"] == "" for r in rows) == 3


def test_same_seed_same_rows():
    a = list(sample_data.customers(50, 7, True))
    b = list(sample_data.customers(50, 7, True))
    c = list(sample_data.customers(50, 8, True))
    assert a == b and a != c
