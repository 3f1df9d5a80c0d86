# Shared by the scripts in this folder: paths, pinned tool versions, and small helpers.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PATH="${CARGO_INSTALL_ROOT:-$CARGO_HOME}/bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen pin in Cargo.toml

# The admin connection: creates databases and runs migrations. Tests make their own databases.
export PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/furnitureops}

# wrangler offline and quiet.
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages given that are missing (one apt-get update, only when needed).
ensure_apt_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Starts the machine's Postgres if it does not answer (it is never stopped by these scripts).
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 0.2; done
  echo "PostgreSQL did not come up" >&2
  exit 1
}

# Waits until a URL answers, or fails after $2 seconds.
wait_for_url() {
  local url=$1 seconds=${2:-60} extra=("${@:3}")
  for _ in $(seq 1 $((seconds * 5))); do
    curl -fsS -o /dev/null "${extra[@]}" "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$url did not answer within ${seconds}s" >&2
  return 1
}
