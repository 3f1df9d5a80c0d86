//! Metrics: the process-wide recorder, and the name and meaning of every metric.
//!
//! Code records with the `metrics` crate's macros (`counter!`, `gauge!`, `histogram!`) and a
//! name from `names`; the recorder installed here turns them into Prometheus text. To add a
//! metric: a constant in `names`, a line in `describe`, buckets in `BUCKETS` if it is a
//! histogram, and a row in the metrics table of `docs/operations.md`. `app::metrics_endpoint` serves them.

use std::{sync::OnceLock, time::Duration};

use axum::http::{Method, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Every metric the origin records.
pub mod names {
    /// Counter `{method, route, status}`: requests answered. `route` is the matched route
    /// template (`/api/tenant/{org_id}/inventory`), never the raw path.
    pub const HTTP_REQUESTS: &str = "origin_http_requests_total";
    /// Histogram `{method, route, status}`: seconds from request to response head.
    pub const HTTP_REQUEST_DURATION: &str = "origin_http_request_duration_seconds";
    /// Gauge `{pool, state}`: connections open in a pool, `in_use` or `idle`.
    pub const DB_POOL_CONNECTIONS: &str = "origin_db_pool_connections";
    /// Gauge `{pool}`: the most connections a pool opens.
    pub const DB_POOL_MAX_CONNECTIONS: &str = "origin_db_pool_max_connections";
    /// Counter `{pool, reason}`: read transactions by where they ran and why.
    pub const DB_READS: &str = "origin_db_reads_total";
    /// Gauge: bytes of WAL the replica has yet to replay (sampled on each scrape).
    pub const DB_REPLICA_LAG_BYTES: &str = "origin_db_replica_lag_bytes";
    /// Counter: writes answered without their WAL position (the primary did not say in time).
    pub const WRITE_LSN_UNAVAILABLE: &str = "origin_write_lsn_unavailable_total";
    /// Counter: log bytes of one request beyond what may be held before its sampling decision.
    pub const LOG_HELD_BYTES_DROPPED: &str = "origin_log_held_bytes_dropped_total";
    /// Histogram: purchases committed together in one group-commit batch.
    pub const PURCHASE_BATCH_SIZE: &str = "origin_purchase_batch_size";
    /// Gauge: purchases waiting in the asynchronous queue.
    pub const PURCHASE_QUEUE_DEPTH: &str = "origin_purchase_queue_depth";
    /// Gauge `{server, role}`: 1 for the Postgres server (`address:port` as it reports itself)
    /// the primary's pools last connected to, 0 for those before; `role` is `primary` or
    /// `standby` (a connection that landed on a server in recovery).
    pub const DB_SERVER: &str = "origin_db_server";
    /// Counter: connections the primary's pools opened (a failover shows as a jump).
    pub const DB_CONNECTIONS_OPENED: &str = "origin_db_connections_opened_total";
}

/// Where a read ran, and why (the labels of `origin_db_reads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRoute {
    /// No replica is configured.
    NoReplica,
    /// The replica had replayed the caller's last write (or the caller named none).
    Replica,
    /// The replica had not yet replayed the caller's last write.
    ReplicaBehind,
    /// The replica could not be reached.
    ReplicaUnavailable,
}

impl ReadRoute {
    /// `(pool, reason)`.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::NoReplica => ("primary", "no_replica"),
            Self::Replica => ("replica", "replica_current"),
            Self::ReplicaBehind => ("primary", "replica_behind"),
            Self::ReplicaUnavailable => ("primary", "replica_unavailable"),
        }
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];
const BUCKETS: &[(&str, &[f64])] = &[
    (names::HTTP_REQUEST_DURATION, LATENCY_BUCKETS),
    (names::PURCHASE_BATCH_SIZE, BATCH_SIZE_BUCKETS),
];

/// How often histogram samples are folded into their buckets when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. If another recorder was installed first,
/// the handle still renders, but the macros record into the other one.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = BUCKETS
            .iter()
            .fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
                builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
                    .expect("bucket lists are not empty")
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HTTP_REQUESTS,
        "Requests answered, by matched route and status"
    );
    describe_histogram!(
        names::HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer a request, by matched route and status"
    );
    describe_gauge!(
        names::DB_POOL_CONNECTIONS,
        "Open database connections by pool and state (in_use, idle)"
    );
    describe_gauge!(names::DB_POOL_MAX_CONNECTIONS, "Pool size limit");
    describe_counter!(names::DB_READS, "Read transactions by pool and reason");
    describe_gauge!(
        names::DB_REPLICA_LAG_BYTES,
        Unit::Bytes,
        "WAL the replica has not replayed yet"
    );
    describe_counter!(
        names::WRITE_LSN_UNAVAILABLE,
        "Writes answered without their WAL position"
    );
    describe_counter!(
        names::LOG_HELD_BYTES_DROPPED,
        Unit::Bytes,
        "Log bytes dropped because one request held too many"
    );
    describe_histogram!(
        names::PURCHASE_BATCH_SIZE,
        Unit::Count,
        "Purchases committed in one group-commit batch"
    );
    describe_gauge!(
        names::DB_SERVER,
        "1 for the Postgres server the origin writes to now (address:port, role), 0 for earlier ones"
    );
    describe_counter!(
        names::DB_CONNECTIONS_OPENED,
        "Connections opened to the primary (reconnects after a failover included)"
    );
    describe_gauge!(
        names::PURCHASE_QUEUE_DEPTH,
        Unit::Count,
        "Purchases waiting in the queue"
    );
}

/// Counts one answered request.
pub fn record_request(method: &Method, route: &str, status: StatusCode, latency: Duration) {
    let labels = [
        ("method", method_label(method).to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_str().to_owned()),
    ];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, &labels).record(latency.as_secs_f64());
}

/// The method as a label: a client may send any token as a method, and each new one would make
/// new series without end, so methods outside the standard ones are all `other`.
fn method_label(method: &Method) -> &str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if KNOWN.contains(method) {
        method.as_str()
    } else {
        "other"
    }
}

/// Folds histogram samples into buckets every `UPKEEP_INTERVAL` until dropped, so memory stays
/// flat when nobody scrapes.
pub async fn run_upkeep() {
    let mut every = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        every.tick().await;
        handle().run_upkeep();
    }
}
