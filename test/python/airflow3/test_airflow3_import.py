"""The DAG files import cleanly on Airflow 3 (with the same Google provider), without warnings
about anything Airflow 3 moved or removed. Airflow 3's DAG processor puts the bundle folder on
sys.path, as PYTHONPATH does here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parents[3] / "airflow" / "dags"

CODE = f"""
import warnings
import airflow
from airflow.models.dagbag import DagBag
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bag = DagBag(dag_folder={str(DAGS)!r}, include_examples=False)
assert not bag.import_errors, bag.import_errors
ours = [f"{{w.filename}}:{{w.lineno}}: {{w.message}}" for w in caught if {str(DAGS)!r} in str(w.filename)]
assert not ours, ours
print(airflow.__version__, sorted(bag.dags), sorted(bag.dags["customer-churn-prediction"].task_ids))
"""


def test_dags_import_on_airflow_3():
    home = tempfile.mkdtemp(prefix="s8s-airflow3-")
    env = {**os.environ, "AIRFLOW_HOME": home, "PYTHONPATH": str(DAGS), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    version, _, rest = result.stdout.strip().splitlines()[-1].partition(" ")
    assert version.startswith("3."), version
    assert "['customer-churn-prediction', 'customer-churn-training']" in rest
    assert "'Predict-Customer-Churn'" in rest
