#!/usr/bin/env bash
# Creates or refreshes one of the project's Python virtual environments from its lock file:
#   scripts/python-env.sh spark|checkov|lint|twin|browser|<testEnv>     -> prints the environment's folder
# where <testEnv> is an Airflow line's environment in airflow/composer_images.json (airflow3, airflow2).
# An environment is rebuilt only when its lock file changed (a stamp holds the lock's hash).
# Installs go through uv, itself installed from a hash-pinned lock with pip.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCKS="$REPO/scripts/requirements"
VENVS="$REPO/.venv"
PYTHON="${S8S_PYTHON:-python3}"

log() { echo "[python-env] $*" >&2; }

need_python() {
  if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null; then
    log "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1 || echo none)); set S8S_PYTHON to another interpreter"
    exit 1
  fi
}

# sha256 of a file: GNU coreutils' sha256sum on Linux, shasum (Perl, preinstalled) on macOS.
file_hash() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }

stamp_ok() { [ -f "$1/.lock-stamp" ] && [ "$(cat "$1/.lock-stamp")" = "$(file_hash "$2")" ]; }

ensure_uv() {
  local env="$VENVS/uv" lock="$LOCKS/uv.lock"
  if ! stamp_ok "$env" "$lock"; then
    need_python
    log "installing uv into $env"
    rm -rf "$env"
    "$PYTHON" -m venv "$env"
    "$env/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$lock"
    file_hash "$lock" > "$env/.lock-stamp"
  fi
  echo "$env/bin/uv"
}

# Spark needs a Java runtime; Dataproc runtime 2.3 runs Java 17. apt-get is used only as root on a
# system that has it (Debian, Ubuntu); elsewhere the message says how to install Java 17.
ensure_java() {
  if java -version 2>&1 | grep -qE 'version "(17|21)'; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing a Java 17 runtime for Spark"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >&2
  else
    log "Spark needs Java 17 (found: $(java -version 2>&1 | head -1 || echo none)); install a JDK 17 and retry (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17 and put it first on PATH; or any JDK 17 from adoptium.net)"
    exit 1
  fi
}

# The browser test drives Debian's chromium (Playwright's own browser download is not used). Installed
# with apt-get only when missing, on a system that has apt-get, as root; elsewhere the message says what to do.
ensure_chromium() {
  if [ -x "${S8S_CHROMIUM:-/usr/bin/chromium}" ]; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian's chromium for the browser test"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    log "the browser test needs Chromium at ${S8S_CHROMIUM:-/usr/bin/chromium} (Debian/Ubuntu: sudo apt-get install chromium; elsewhere install Chromium and set S8S_CHROMIUM to its executable)"
    exit 1
  fi
}

ensure_env() {
  local name="$1" env="$VENVS/$1" lock="$LOCKS/$1.lock"
  [ -f "$lock" ] || { log "unknown environment '$name': no $lock (expected spark, checkov, lint, twin, browser or an Airflow testEnv of airflow/composer_images.json)"; exit 2; }
  [ "$name" = spark ] && ensure_java
  [ "$name" = browser ] && ensure_chromium
  if ! stamp_ok "$env" "$lock"; then
    local uv_bin
    uv_bin="$(ensure_uv)"
    need_python
    log "creating $env from $(basename "$lock")"
    rm -rf "$env"
    "$PYTHON" -m venv "$env"
    "$uv_bin" pip sync --quiet --require-hashes --python "$env/bin/python" "$lock" >&2
    file_hash "$lock" > "$env/.lock-stamp"
  fi
  echo "$env"
}

if [ "${1:-}" != "--source-only" ]; then
  [ $# -eq 1 ] || { log "usage: $0 spark|checkov|lint|twin|browser|airflow3|airflow2"; exit 2; }
  ensure_env "$1"
fi
