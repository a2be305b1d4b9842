#!/usr/bin/env bash
# The Dataproc twin's suite (test/python/dataproc): the stack deployed into the cloud twin, the
# Dataproc twin's gRPC server started for it, and Google's own google-cloud-dataproc client sending
# it the lab's batches, which run in their own spark-submit. Runs in the twin environment; the
# batches need the spark environment and the twin's jars.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
spark="$("$here/python-env.sh" spark)"
twin="$("$here/python-env.sh" twin)"
"$spark/bin/python" -m local.twin jars >/dev/null
# bqemulator registers a pytest plugin that needs testcontainers (Docker): not used here.
"$twin/bin/python" -m pytest -p no:cacheprovider -p no:bqemulator -q test/python/dataproc
