#!/usr/bin/env bash
# The cloud-twin suite (test/python/twin): the scoring job with --sink bigquery against the Cloud
# Storage and BigQuery emulators (local/twin), the stack's objects in them, and every query the
# lab ships run on the job's rows, every BigQuery write through Google's spark-bigquery connector.
# Needs the spark and twin environments and the twin's jars: Maven downloads the pinned ones and,
# on first use on a machine, builds the connector from ../shared/vendor/ (S8S_CONNECTOR_SOURCE);
# local/connector/jars.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
spark="$("$here/python-env.sh" spark)"
"$here/python-env.sh" twin >/dev/null
"$spark/bin/python" -m local.twin jars >/dev/null
"$spark/bin/python" -m pytest -p no:cacheprovider -q test/python/twin
