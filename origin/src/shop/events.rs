//! Live events: `GET /api/events` (Server-Sent Events).
//!
//! One `LISTEN` connection per origin process receives every committed stock change and queued
//! purchase outcome (`pg_notify` inside the writing transaction, so only committed facts are
//! announced) and fans them out to connected clients through a bounded broadcast channel. A
//! client too slow to keep up is disconnected rather than buffered without bound; it reconnects
//! and reloads, as EventSource does by itself.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{stream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};
use uuid::Uuid;

use crate::http::openapi::doc_types::{TenantPath, TokenRefusals, Unavailable};

use crate::{
    http::caller::Caller,
    http::state::AppState,
    purchase::{queue::PURCHASE_CHANNEL, STOCK_CHANNEL},
};

/// Events a client may be behind by before it is dropped.
const BUFFER: usize = 1024;

/// A committed stock level.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StockEvent {
    pub org_id: Uuid,
    pub item_id: Uuid,
    pub stock: i32,
}

/// A decided queued purchase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurchaseEvent {
    pub org_id: Uuid,
    pub sub: String,
    pub purchase_id: Uuid,
    pub status: String,
    pub order_id: Option<Uuid>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ShopEvent {
    Stock(StockEvent),
    Purchase(PurchaseEvent),
}

/// The process-wide fan-out point.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<ShopEvent>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl EventHub {
    pub fn subscribe(&self) -> broadcast::Receiver<ShopEvent> {
        self.sender.subscribe()
    }

    /// Listens on Postgres and publishes until the process ends, reconnecting after failures.
    pub async fn listen(self, db: PgPool) {
        loop {
            if let Err(err) = self.listen_once(&db).await {
                tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen_once(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener
            .listen_all([STOCK_CHANNEL, PURCHASE_CHANNEL])
            .await?;
        loop {
            let notification = listener.recv().await?;
            let event = match notification.channel() {
                STOCK_CHANNEL => serde_json::from_str(notification.payload())
                    .ok()
                    .map(ShopEvent::Stock),
                PURCHASE_CHANNEL => serde_json::from_str(notification.payload())
                    .ok()
                    .map(ShopEvent::Purchase),
                _ => None,
            };
            if let Some(event) = event {
                // No receivers is fine: nobody is watching right now.
                let _ = self.sender.send(event);
            }
        }
    }
}

/// What `caller` may see of `event`, as an SSE event.
fn visible_to(caller: &Caller, event: ShopEvent) -> Option<Event> {
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
        Unavailable,
    )
)]
pub async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hello = Event::default().event("ready").data("{}");
    let live = BroadcastStream::new(state.events.subscribe())
        // A lagging client has missed events: end its stream so it reconnects and reloads.
        .take_while(|item| {
            std::future::ready(!matches!(item, Err(BroadcastStreamRecvError::Lagged(_))))
        })
        .filter_map(move |item| std::future::ready(item.ok().and_then(|e| visible_to(&caller, e))))
        .map(Ok);
    let events = stream::once(std::future::ready(Ok(hello))).chain(live);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
