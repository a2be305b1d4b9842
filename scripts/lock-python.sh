#!/usr/bin/env bash
# Re-resolves the Python lock files from the .in files (a maintainer's task, not a test step).
#   scripts/lock-python.sh            every lock
#   scripts/lock-python.sh airflow    only the Airflow lines' locks (after editing airflow/composer_images.json)
#
# Airflow: one environment per line in airflow/composer_images.json, named by its testEnv. Its
# lock pins the line's "pins" (what Google's package list of that build states, where it could be
# read, and the line's "unverified" choices where not: Airflow, the Task SDK, the Google provider)
# and resolves every other package as it stood on the build's release date ("packagesAsOf", uv
# --exclude-newer), the way Airflow's own constraint files freeze a release.
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
# docs/local-lab.md), each package pinned to one version with the hashes of every wheel it publishes.
common=(--universal --python-version 3.11 --generate-hashes --quiet)
case "${1:-all}" in
  all)
    "$uv_bin" pip compile uv.in "${common[@]}" -o uv.lock
    "$uv_bin" pip compile spark.in "${common[@]}" -o spark.lock
    "$uv_bin" pip compile checkov.in "${common[@]}" -o checkov.lock
    "$uv_bin" pip compile twin.in "${common[@]}" -o twin.lock
    "$uv_bin" pip compile lint.in "${common[@]}" -o lint.lock
    "$uv_bin" pip compile browser.in "${common[@]}" -o browser.lock
    ;;
  airflow) ;;
  *) echo "usage: $0 [all|airflow]" >&2; exit 2 ;;
esac

# One line per environment: testEnv, build, packagesAsOf, the unverified pins' names, then the
# pins as name==version. Refuses a pin that is neither verified nor unverified.
"$PYTHON" - "$repo/airflow/composer_images.json" > airflow-lines.tmp <<'PY'
import json, sys
for line in json.load(open(sys.argv[1]))["lines"]:
    sources = set(line["verified"]) | set(line["unverified"])
    if set(line["pins"]) != sources or set(line["verified"]) & set(line["unverified"]):
        sys.exit(f"{line['image']}: every pin must be listed once, under verified or unverified")
    pins = " ".join(f"{name}=={version}" for name, version in line["pins"].items())
    print(line["testEnv"], line["build"], line["packagesAsOf"], ",".join(line["unverified"]) or "-", pins)
PY
while read -r env build as_of unverified pins; do
  tmp="$(mktemp -d)"
  printf '%s\n' $pins google-cloud-dataproc google-cloud-bigquery > "$tmp/image.in"
  "$uv_bin" pip compile "$tmp/image.in" airflow-tools.in "${common[@]}" \
    --exclude-newer "${as_of}T00:00:00Z" --no-header -o "$tmp/lock"
  {
    echo "# Airflow test environment '$env': the packages of Cloud Composer's $build."
    echo "# Pinned: $pins."
    echo "# Unverified (not read from Google's package list; see airflow/composer_images.json): ${unverified//,/, }."
    echo "# Everything else as published on $as_of (packagesAsOf: the cut-off for that build), for Python 3.11."
    echo "# Written by scripts/lock-python.sh from airflow/composer_images.json; do not edit."
    sed "s#$tmp/##" "$tmp/lock"   # "via -r image.in", the same on every run
  } > "$env.lock"
  rm -rf "$tmp"
done < airflow-lines.tmp
rm -f airflow-lines.tmp
echo "locked: $(ls -t ./*.lock | tr '\n' ' ')"
