#!/usr/bin/env bash
# Re-resolves the Python lock files from the .in files (a maintainer's task, not a test step).
#
# Airflow: one environment per line in airflow/composer_images.json, named by its testEnv. Its
# lock pins what that Composer build ships (the line's "pins": Airflow, the Task SDK, the Google
# provider) and resolves every other package as it stood on the build's release date
# ("packagesAsOf", uv --exclude-newer), the way Airflow's own constraint files freeze a release.
# Left to today's newest releases, Airflow 3.2.2's in-process Execution API breaks (svcs 26,
# fastapi 0.16x, pydantic 2.13+ each failed on 2026-12-01).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
source "$here/python-env.sh" --source-only
cd "$here/requirements"
uv_bin="$(ensure_uv)"
# One universal resolution per lock (uv pip compile --universal): markers instead of one platform,
# so the same lock installs on Linux x86_64 and arm64 and on macOS arm64 (the local lab's platforms,
# README), each package pinned to one version with the hashes of every wheel it publishes.
common=(--universal --python-version 3.11 --generate-hashes --quiet)
"$uv_bin" pip compile uv.in "${common[@]}" -o uv.lock
"$uv_bin" pip compile spark.in "${common[@]}" -o spark.lock
"$uv_bin" pip compile checkov.in "${common[@]}" -o checkov.lock
"$uv_bin" pip compile twin.in "${common[@]}" -o twin.lock
"$uv_bin" pip compile lint.in "${common[@]}" -o lint.lock
"$uv_bin" pip compile browser.in "${common[@]}" -o browser.lock

# One line per environment: testEnv, build, packagesAsOf, then the pins as name==version.
"$PYTHON" - "$repo/airflow/composer_images.json" > airflow-lines.tmp <<'PY'
import json, sys
for line in json.load(open(sys.argv[1]))["lines"]:
    pins = " ".join(f"{name}=={version}" for name, version in line["pins"].items())
    print(line["testEnv"], line["build"], line["packagesAsOf"], pins)
PY
while read -r env build as_of pins; do
  tmp="$(mktemp -d)"
  printf '%s\n' $pins google-cloud-dataproc google-cloud-bigquery > "$tmp/image.in"
  "$uv_bin" pip compile "$tmp/image.in" airflow-tools.in "${common[@]}" \
    --exclude-newer "${as_of}T00:00:00Z" --no-header -o "$tmp/lock"
  {
    echo "# Airflow test environment '$env': the packages of Cloud Composer's $build."
    echo "# Pinned as that build ships them: $pins."
    echo "# Everything else as published on $as_of (packagesAsOf: the cut-off for that build), for Python 3.11."
    echo "# Written by scripts/lock-python.sh from airflow/composer_images.json; do not edit."
    cat "$tmp/lock"
  } > "$env.lock"
  rm -rf "$tmp"
done < airflow-lines.tmp
rm -f airflow-lines.tmp
echo "locked: $(ls ./*.lock | tr '\n' ' ')"
