#!/usr/bin/env bash
# `npm run test:py`: the Spark job suite, the cloud-twin suite, then the whole Airflow DAG suite once per Airflow line the
# lab supports (airflow/composer_images.json), each in its own locked environment (created on first
# use). Runs from the repository root without putting it on sys.path, so `import pyspark` and
# `import airflow` stay the installed packages.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
spark="$("$here/python-env.sh" spark)"
mapfile -t airflow_envs < <(python3 -c 'import json; [print(l["testEnv"]) for l in json.load(open("airflow/composer_images.json"))["lines"]]')
lint="$("$here/python-env.sh" lint)"
echo "== ruff: jobs, local lab, benchmark, scripts and tests (scripts/ruff.toml); the DAGs are linted by the Airflow suite"
"$lint/bin/ruff" check --config scripts/ruff.toml pyspark local bench scripts test/python
"$lint/bin/ruff" format --config scripts/ruff.toml --check pyspark local bench scripts test/python
echo "== Spark jobs (pytest, local SparkSession)"
"$spark/bin/python" -m pytest -p no:cacheprovider -q test/python/spark
echo "== Cloud twin: the scoring job and the shipped queries against the Cloud Storage and BigQuery emulators"
bash "$here/test-twin.sh"
echo "== Dataproc twin: the lab's batches through google-cloud-dataproc's client, run by the twin in spark-submit"
bash "$here/test-dataproc.sh"
echo "== Local lab: Airflow 3 over the twin, the history server, the browser cases (Debian's chromium)"
bash "$here/test-local.sh"
for name in "${airflow_envs[@]}"; do
  env="$("$here/python-env.sh" "$name")"
  echo "== Airflow DAGs on $name (pytest, Airflow $("$env/bin/python" -c 'import airflow; print(airflow.__version__)'))"
  "$env/bin/python" -m pytest -p no:cacheprovider -q test/python/airflow
done
