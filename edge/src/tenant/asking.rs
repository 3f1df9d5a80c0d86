//! The request on whose behalf the edge asks the origin about a host: its own file, so the
//! lookup and the challenge can name it without importing the module that uses them.

use crate::trace_context::TraceContext;

/// The request on whose behalf the edge asks the origin (its id and trace go along).
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
}
