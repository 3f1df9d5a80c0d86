//! An OTLP/HTTP receiver on a free port, standing in for a collector: it accepts
//! `POST /v1/traces` (protobuf), decodes the spans with `opentelemetry-proto`, and keeps them, so
//! a test can wait for a span of the trace it started.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::StatusCode, routing::post, Router};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::{net::TcpListener, task::JoinHandle};

/// A span as the receiver got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// Lowercase hex, as in a `traceparent`.
    pub trace_id: String,
    /// Lowercase hex.
    pub parent_span_id: String,
    pub name: String,
    /// The exporting process's `service.name`.
    pub service: String,
}

type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;

#[derive(Debug)]
pub struct OtlpReceiver {
    /// What to set `OTEL_EXPORTER_OTLP_ENDPOINT` to.
    pub endpoint: String,
    spans: Spans,
    served: JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let spans = Spans::default();
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let served = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve OTLP");
        });
        Self {
            endpoint,
            spans,
            served,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("spans lock").clone()
    }

    /// Waits (polling) for a span of trace `trace_id` named `name`.
    pub async fn span(&self, trace_id: &str, name: &str) -> ReceivedSpan {
        crate::wait::until(
            Duration::from_secs(20),
            &format!("a `{name}` span of trace {trace_id}"),
            || async {
                self.spans()
                    .into_iter()
                    .find(|span| span.trace_id == trace_id && span.name == name)
            },
        )
        .await
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.served.abort();
    }
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut kept = spans.lock().expect("spans lock");
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|attribute| attribute.key == "service.name")
            .and_then(|attribute| attribute.value.as_ref()?.value.clone())
            .map(|value| match value {
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(name) => name,
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            kept.push(ReceivedSpan {
                trace_id: hex(&span.trace_id),
                parent_span_id: hex(&span.parent_span_id),
                name: span.name,
                service: service.clone(),
            });
        }
    }
    StatusCode::OK
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
