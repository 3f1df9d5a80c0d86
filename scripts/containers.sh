# Shared by the container scripts: podman with the project's settings, the base images made
# locally when no registry answers, and the origin image built from origin/Dockerfile.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CONTAINERS_CONF="$ROOT/containers/containers.conf"
ORIGIN_IMAGE=${ORIGIN_IMAGE:-furnitureops-origin:dev}
IMAGE_CACHE="$ROOT/target/containers"

ensure_container_tools() {
  # dnsname: containers of one compose project find each other by service name (CNI networks).
  ensure_apt_packages podman runc podman-compose mmdebstrap uidmap slirp4netns \
    golang-github-containernetworking-plugin-dnsname
}

# A registry's image when one answers, else none (the caller makes it).
pulled() { timeout 30 podman pull --quiet "$1" >/dev/null 2>&1; }

# debian:bookworm-slim: pulled, else a minbase Debian made by mmdebstrap from apt's own sources
# (the tarball is kept in target/containers, so a later run only imports it).
ensure_debian_image() {
  podman image exists debian:bookworm-slim && return
  pulled debian:bookworm-slim && return
  mkdir -p "$IMAGE_CACHE"
  if [[ ! -s "$IMAGE_CACHE/bookworm.tar" ]]; then
    log "mmdebstrap: bookworm minbase (no registry answered)"
    mmdebstrap --quiet --variant=minbase --format=tar bookworm "$IMAGE_CACHE/bookworm.tar.partial"
    mv "$IMAGE_CACHE/bookworm.tar.partial" "$IMAGE_CACHE/bookworm.tar"
  fi
  podman import --quiet "$IMAGE_CACHE/bookworm.tar" debian:bookworm-slim >/dev/null
}

# postgres:15 for docker-compose.yml: pulled, else Debian's PostgreSQL 15 on the image above.
ensure_postgres_image() {
  podman image exists postgres:15 && return
  pulled postgres:15 && return
  ensure_debian_image
  log "building postgres:15 from Debian packages (no registry answered)"
  podman build --quiet --pull=never -f containers/postgres/Dockerfile -t postgres:15 "$ROOT" >/dev/null
}

# The origin image from origin/Dockerfile, with the binary compiled on this host handed in
# (PREBUILT) so the build stage needs no Rust image; cargo's release build is shared with the
# rest of CI. The image layers cache the apt step, so a rebuild copies the binary only.
build_origin_image() {
  ensure_debian_image
  log "cargo build --release -p origin"
  (cd "$ROOT" && cargo build --locked --release -p origin --quiet)
  mkdir -p "$ROOT/target/prebuilt"
  cp "$ROOT/target/release/origin" "$ROOT/target/prebuilt/origin"
  log "podman build $ORIGIN_IMAGE"
  podman build --quiet --pull=never -f origin/Dockerfile -t "$ORIGIN_IMAGE" \
    --build-arg BUILDER_IMAGE=debian:bookworm-slim --build-arg PREBUILT=target/prebuilt/origin \
    "$ROOT" >/dev/null
}

# Runs "$@" and logs how long it took.
timed() {
  local started=$SECONDS
  "$@"
  log "$1 ${2:-}: $((SECONDS - started)) s"
}

# docker-compose.yml under podman-compose, as project $COMPOSE_PROJECT.
COMPOSE_PROJECT=${COMPOSE_PROJECT:-furnitureops}
compose() { podman-compose --project-name "$COMPOSE_PROJECT" -f "$ROOT/docker-compose.yml" "$@"; }

# The last line an `origin` command prints, run in the compose project (podman-compose echoes
# its own command and exit code, and the container's tty adds carriage returns).
in_origin() {
  compose run --rm --no-deps origin "$@" 2>/dev/null | tr -d '\r' \
    | grep -v -e '^podman run ' -e '^exit code:' | tail -n1
}

# Brings the compose file up in its start-up order, one step at a time: podman-compose 1.0
# starts services in order but does not wait for `service_healthy` or
# `service_completed_successfully`. Needs POSTGRES_PORT and ORIGIN_PORT exported (and
# ORIGIN_OPS_PORT, the operations listener's, unless 9000).
compose_up() {
  ensure_postgres_image
  podman image exists "$ORIGIN_IMAGE" || build_origin_image
  compose up -d postgres >/dev/null
  local ready=
  for _ in $(seq 1 150); do
    if podman exec "${COMPOSE_PROJECT}_postgres_1" pg_isready -q -U postgres -d furnitureops 2>/dev/null; then
      ready=1 && break
    fi
    sleep 0.2
  done
  [[ -n "$ready" ]] || { echo "compose: postgres did not become ready" >&2; return 1; }
  # podman-compose 1.0 `run` tries to start the dependencies again despite --no-deps, and says
  # so on stderr: kept in a log, the exit code still counts.
  mkdir -p "$IMAGE_CACHE"
  compose run --rm --no-deps migrate >/dev/null 2>>"$IMAGE_CACHE/compose.log"
  compose run --rm --no-deps app-role-password >/dev/null 2>>"$IMAGE_CACHE/compose.log"
  compose up -d --no-deps origin >/dev/null 2>>"$IMAGE_CACHE/compose.log"
  wait_for_url "http://127.0.0.1:${ORIGIN_OPS_PORT:-9000}/readyz" 60
}
