#!/usr/bin/env bash
# `npm run test:py`: the Spark job suite, the Airflow DAG suite and an Airflow 3 import check,
# each in its own locked environment (created on first use). Runs from the repository root without putting it on
# sys.path, so `import pyspark` and `import airflow` stay the installed packages.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
spark="$("$here/python-env.sh" spark)"
airflow="$("$here/python-env.sh" airflow)"
airflow3="$("$here/python-env.sh" airflow3)"
echo "== ruff: jobs, scripts and tests (scripts/ruff.toml); the DAGs are linted by the Airflow suite"
"$airflow/bin/ruff" check --config scripts/ruff.toml pyspark scripts test/python
"$airflow/bin/ruff" format --config scripts/ruff.toml --check pyspark scripts test/python
echo "== Spark jobs (pytest, local SparkSession)"
"$spark/bin/python" -m pytest -p no:cacheprovider -q test/python/spark
echo "== Cloud twin: the scoring job and the shipped queries against the Cloud Storage and BigQuery emulators"
bash "$here/test-twin.sh"
echo "== Airflow DAGs (pytest, Airflow $("$airflow/bin/python" -c 'import airflow; print(airflow.__version__)'))"
"$airflow/bin/python" -m pytest -p no:cacheprovider -q test/python/airflow
echo "== DAG files on Airflow 3 (import only)"
"$airflow3/bin/python" -m pytest -p no:cacheprovider -q test/python/airflow3
