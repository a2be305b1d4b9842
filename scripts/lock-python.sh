#!/usr/bin/env bash
# Re-resolves the Python lock files from the .in files (a maintainer's task, not a test step).
# Airflow has no reachable constraints URL offline, so airflow-constraints.txt pins what
# Airflow's own constraints file (the one that ships google provider 15.1.0) pins for the
# libraries that decide whether it imports at all; airflow3-constraints.txt is the same list
# without the Airflow 2 web-server pins.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/python-env.sh" --source-only
cd "$here/requirements"
uv_bin="$(ensure_uv)"
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet)
"$uv_bin" pip compile uv.in "${common[@]}" -o uv.lock
"$uv_bin" pip compile spark.in "${common[@]}" -o spark.lock
"$uv_bin" pip compile checkov.in "${common[@]}" -o checkov.lock
"$uv_bin" pip compile twin.in "${common[@]}" -o twin.lock
"$uv_bin" pip compile airflow.in -c airflow-constraints.txt "${common[@]}" -o airflow.lock
# Airflow 3 only proves the DAG files import there; the web-UI pins of Airflow 2 do not apply.
"$uv_bin" pip compile airflow3.in -c airflow3-constraints.txt "${common[@]}" -o airflow3.lock
echo "locked: $(ls ./*.lock | tr '\n' ' ')"
