//! An upload's bytes, from the settled request to the bucket: the alt text and the
//! `Idempotency-Key` every admin write needs are checked first (400), then the bytes are recognised by `sniff` (415 not a picture, 422 too large a one),
//! hashed, and put under `{org_id}/{sha256}.{ext}` with the content type the bytes showed. The
//! same picture uploaded twice is the same object. What goes on to the origin is the picture's
//! metadata as JSON (`api::images::NewImage`), never the bytes.
//!
//! An object stored for an upload the origin then refuses (an unknown item, a full item) is
//! named by no picture: the sweep deletes it once it is older than its grace period.

use api::{
    images::{self, NewImage},
    ProblemKind,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use worker::{Env, HttpMetadata, Request, Result};

use super::{
    bucket::BUCKET,
    sniff::{self, Refused},
};
use crate::{problem::problem_response, respond::Answer};

/// Stores the picture `body` holds for `org_id`, and answers the JSON to send the origin in its
/// place; or the refusal to answer instead.
pub async fn store(
    env: &Env,
    org_id: Uuid,
    req: &Request,
    body: &[u8],
    request_id: &str,
) -> Result<std::result::Result<Vec<u8>, Answer>> {
    if req.headers().get("idempotency-key")?.is_none() {
        let detail = "the Idempotency-Key header is required";
        return refuse(ProblemKind::MalformedRequest, detail, request_id);
    }
    let url = req.url()?;
    let parameter = |wanted: &str| {
        url.query_pairs()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.into_owned())
    };
    let alt = parameter("alt").unwrap_or_default();
    let Some(alt) = images::valid_alt(&alt) else {
        let detail = format!(
            "alt text is required: 1 to {} characters, no control characters",
            images::MAX_ALT_CHARS
        );
        return refuse(ProblemKind::MalformedRequest, &detail, request_id);
    };
    let size_of = match parameter("size_of").map(|id| Uuid::parse_str(&id)) {
        None => None,
        Some(Ok(picture)) => Some(picture),
        Some(Err(_)) => {
            let detail = "size_of names a picture by its id, a UUID";
            return refuse(ProblemKind::MalformedRequest, detail, request_id);
        }
    };
    let picture = match sniff::recognise(body) {
        Ok(picture) => picture,
        Err(refused @ Refused::NotAPicture(_)) => {
            return refuse(
                ProblemKind::UnsupportedMediaType,
                &refused.to_string(),
                request_id,
            )
        }
        Err(refused @ Refused::TooLarge { .. }) => {
            return refuse(ProblemKind::ImageTooLarge, &refused.to_string(), request_id)
        }
    };
    let digest = Sha256::digest(body);
    let hash: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let key = images::object_key(org_id, &hash, picture.format.extension());
    let content_type = picture.format.content_type();
    env.bucket(BUCKET)?
        .put(&key, body.to_vec())
        .http_metadata(HttpMetadata {
            content_type: Some(content_type.to_owned()),
            ..HttpMetadata::default()
        })
        .execute()
        .await?;
    let metadata = NewImage {
        key,
        content_type: content_type.to_owned(),
        width: i32::try_from(picture.width).unwrap_or(i32::MAX),
        height: i32::try_from(picture.height).unwrap_or(i32::MAX),
        bytes: i64::try_from(body.len()).unwrap_or(i64::MAX),
        alt: alt.to_owned(),
        size_of,
    };
    Ok(Ok(serde_json::to_vec(&metadata)?))
}

fn refuse(
    kind: ProblemKind,
    detail: &str,
    request_id: &str,
) -> Result<std::result::Result<Vec<u8>, Answer>> {
    Ok(Err(problem_response(kind, detail, request_id)?.into()))
}
