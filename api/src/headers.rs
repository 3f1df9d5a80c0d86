//! Header names that cross the edge/origin boundary, spelled once.

/// Correlates one request across edge, origin and logs (1-128 visible ASCII characters).
pub const REQUEST_ID: &str = "x-request-id";
/// The caller's own id for a request, kept for correlation: logged and echoed, never used as the
/// request's identity (the edge mints `X-Request-ID`, which audit entries and log sampling use).
pub const CORRELATION_ID: &str = "x-correlation-id";
/// Content type of every refusal (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Says whether an edge response came from its cache (`hit`), the origin (`miss`), or the last
/// good copy because the origin could not answer (`stale`, with `Age` in seconds).
pub const EDGE_CACHE: &str = "x-edge-cache";
/// On a refusal the edge made by itself where the origin could have answered the same way, why:
/// `sold-out` (the edge knows the item is sold out) or `shop-busy` (the origin is overloaded by
/// the shop's purchases). Tells an edge refusal from the origin's without reading the body.
pub const EDGE_REFUSAL: &str = "x-edge-refusal";
/// On the origin's overload answers (`503 unavailable`: no database connection in time, a
/// statement or request deadline passed): the edge's admission control counts them as the
/// origin's signal to send less.
pub const ORIGIN_OVERLOADED: &str = "x-origin-overloaded";
/// W3C Trace Context: the trace a request belongs to and the span that sent it.
pub const TRACEPARENT: &str = "traceparent";
/// W3C Trace Context: vendor data that travels with `traceparent`.
pub const TRACESTATE: &str = "tracestate";
/// The quota policies that apply to a response (IETF draft httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// What is left of a quota and when it frees up (IETF draft httpapi-ratelimit-headers).
pub const RATELIMIT: &str = "ratelimit";
/// Seconds a refused client should wait before trying again (RFC 9110).
pub const RETRY_AFTER: &str = "retry-after";
/// The client address Cloudflare puts on every request it hands a Worker.
pub const CF_CONNECTING_IP: &str = "cf-connecting-ip";

/// The commit position (Postgres LSN, e.g. `0/16B3748`) of the caller's last write. Writes answer
/// with it; a read that sends it back is served only by a database that has replayed that write,
/// so a client always sees its own writes even when reads go to a replica.
pub const WRITE_LSN: &str = "x-write-lsn";
/// The caller's claims as the edge verified them, sealed to the request
/// (`token::edge_claims`).
pub const EDGE_CLAIMS: &str = "x-edge-claims";
/// The same position as a cookie, so browsers get read-your-writes without any code.
pub const WRITE_LSN_COOKIE: &str = "furnitureops_write_lsn";

/// The longest request id accepted from a caller.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// True when a caller-supplied request id may be kept: 1-128 visible ASCII characters.
pub fn is_valid_request_id(value: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::is_valid_request_id;

    #[test]
    fn request_ids_must_be_short_visible_ascii() {
        assert!(is_valid_request_id("abc-123"));
        assert!(is_valid_request_id(&"x".repeat(128)));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id(&"x".repeat(129)));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id("caf\u{e9}"));
    }
}
