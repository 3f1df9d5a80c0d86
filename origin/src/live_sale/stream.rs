//! `GET /api/tenant/{org_id}/admin/events`: the admins' live sale stream (Server-Sent Events).
//!
//! A `ready` event first, then a `second` event (`api::live_sale::SaleSecond`) once a second,
//! quiet seconds included, so the console's chart moves in time and a silent stream is known to
//! be dead. It takes a place under the event-stream caps, ends when the caller's token expires,
//! and ends when the console falls several seconds behind; the console then reconnects.

use std::{convert::Infallible, sync::Arc, time::Duration};

use api::Problem;
use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{stream, Stream, StreamExt};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::seconds::EVERY;
use crate::{
    app::state::AppState,
    events::hub::CONNECT_WAIT,
    web::{
        caller::Admin,
        doc_types::{TenantPath, TokenRefusals, Unavailable},
        error::ApiError,
    },
};

/// `GET /api/tenant/{org_id}/admin/events`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/admin/events",
    summary = "The shop's live sale (Server-Sent Events): one aggregate a second",
    tag = "admin",
    params(TenantPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream: `ready` {edge_counted, every_ms}, then a `second` event every second (SaleSecond: units sold and stock per item whose stock changed, refusals by reason)", content_type = "text/event-stream"),
        TokenRefusals,
        (status = 429, description = "Too many streams open for this user or shop", body = Problem, content_type = "application/problem+json",
            headers(("retry-after" = u32, description = "Seconds to wait before retrying"))),
        Unavailable,
    )
)]
pub async fn stream_sale_seconds(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if !state.events.connected(CONNECT_WAIT).await {
        return Err(ApiError::EventsNotConnected);
    }
    let permit = state
        .events
        .admit(caller.org_id, caller.sub())
        .map_err(|refused| ApiError::TooManyStreams(refused.to_string()))?;
    let seconds = state.sale_watch.watch(caller.org_id);
    let lifetime = (caller.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let hello = Event::default()
        .event("ready")
        .json_data(serde_json::json!({
            "edge_counted": state.edge_trust.is_some(),
            "every_ms": EVERY.as_millis(),
        }))
        .unwrap_or_default();
    let live = BroadcastStream::new(seconds)
        // A console that fell behind has missed seconds: end its stream so it reconnects.
        .take_while(|item| {
            std::future::ready(!matches!(item, Err(BroadcastStreamRecvError::Lagged(_))))
        })
        .filter_map(|item| std::future::ready(item.ok()))
        .map(move |json: Arc<str>| {
            // Held for as long as the stream lives; dropped with it.
            let _held = &permit;
            Ok(Event::default().event("second").data(&*json))
        });
    let events = stream::once(std::future::ready(Ok(hello)))
        .chain(live)
        .take_until(tokio::time::sleep(lifetime));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
