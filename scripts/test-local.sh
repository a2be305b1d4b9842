#!/usr/bin/env bash
# The local lab's suite (test/python/local): the Spark History Server over real event logs, then the
# whole local lab started once (twin, deploy, Dataproc twin, history server, Airflow 3) with one
# training run through the REST API, the browser cases on the Airflow UI (Debian's chromium,
# Playwright), the software_config read back from the running Airflow, and everything stopped.
# Needs the browser environment (chromium: apt-get as root on Debian, else install it yourself).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
env="$("$here/python-env.sh" browser)"
"$env/bin/python" -m pytest -p no:cacheprovider -q test/python/local "$@"
