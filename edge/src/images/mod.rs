//! Product pictures at the edge: uploads are recognised and stored in R2 here, and pictures are
//! served from here; the origin only keeps their metadata (`api::images`).
//!
//! - `upload`: `POST /api/admin/items/{item_id}/images?alt=...` with the bytes as the body.
//!   The gateway settles it like any admin write (the token, the admin's own upload budget in
//!   the rate limiter) with a body cap of `MAX_IMAGE_BYTES` instead of the API's 16 KiB. The
//!   bytes are then recognised (`sniff`: 415, 422), named by their SHA-256 under the shop's
//!   prefix, put in the `IMAGES` bucket, and the origin is sent the metadata in place of the
//!   bytes, as a proved request with the admin's sealed claims.
//! - `serve`: `GET`/`HEAD /images/{sha256}.{ext}` on a shop's domain, from the Cache API in
//!   front of R2, looked up under that shop's prefix only.
//! - `sweep`: the scheduled handler that deletes objects no picture names any more.

mod bucket;
mod serve;
pub mod sniff;
mod sweep;
mod upload;

pub use serve::serve;
pub use sweep::sweep;
pub use upload::store;
