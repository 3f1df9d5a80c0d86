//! W3C Trace Context at the edge: every request reaches the origin with a `traceparent`.
//!
//! A valid incoming `traceparent` is continued: its trace id is kept and the edge becomes the
//! new parent, with a fresh span id (and the caller's `tracestate` travels along). A missing or
//! invalid one starts a new trace. Parsing is written out here because the rules are short and
//! strict (lowercase hex, no all-zero ids, version `ff` forbidden, future versions may append
//! fields) and the crates that do it either pull in a whole telemetry SDK or accept headers the
//! specification rejects.

use api::headers::{TRACEPARENT, TRACESTATE};
use worker::Request;

/// The only version this edge writes.
const VERSION: &str = "00";
/// Length of a version-00 `traceparent`; later versions may only add fields after it.
const TRACEPARENT_LEN: usize = 55;
/// Only the `sampled` flag is defined for version 00; other bits are not passed on.
const SAMPLED: u8 = 0x01;
/// Longest `tracestate` passed on (the specification's suggested limit).
const MAX_TRACESTATE_LEN: usize = 512;

/// The trace context the edge sends to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
    tracestate: Option<String>,
}

/// The parts of a valid incoming `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parent {
    trace_id: u128,
    flags: u8,
}

impl TraceContext {
    /// Continues the request's trace when its `traceparent` is valid, else starts a new one.
    pub fn continue_or_start(req: &Request) -> Self {
        let header = |name| req.headers().get(name).ok().flatten();
        Self::from_headers(header(TRACEPARENT).as_deref(), header(TRACESTATE))
    }

    /// A new trace, for work no request started (the scheduled orphan sweep).
    pub fn start() -> Self {
        Self::from_headers(None, None)
    }

    fn from_headers(traceparent: Option<&str>, tracestate: Option<String>) -> Self {
        match traceparent.and_then(parse) {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                span_id: fresh_span_id(),
                flags: parent.flags & SAMPLED,
                tracestate: tracestate.filter(|state| {
                    state.len() <= MAX_TRACESTATE_LEN
                        && state.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
                }),
            },
            None => Self {
                trace_id: fresh_trace_id(),
                span_id: fresh_span_id(),
                flags: 0,
                tracestate: None,
            },
        }
    }

    /// The `traceparent` header value naming the edge as the parent span.
    pub fn traceparent(&self) -> String {
        format!(
            "{VERSION}-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }

    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }
}

fn parse(value: &str) -> Option<Parent> {
    let value = value.trim_matches([' ', '\t']);
    let head = value.get(..TRACEPARENT_LEN)?;
    let rest = &value[TRACEPARENT_LEN..];
    let mut fields = head.split('-');
    let (version, trace_id, parent_id, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let lower_hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let well_formed = lower_hex(version, 2)
        && lower_hex(trace_id, 32)
        && lower_hex(parent_id, 16)
        && lower_hex(flags, 2);
    let version_allows_rest = match version {
        "00" => rest.is_empty(),
        "ff" => false,
        _ => rest.is_empty() || rest.starts_with('-'),
    };
    if !well_formed || !version_allows_rest {
        return None;
    }
    let trace_id = u128::from_str_radix(trace_id, 16).ok()?;
    let parent_id = u64::from_str_radix(parent_id, 16).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (trace_id != 0 && parent_id != 0).then_some(Parent { trace_id, flags })
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The runtime's crypto.getRandomValues does not fail; a zero id would be caught below.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

fn fresh_trace_id() -> u128 {
    u128::from_be_bytes(random_bytes()).max(1)
}

fn fresh_span_id() -> u64 {
    u64::from_be_bytes(random_bytes()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_parent_keeps_its_trace_and_gets_a_new_span() {
        let context = TraceContext::from_headers(Some(VALID), Some("congo=t61rcWkgMzE".into()));
        let sent = context.traceparent();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(sent.ends_with("-01"));
        assert_ne!(&sent[36..52], "00f067aa0ba902b7");
        assert_eq!(context.tracestate(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn invalid_parents_start_a_new_trace_and_drop_tracestate() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        ] {
            let context = TraceContext::from_headers(Some(bad), Some("k=v".into()));
            assert!(!context.traceparent().contains("4bf92f3577b34da6"), "{bad}");
            assert_eq!(context.tracestate(), None, "{bad}");
        }
    }

    #[test]
    fn future_versions_are_read_as_version_zero() {
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-is-this";
        let sent = TraceContext::from_headers(Some(future), None).traceparent();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(
            sent.ends_with("-01"),
            "only the sampled bit is passed on: {sent}"
        );
    }

    #[test]
    fn a_new_trace_is_well_formed() {
        let sent = TraceContext::from_headers(None, None).traceparent();
        assert_eq!(sent.len(), TRACEPARENT_LEN);
        assert!(parse(&sent).is_some(), "{sent}");
    }
}
