//! What the edge does for a purchase beyond what every request gets, in the order of the
//! request path (`gateway`):
//!
//! 1. after the kill switch, a buy of an item the isolate knows to be sold out (`sold_out`) is
//!    answered `409` `out-of-stock` here, unless its `Idempotency-Key` already bought
//!    (`receipts`): then the sale is replayed. Both cost isolate memory, plus one cache lookup
//!    for a keyed buy of a sold-out item;
//!    When the item's mark has run out, the buy goes on as a candidate probe;
//! 2. after the rate limiter, while the origin is overloaded by the shop's purchases, the
//!    shop's excess is shed with `503` `shop-busy` and `Retry-After` (`admission`); a candidate
//!    probe that every step admitted then takes the probe's turn, or is refused as in step 1
//!    when another buy took it first (`take_probe`);
//! 3. the purchase goes to the origin, and its answer teaches the edge: a sale reopens the item
//!    and is kept as a receipt, `out-of-stock` with nothing left marks the item sold out, and
//!    every answer (or its absence) counts for admission.
//!
//! Refusals made here carry `X-Edge-Refusal` (`sold-out`, `shop-busy`) and are counted for the
//! admins' live sale view.

pub mod admission;
mod receipts;
pub mod sold_out;

use std::time::Duration;

use api::{headers, purchase::BuyRequest, Problem, ProblemKind};
use uuid::Uuid;
use worker::{Context, Request, Response, Result};

use crate::{
    clock::now_ms,
    forward,
    origin_calls::{OriginFailure, OriginPolicy},
    problem::{problem_body, problem_retry_after},
    respond::Answer,
};
use admission::Load;
use receipts::ReceiptKey;
use sold_out::Verdict;

/// What the edge answers by itself for a buy of an item it knows to be sold out.
#[derive(Debug)]
pub enum Known {
    /// The buyer's key already bought: its sale, replayed.
    Replayed(Answer),
    /// `409` `out-of-stock`, a refusal to count for the live sale view.
    SoldOut(Answer),
}

/// One buy on its way through the edge.
#[derive(Debug)]
pub struct Buy {
    org_id: Uuid,
    /// The item, when the body names one (a malformed body is the origin's to refuse).
    item_id: Option<Uuid>,
    receipt: Option<ReceiptKey>,
    /// The item's sold-out mark has run out: this buy may become the probe once admitted.
    probe_due: bool,
    /// This buy asks the origin whether a sold-out item still is.
    probe: bool,
}

impl Buy {
    pub fn new(
        host: &str,
        org_id: Uuid,
        req: &Request,
        body: &[u8],
        subject: Option<&str>,
    ) -> Self {
        let item_id = serde_json::from_slice::<BuyRequest>(body)
            .ok()
            .map(|buy| buy.item_id);
        let key = req.headers().get("idempotency-key").ok().flatten();
        let receipt =
            subject.and_then(|sub| ReceiptKey::new(host, org_id, sub, key.as_deref(), body));
        Self {
            org_id,
            item_id,
            receipt,
            probe_due: false,
            probe: false,
        }
    }

    pub fn item_id(&self) -> Option<Uuid> {
        self.item_id
    }

    /// Step 1: the edge's answer to a buy of an item it knows to be sold out (a replayed sale,
    /// or the refusal), if it has one.
    pub async fn known_sold_out(&mut self, request_id: &str) -> Result<Option<Known>> {
        let Some(item_id) = self.item_id else {
            return Ok(None);
        };
        match sold_out::verdict(self.org_id, item_id, now_ms()) {
            Verdict::Forward | Verdict::Probe => Ok(None),
            Verdict::ProbeDue => {
                self.probe_due = true;
                Ok(None)
            }
            Verdict::SoldOut => self.sold_out(request_id).await.map(Some),
        }
    }

    /// The end of step 2, for a buy every step admitted: if it found the item's mark run out,
    /// it takes the probe's turn, or gets step 1's answer when another buy took the turn first.
    pub async fn take_probe(&mut self, request_id: &str) -> Result<Option<Known>> {
        let (true, Some(item_id)) = (self.probe_due, self.item_id) else {
            return Ok(None);
        };
        match sold_out::take_probe(self.org_id, item_id, now_ms()) {
            Verdict::Forward | Verdict::ProbeDue => Ok(None),
            Verdict::Probe => {
                self.probe = true;
                Ok(None)
            }
            Verdict::SoldOut => self.sold_out(request_id).await.map(Some),
        }
    }

    /// The answer to a buy of an item known sold out: its key's sale replayed, or `409`.
    async fn sold_out(&self, request_id: &str) -> Result<Known> {
        if let Some(receipt) = &self.receipt {
            if let Some(replay) = receipt.recall().await {
                return Ok(Known::Replayed(replay));
            }
        }
        let refusal = problem_body(Problem::out_of_stock(0), request_id)?;
        let answer = Answer::from(refusal).with(headers::EDGE_REFUSAL, "sold-out");
        Ok(Known::SoldOut(answer))
    }

    /// Step 2: the refusal of a buy shed because the origin is overloaded by the shop's
    /// purchases, if it is.
    pub fn shed(&self, request_id: &str) -> Result<Option<Answer>> {
        if admission::admit(self.org_id, now_ms()) {
            return Ok(None);
        }
        let refusal = problem_retry_after(
            ProblemKind::ShopBusy,
            "the shop is busy with a sale; try again shortly (a purchase retried with the same \
             Idempotency-Key is never made twice)",
            request_id,
            admission::RETRY_AFTER_SECONDS,
        )?;
        Ok(Some(
            Answer::from(refusal).with(headers::EDGE_REFUSAL, "shop-busy"),
        ))
    }

    /// Step 3: sends the purchase to the origin within `deadline`, and learns from the answer.
    pub async fn send(
        self,
        ctx: &Context,
        request: Request,
        request_id: &str,
        policy: &OriginPolicy,
        deadline: Duration,
    ) -> Result<Answer> {
        let answered = forward::exchange(request, policy, deadline).await;
        let load = match &answered {
            Ok(response) if overloaded(response) => Some(Load::Overloaded),
            Ok(_) => Some(Load::Accepted),
            Err(OriginFailure::Resting { .. }) => None,
            Err(OriginFailure::TimedOut | OriginFailure::Unreachable) => Some(Load::Overloaded),
        };
        if let Some(load) = load {
            admission::record(self.org_id, now_ms(), load);
        }
        let mut answer = forward::answer(answered, request_id)?;
        let status = answer.status();
        let Some(item_id) = self.item_id else {
            return Ok(answer);
        };
        if (200..300).contains(&status) {
            sold_out::reopen(self.org_id, item_id, now_ms());
            if let Some(receipt) = self.receipt {
                receipt.keep(ctx, &mut answer)?;
            }
        } else if status == ProblemKind::OutOfStock.status() && nothing_left(&mut answer).await {
            sold_out::learn_sold_out(self.org_id, item_id, now_ms());
        } else if self.probe {
            sold_out::reopen(self.org_id, item_id, now_ms());
        }
        Ok(answer)
    }
}

/// Whether an origin answer is its overload signal. (A gateway error in front of the origin
/// never gets here: `origin_calls::call` makes it a failure, which counts as overload too.)
fn overloaded(response: &Response) -> bool {
    response
        .headers()
        .get(headers::ORIGIN_OVERLOADED)
        .ok()
        .flatten()
        .is_some()
}

/// Whether a `409` says the item is sold out: `out-of-stock` with no unit left (read from a
/// copy, so the answer's own body still goes to the buyer).
async fn nothing_left(answer: &mut Answer) -> bool {
    let Ok(mut copy) = answer.response_mut().cloned() else {
        return false;
    };
    let Ok(body) = copy.bytes().await else {
        return false;
    };
    serde_json::from_slice::<Problem>(&body).is_ok_and(|problem| problem.says_sold_out())
}

/// After an item write through this isolate (`PATCH /api/admin/items/{id}`, or creating one)
/// answered 2xx: the item it names (`None` for a create: every item of the shop) is open again
/// here at once.
pub fn item_written(org_id: Uuid, item_id: Option<Uuid>) {
    match item_id {
        Some(item_id) => sold_out::reopen(org_id, item_id, now_ms()),
        None => sold_out::reopen_shop(org_id, now_ms()),
    }
}
