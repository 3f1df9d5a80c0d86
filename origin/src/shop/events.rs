//! Live events: `GET /api/events` (Server-Sent Events).
//!
//! A stream shows the caller its shop's stock changes and its own queued purchases' outcomes,
//! fed by the process's `EventHub`. It is refused with `429` past the per-user or per-shop cap,
//! ends when the caller's token expires, and ends when the caller falls too far behind; in each
//! case the client reconnects (with a fresh token) and reloads, as EventSource does by itself.

use std::{convert::Infallible, sync::Arc, time::Duration};

use api::Problem;
use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{stream, Stream, StreamExt};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::events::shop_event::ShopEvent;
use crate::{
    app::state::AppState,
    events::hub::CONNECT_WAIT,
    web::{
        caller::Caller,
        doc_types::{TenantPath, TokenRefusals, Unavailable},
        error::ApiError,
    },
};

/// What `caller` may see of `event`, as an SSE event.
fn visible_to(caller: &Caller, event: &ShopEvent) -> Option<Event> {
    match event {
        ShopEvent::Stock(stock) if stock.org_id == caller.org_id => Event::default()
            .event("stock")
            .json_data(serde_json::json!({"item_id": stock.item_id, "stock": stock.stock}))
            .ok(),
        ShopEvent::Purchase(purchase)
            if purchase.org_id == caller.org_id && purchase.sub == caller.sub() =>
        {
            Event::default()
                .event("purchase")
                .json_data(serde_json::json!({
                    "purchase_id": purchase.purchase_id,
                    "status": purchase.status,
                    "order_id": purchase.order_id,
                    "reason": purchase.reason,
                }))
                .ok()
        }
        _ => None,
    }
}

/// `GET /api/tenant/{org_id}/events`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/events",
    summary = "Live events (Server-Sent Events): stock levels of the shop, the caller's queued purchases",
    tag = "shop",
    params(TenantPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream: `ready`, then `stock` {item_id, stock} and `purchase` {purchase_id, status, order_id, reason} events", content_type = "text/event-stream"),
        TokenRefusals,
        (status = 429, description = "Too many streams open for this user or shop", body = Problem, content_type = "application/problem+json",
            headers(("retry-after" = u32, description = "Seconds to wait before retrying"))),
        Unavailable,
    )
)]
pub async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if !state.events.connected(CONNECT_WAIT).await {
        return Err(ApiError::EventsNotConnected);
    }
    let (receiver, permit) = state
        .events
        .subscribe(caller.org_id, caller.sub())
        .map_err(|refused| ApiError::TooManyStreams(refused.to_string()))?;
    // The token's authority ends at its expiry, and so does the stream: the client reconnects
    // with a fresh token.
    let lifetime = (caller.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let hello = Event::default().event("ready").data("{}");
    let live = BroadcastStream::new(receiver)
        // A lagging client has missed events: end its stream so it reconnects and reloads.
        .take_while(|item| {
            std::future::ready(!matches!(item, Err(BroadcastStreamRecvError::Lagged(_))))
        })
        .filter_map(move |item| {
            let event = item
                .ok()
                .and_then(|e: Arc<ShopEvent>| visible_to(&caller, &e));
            std::future::ready(event)
        })
        .map(move |event| {
            // Held for as long as the stream lives; dropped with it.
            let _held = &permit;
            Ok(event)
        });
    let events = stream::once(std::future::ready(Ok(hello)))
        .chain(live)
        .take_until(tokio::time::sleep(lifetime));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
