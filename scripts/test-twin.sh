#!/usr/bin/env bash
# The cloud-twin suite (test/python/twin): the scoring job with --sink bigquery against the Cloud
# Storage and BigQuery emulators (local/twin), the stack's objects in them, and every query the
# lab ships run on the job's rows. Needs the spark and twin environments and the twin's jars (Maven).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
spark="$("$here/python-env.sh" spark)"
"$here/python-env.sh" twin >/dev/null
"$spark/bin/python" -m local.twin jars >/dev/null
"$spark/bin/python" -m pytest -p no:cacheprovider -q test/python/twin
