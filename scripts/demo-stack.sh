# The demo shop, up: its database created and migrated, the shop seeded with its 12 items, the
# Worker built, the origin and the Worker under `wrangler dev` started, and a picture drawn for
# every item (scripts/demo-pictures.mjs). `scripts/dev` runs it for people, `scripts/lighthouse`
# for the measured storefront: one sequence, so what is measured is what people run.
#
# Reads DATABASE_URL, JWT_JWKS, EDGE_SHARED_SECRET, LISTEN_ADDR, OPS_LISTEN_ADDR, EDGE_PORT, and
# where to keep the Worker's local state: DEMO_VARS (its secrets' local values, default
# .dev.vars), DEMO_PERSIST (KV, R2, the cache; default wrangler's .wrangler/state, so pictures
# stay with the database across runs), DEMO_LOGS (default target/). Sets DEMO_ORG_ID,
# DEMO_ADMIN_TOKEN and DEMO_PIDS (the origin and wrangler; demo_stack_down stops them). Needs
# lib.sh sourced.
# shellcheck shell=bash

DEMO_DOMAIN=demo.furnitureops.test
DEMO_VARS=${DEMO_VARS:-.dev.vars}
DEMO_PERSIST=${DEMO_PERSIST:-.wrangler/state}
DEMO_LOGS=${DEMO_LOGS:-target}
DEMO_PIDS=()

demo_stack_up() {
  cd "$ROOT"
  local db_name=${DATABASE_URL##*/}
  db_name=${db_name%%\?*}
  if ! psql -tAq "$PG_ADMIN_URL" -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
    log "creating database $db_name"
    psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE \"$db_name\""
  fi

  log "building the origin"
  cargo build --locked -p origin --quiet
  local origin=target/debug/origin wrangler=node_modules/.bin/wrangler
  "$origin" migrate
  DEMO_ORG_ID=$("$origin" tenant seed-demo)

  "$ROOT/scripts/build-edge"
  mkdir -p "$DEMO_LOGS" "$(dirname "$DEMO_VARS")"
  # Local values for the Worker's secrets, and where this run's origin listens.
  printf 'JWT_JWKS=%s\nORIGIN_URL=http://%s\nEDGE_SHARED_SECRET=%s\n' \
    "$JWT_JWKS" "$LISTEN_ADDR" "$EDGE_SHARED_SECRET" > "$DEMO_VARS"
  log "seeding the domain map into local KV"
  "$origin" tenant export-kv > "$DEMO_LOGS/domain-map.json"
  # A browser on this machine reaches the Worker as http://localhost:$EDGE_PORT, whose host is
  # `localhost`: in development only, that host (and 127.0.0.1) serves the demo shop.
  printf '[{"key":"localhost","value":"%s"},{"key":"127.0.0.1","value":"%s"}]\n' \
    "$DEMO_ORG_ID" "$DEMO_ORG_ID" > "$DEMO_LOGS/dev-hosts.json"
  local map
  for map in domain-map dev-hosts; do
    "$wrangler" kv bulk put --local --persist-to "$DEMO_PERSIST" \
      --binding TENANT_DOMAINS "$DEMO_LOGS/$map.json" >/dev/null
  done

  log "starting the origin on $LISTEN_ADDR"
  RUST_LOG=${RUST_LOG:-info} "$origin" serve > "$DEMO_LOGS/origin.log" 2>&1 &
  DEMO_PIDS+=($!)
  wait_for_url "http://$OPS_LISTEN_ADDR/readyz" 60

  log "starting the Worker on 127.0.0.1:$EDGE_PORT"
  "$wrangler" dev --ip 127.0.0.1 --port "$EDGE_PORT" \
    --env-file "$DEMO_VARS" --persist-to "$DEMO_PERSIST" \
    --show-interactive-dev-session=false > "$DEMO_LOGS/wrangler.log" 2>&1 &
  DEMO_PIDS+=($!)
  wait_for_url "http://127.0.0.1:$EDGE_PORT/api/inventory" 90 -H "Host: $DEMO_DOMAIN"

  DEMO_ADMIN_TOKEN=$("$origin" token --domain "$DEMO_DOMAIN" --role admin --sub demo-admin)
  log "drawing a picture for every demo item that has none"
  node scripts/demo-pictures.mjs "http://127.0.0.1:$EDGE_PORT" "$DEMO_DOMAIN" "$DEMO_ADMIN_TOKEN"
}

# Stops what demo_stack_up started.
demo_stack_down() {
  ((${#DEMO_PIDS[@]})) || return 0
  kill "${DEMO_PIDS[@]}" 2>/dev/null || true
  wait "${DEMO_PIDS[@]}" 2>/dev/null || true
  DEMO_PIDS=()
}
