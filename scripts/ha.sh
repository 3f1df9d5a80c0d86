# The HA database stack, shared by `scripts/dev-ha` and `scripts/restore-drill`: etcd (three
# members), three
# Patroni nodes (Postgres 15) and HAProxy, rendered from config/ha/ under $HA_DIR, every process
# a child of the calling script (stopped by ha_stop). Ports are fixed and documented in
# docs/operations.md; the variables below override them.
# shellcheck shell=bash

HA_DIR=${HA_DIR:-$ROOT/target/ha}
# Three etcd members (a majority survives losing one): client and peer ports.
HA_ETCD_PORTS=(${HA_ETCD_PORTS:-2379 2381 2383})
HA_ETCD_PEER_PORTS=(${HA_ETCD_PEER_PORTS:-2380 2382 2384})
HA_PRIMARY_PORT=${HA_PRIMARY_PORT:-5000}
HA_REPLICA_PORT=${HA_REPLICA_PORT:-5001}
HA_PG_PORTS=(${HA_PG_PORTS:-5433 5434 5435})
HA_REST_PORTS=(${HA_REST_PORTS:-8008 8009 8010})
HA_NODES=(node1 node2 node3)
HA_PG_BIN_DIR=${HA_PG_BIN_DIR:-/usr/lib/postgresql/15/bin}
HA_STANZA=furnitureops
HA_PIDS=()
# When set, each node's data directory is a tmpfs of its own of this many MiB, so a test can
# fill one node's disk without touching anything else (tests/src/ha_cluster/data_disk.rs).
HA_DATA_TMPFS_MB=${HA_DATA_TMPFS_MB:-}

# pgBackRest's configuration for node $1 (index): the shared repository, this node's data.
ha_pgbackrest_conf() {
  local i=$1 node=${HA_NODES[$1]}
  cat <<EOC
[global]
repo1-path=$HA_DIR/backup
repo1-retention-full=2
log-path=$HA_DIR/$node
lock-path=$HA_DIR/$node/lock
spool-path=$HA_DIR/$node/spool
start-fast=y
archive-async=n
compress-type=lz4

[$HA_STANZA]
pg1-path=$HA_DIR/$node/data
pg1-port=${HA_PG_PORTS[$i]}
pg1-socket-path=$HA_DIR/$node
pg1-user=postgres
EOC
}

ha_render() {
  local template=$1; shift
  local text
  text=$(cat "$template")
  while (($#)); do text=${text//"{{$1}}"/$2}; shift 2; done
  printf '%s\n' "$text"
}

ha_start_db() {
  mkdir -p "$HA_DIR/backup" "$HA_DIR/etcd"
  local i node dir servers_primary="" servers_replica="" etcd_hosts="" etcd_cluster=""
  for i in 0 1 2; do
    etcd_hosts+="${etcd_hosts:+,}127.0.0.1:${HA_ETCD_PORTS[$i]}"
    etcd_cluster+="${etcd_cluster:+,}etcd$i=http://127.0.0.1:${HA_ETCD_PEER_PORTS[$i]}"
  done
  for i in 0 1 2; do
    node=${HA_NODES[$i]} dir=$HA_DIR/${HA_NODES[$i]}
    mkdir -p "$dir/lock" "$dir/spool"
    if [[ -n $HA_DATA_TMPFS_MB ]]; then
      mkdir -p "$dir/data"
      mount -t tmpfs -o "size=${HA_DATA_TMPFS_MB}m,mode=0700,uid=$(id -u postgres),gid=$(id -g postgres)" \
        "furnitureops-$node" "$dir/data"
    fi
    ha_pgbackrest_conf "$i" > "$dir/pgbackrest.conf"
    ha_render "$ROOT/config/ha/patroni.yml" NODE "$node" REST_PORT "${HA_REST_PORTS[$i]}" \
      ETCD_HOSTS "$etcd_hosts" PG_PORT "${HA_PG_PORTS[$i]}" DIR "$dir" PG_BIN_DIR "$HA_PG_BIN_DIR" \
      ARCHIVE_COMMAND "pgbackrest --config=$dir/pgbackrest.conf --stanza=$HA_STANZA archive-push %p" \
      > "$dir/patroni.yml"
    servers_primary+="    server $node 127.0.0.1:${HA_PG_PORTS[$i]} check port ${HA_REST_PORTS[$i]}"$'\n'
    servers_replica+="    server $node 127.0.0.1:${HA_PG_PORTS[$i]} check port ${HA_REST_PORTS[$i]}"$'\n'
  done
  chown -R postgres:postgres "$HA_DIR"
  chmod 700 "$HA_DIR"/node*
  ha_render "$ROOT/config/ha/haproxy.cfg" PRIMARY_PORT "$HA_PRIMARY_PORT" REPLICA_PORT "$HA_REPLICA_PORT" \
    SERVERS_PRIMARY "$servers_primary" SERVERS_REPLICA "$servers_replica" > "$HA_DIR/haproxy.cfg"

  log "etcd: members on 127.0.0.1:${HA_ETCD_PORTS[*]}"
  for i in 0 1 2; do
    etcd --name "etcd$i" --data-dir "$HA_DIR/etcd/etcd$i" \
      --listen-client-urls "http://127.0.0.1:${HA_ETCD_PORTS[$i]}" --advertise-client-urls "http://127.0.0.1:${HA_ETCD_PORTS[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${HA_ETCD_PEER_PORTS[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${HA_ETCD_PEER_PORTS[$i]}" \
      --initial-cluster "$etcd_cluster" --initial-cluster-state new --enable-v2=true > "$HA_DIR/etcd/etcd$i.log" 2>&1 &
    HA_PIDS+=($!)
  done
  for i in 0 1 2; do wait_for_url "http://127.0.0.1:${HA_ETCD_PORTS[$i]}/health" 30; done

  for i in 0 1 2; do
    node=${HA_NODES[$i]}
    log "Patroni $node: Postgres on 127.0.0.1:${HA_PG_PORTS[$i]}, REST on 127.0.0.1:${HA_REST_PORTS[$i]}"
    runuser -u postgres -- patroni "$HA_DIR/$node/patroni.yml" > "$HA_DIR/$node/patroni.log" 2>&1 &
    HA_PIDS+=($!)
    # The first node bootstraps the cluster; the others copy it once it has a leader.
    ((i > 0)) || ha_wait_primary 120
  done

  log "HAProxy: primary on 127.0.0.1:$HA_PRIMARY_PORT, replicas on 127.0.0.1:$HA_REPLICA_PORT"
  haproxy -db -f "$HA_DIR/haproxy.cfg" > "$HA_DIR/haproxy.log" 2>&1 &
  HA_PIDS+=($!)
  for _ in $(seq 1 150); do pg_isready -q -h 127.0.0.1 -p "$HA_PRIMARY_PORT" && break; sleep 0.2; done
  ha_wait_sync_standby 120
}

# The name of the node that leads now (empty when none).
ha_leader() {
  local port
  for port in "${HA_REST_PORTS[@]}"; do
    curl -fsS -m 1 "http://127.0.0.1:$port/cluster" 2>/dev/null \
      | python3 -c 'import json,sys; print(next((m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "leader"), ""))' \
      && return 0
  done
  echo ""
}

ha_wait_primary() {
  local seconds=$1
  for _ in $(seq 1 $((seconds * 5))); do
    local port
    for port in "${HA_REST_PORTS[@]}"; do
      curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/primary" 2>/dev/null && return 0
    done
    sleep 0.2
  done
  echo "no Patroni primary within ${seconds}s (logs: $HA_DIR/node*/patroni.log)" >&2
  return 1
}

# Waits until the cluster has a synchronous standby, so commits are acknowledged twice.
ha_wait_sync_standby() {
  local seconds=$1
  for _ in $(seq 1 $((seconds * 5))); do
    curl -fsS -m 1 "http://127.0.0.1:${HA_REST_PORTS[0]}/cluster" 2>/dev/null | grep -q '"sync_standby"' && return 0
    sleep 0.2
  done
  echo "no synchronous standby within ${seconds}s" >&2
  return 1
}

ha_stop() {
  ((${#HA_PIDS[@]})) || return 0
  # Patroni stops its Postgres on SIGTERM; etcd (the first three) goes last so they can
  # release their keys.
  local pid
  for pid in "${HA_PIDS[@]:3}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${HA_PIDS[@]:3}"; do wait "$pid" 2>/dev/null || true; done
  # A Postgres that Patroni was restarting as it stopped is left running: stop it too.
  local node
  for node in "${HA_NODES[@]}"; do
    [[ -f $HA_DIR/$node/data/postmaster.pid ]] &&
      runuser -u postgres -- "$HA_PG_BIN_DIR/pg_ctl" -D "$HA_DIR/$node/data" -m immediate stop >/dev/null 2>&1 || true
    if mountpoint -q "$HA_DIR/$node/data"; then umount "$HA_DIR/$node/data" || umount -l "$HA_DIR/$node/data"; fi
  done
  for pid in "${HA_PIDS[@]:0:3}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${HA_PIDS[@]:0:3}"; do wait "$pid" 2>/dev/null || true; done
  HA_PIDS=()
}

# Runs pgBackRest as postgres with the configuration of node $1 (a name), the rest as arguments.
ha_pgbackrest() {
  local node=$1; shift
  runuser -u postgres -- pgbackrest --config="$HA_DIR/$node/pgbackrest.conf" --stanza="$HA_STANZA" "$@"
}

# Creates the stanza (once) and takes a full backup from the node that leads now.
ha_full_backup() {
  local leader
  leader=$(ha_leader)
  log "pgBackRest: stanza $HA_STANZA and a full backup from $leader (repository $HA_DIR/backup)"
  ha_pgbackrest "$leader" stanza-create >/dev/null
  ha_pgbackrest "$leader" check >/dev/null
  ha_pgbackrest "$leader" --type=full backup
  # For node_exporter's textfile collector: the alert DatabaseBackupTooOld reads it.
  printf '# TYPE pgbackrest_backup_last_completion_timestamp_seconds gauge\npgbackrest_backup_last_completion_timestamp_seconds{stanza="%s"} %s\n' \
    "$HA_STANZA" "$(date +%s)" > "$HA_DIR/backup/metrics.prom"
}
