#!/usr/bin/env bash
# Re-resolves the Python lock files from the .in files (a maintainer's task, not a test step).
# Airflow has no reachable constraints URL offline, so airflow-constraints.txt pins what
# Airflow's own constraints file pins for the libraries that decide whether it imports at all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/python-env.sh" --source-only
cd "$here/requirements"
uv_bin="$(ensure_uv)"
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet)
"$uv_bin" pip compile uv.in "${common[@]}" -o uv.lock
"$uv_bin" pip compile spark.in "${common[@]}" -o spark.lock
"$uv_bin" pip compile checkov.in "${common[@]}" -o checkov.lock
"$uv_bin" pip compile airflow.in -c airflow-constraints.txt "${common[@]}" -o airflow.lock
echo "locked: $(ls ./*.lock | tr '\n' ' ')"
