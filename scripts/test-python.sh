#!/usr/bin/env bash
# `npm run test:py`: the Spark job suite, the cloud-twin suite, the Dataproc twin, the local lab, then
# the whole Airflow DAG suite once per Airflow line the lab supports (airflow/composer_images.json),
# each in its own locked environment (created on first use). Runs from the repository root without
# putting it on sys.path, so `import pyspark` and `import airflow` stay the installed packages.
#
# Time (docs/testing.md): making an environment or the twin's jars is mostly download and unpacking,
# a suite is mostly CPU, so the environments the later suites need are made in the background while
# the first suites run; and the Airflow lines' suites, single-threaded Python each, run side by side
# (their Airflow homes are separate temporary folders). A suite's output is printed whole, in order.
# Every suite runs even when an earlier one failed; the exit code is non-zero if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$(dirname "$here")"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=()

spark="$("$here/python-env.sh" spark)" || exit 1
lint="$("$here/python-env.sh" lint)" || exit 1
mapfile -t airflow_envs < <(python3 -c 'import json; [print(l["testEnv"]) for l in json.load(open("airflow/composer_images.json"))["lines"]]')

declare -A prepared
prepare() { # name command...: run in the background, output kept for a failure
  local name="$1"
  shift
  "$@" >"$logs/prepare-$name.log" 2>&1 &
  prepared[$name]=$!
}
ready() { # name: wait for its preparation; a failure is printed and fails the suites that need it
  if ! wait "${prepared[$1]}"; then
    cat "$logs/prepare-$1.log"
    echo "preparing $1 failed"
    return 1
  fi
}
prepare twin bash -c "'$here/python-env.sh' twin >/dev/null && '$spark/bin/python' -m local.twin jars >/dev/null"
prepare browser "$here/python-env.sh" browser
for name in "${airflow_envs[@]}"; do prepare "$name" "$here/python-env.sh" "$name"; done

suite() { # title command...: one suite in the foreground
  echo "== $1"
  local title="$1" start=$SECONDS
  shift
  "$@" || failed+=("$title")
  echo "($title: $((SECONDS - start)) s)"
}

suite "ruff: jobs, local lab, benchmark, scripts and tests (scripts/ruff.toml); the DAGs are linted by the Airflow suite" \
  bash -c "'$lint/bin/ruff' check --config scripts/ruff.toml pyspark local bench scripts test/python &&
           '$lint/bin/ruff' format --config scripts/ruff.toml --check pyspark local bench scripts test/python"
suite "Spark jobs (pytest, local SparkSession)" "$spark/bin/python" -m pytest -p no:cacheprovider -q test/python/spark
# `ready` runs in this shell: only the shell that started a background job can wait for it.
if ready twin; then
  suite "Cloud twin: the scoring job and the shipped queries against the Cloud Storage and BigQuery emulators" \
    bash "$here/test-twin.sh"
  suite "Dataproc twin: the lab's batches through google-cloud-dataproc's client, run by the twin in spark-submit" \
    bash "$here/test-dataproc.sh"
else
  failed+=("Cloud twin" "Dataproc twin")
fi
if ready browser; then
  suite "Local lab: Airflow 3 over the twin, the history server, the browser cases (Debian's chromium)" \
    bash "$here/test-local.sh"
else
  failed+=("Local lab")
fi

# The Airflow lines side by side; each one's output is printed once it is done.
declare -A running
start=$SECONDS
for name in "${airflow_envs[@]}"; do
  if ! ready "$name"; then
    failed+=("Airflow DAGs on $name")
    continue
  fi
  (
    env="$("$here/python-env.sh" "$name")"
    echo "== Airflow DAGs on $name (pytest, Airflow $("$env/bin/python" -c 'import airflow; print(airflow.__version__)'))"
    "$env/bin/python" -m pytest -p no:cacheprovider -q test/python/airflow
  ) >"$logs/$name.log" 2>&1 &
  running[$name]=$!
done
for name in "${airflow_envs[@]}"; do
  [ -n "${running[$name]:-}" ] || continue
  wait "${running[$name]}" || failed+=("Airflow DAGs on $name")
  cat "$logs/$name.log"
done
echo "(Airflow lines, side by side: $((SECONDS - start)) s)"

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
  exit 1
fi
