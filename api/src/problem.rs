//! RFC 9457 problem details: the one shape of every refusal, at the edge and at the origin.

use serde::{Deserialize, Serialize};

/// Prefix of every problem `type` URI.
pub const TYPE_BASE: &str = "https://furnitureops.dev/problems/";

/// The kinds of refusal the product gives. Each has one status, one `type` and one title, so
/// clients can branch on `type` and humans can read `title`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedRequest,
    InvalidQuantity,
    Unauthenticated,
    Forbidden,
    UnknownShop,
    NotFound,
    OutOfStock,
    Conflict,
    KeyInFlight,
    KeyReused,
    PayloadTooLarge,
    /// An upload is not a JPEG, PNG, WebP or AVIF picture by its bytes.
    UnsupportedMediaType,
    /// A picture's width or height (read from its header) is over the bound.
    ImageTooLarge,
    RateLimited,
    SalesPaused,
    Unavailable,
    /// The edge gave up waiting for the origin (its deadline for the route class passed).
    OriginTimeout,
    /// The edge could not reach the origin, or is giving it a rest after repeated failures.
    OriginUnavailable,
    /// The edge's settings cannot be trusted (a shared secret too short): it answers nothing
    /// until an operator fixes them.
    Misconfigured,
    /// The edge is shedding a shop's purchases while the origin is overloaded by them.
    ShopBusy,
    /// A hostname a shop cannot claim: malformed, an address, `localhost`, a wildcard, the
    /// platform's own.
    InvalidHostname,
    /// A claimed hostname's checks did not pass; the detail says what the owner must do.
    DomainNotVerified,
    /// A service a domain check needs (a DNS resolver, Cloudflare's API) did not answer.
    CheckUnavailable,
    Internal,
}

impl ProblemKind {
    pub fn status(self) -> u16 {
        match self {
            Self::MalformedRequest | Self::InvalidQuantity => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::UnknownShop | Self::NotFound => 404,
            Self::OutOfStock | Self::Conflict | Self::KeyInFlight => 409,
            Self::KeyReused
            | Self::InvalidHostname
            | Self::DomainNotVerified
            | Self::ImageTooLarge => 422,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::SalesPaused
            | Self::Unavailable
            | Self::OriginTimeout
            | Self::OriginUnavailable
            | Self::ShopBusy
            | Self::CheckUnavailable => 503,
            Self::Misconfigured | Self::Internal => 500,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed-request",
            Self::InvalidQuantity => "invalid-quantity",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::UnknownShop => "unknown-shop",
            Self::NotFound => "not-found",
            Self::OutOfStock => "out-of-stock",
            Self::Conflict => "conflict",
            Self::KeyInFlight => "idempotency-key-in-flight",
            Self::KeyReused => "idempotency-key-reused",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::ImageTooLarge => "image-too-large",
            Self::RateLimited => "rate-limited",
            Self::SalesPaused => "sales-paused",
            Self::Unavailable => "unavailable",
            Self::OriginTimeout => "origin-timeout",
            Self::OriginUnavailable => "origin-unavailable",
            Self::Misconfigured => "misconfigured",
            Self::ShopBusy => "shop-busy",
            Self::InvalidHostname => "invalid-hostname",
            Self::DomainNotVerified => "domain-not-verified",
            Self::CheckUnavailable => "check-unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedRequest => "The request is malformed",
            Self::InvalidQuantity => "The quantity is out of range",
            Self::Unauthenticated => "A valid bearer token is required",
            Self::Forbidden => "Not allowed",
            Self::UnknownShop => "No shop is served on this domain",
            Self::NotFound => "Not found",
            Self::OutOfStock => "Not enough stock left",
            Self::Conflict => "The request conflicts with the current state",
            Self::KeyInFlight => "A request with this Idempotency-Key is still running",
            Self::KeyReused => "This Idempotency-Key was used for a different request",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "Not a picture the shop can show",
            Self::ImageTooLarge => "The picture's dimensions are too large",
            Self::RateLimited => "Too many requests",
            Self::SalesPaused => "Sales are paused",
            Self::Unavailable => "Temporarily unavailable",
            Self::OriginTimeout => "The shop did not answer in time",
            Self::OriginUnavailable => "The shop is catching up",
            Self::Misconfigured => "The shop's edge is misconfigured",
            Self::ShopBusy => "The shop is busy with a sale",
            Self::InvalidHostname => "This hostname cannot be claimed",
            Self::DomainNotVerified => "The domain's checks did not pass",
            Self::CheckUnavailable => "A service the check needs did not answer",
            Self::Internal => "Internal error",
        }
    }

    pub fn type_uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }
}

/// The problem+json body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `out-of-stock` only: the units left, for programs (the edge marks an item sold out when
    /// it is 0); `detail` says the same for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i32>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            type_uri: kind.type_uri(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: detail.into(),
            request_id: None,
            available: None,
        }
    }

    /// The refusal of a buy the stock cannot cover, with the units left.
    pub fn out_of_stock(available: i32) -> Self {
        Self {
            available: Some(available),
            ..Self::new(ProblemKind::OutOfStock, format!("only {available} left"))
        }
    }

    /// True for an `out-of-stock` refusal that says no unit is left: the item is sold out.
    pub fn says_sold_out(&self) -> bool {
        self.is(ProblemKind::OutOfStock) && self.available == Some(0)
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// True when this problem is of `kind` (clients and tests branch on the type URI).
    pub fn is(&self, kind: ProblemKind) -> bool {
        self.type_uri == kind.type_uri()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_stock_refusal_carries_the_units_left_as_a_member() {
        let body = serde_json::to_value(Problem::out_of_stock(7)).unwrap();
        assert_eq!(body["available"], 7);
        assert_eq!(body["detail"], "only 7 left");
        let read: Problem = serde_json::from_value(body).unwrap();
        assert!(!read.says_sold_out(), "7 left is not sold out");
        assert!(Problem::out_of_stock(0).says_sold_out());
    }

    #[test]
    fn other_problems_have_no_available_member_and_never_say_sold_out() {
        let problem = Problem::new(ProblemKind::NotFound, "no such item");
        let body = serde_json::to_value(&problem).unwrap();
        assert!(body.get("available").is_none());
        let zero = Problem {
            available: Some(0),
            ..problem
        };
        assert!(
            !zero.says_sold_out(),
            "only an out-of-stock refusal says so"
        );
    }
}
