//! Admins' pictures of their items: recording one the edge stored, setting their order,
//! removing one. Each is an admin write like the others (`guarded_write`: idempotent, audited).
//!
//! The bytes never come here. `POST .../images` takes the edge's `NewImage` (the object key
//! it stored the bytes under, what it read from them, the admin's alt text), checked again
//! here: the key must be this shop's and name content (`{org_id}/{sha256}.{ext}`), the type
//! must match the extension, and the sizes must be within the edge's bounds. A removed
//! picture's object is left to the edge's orphan sweep, which deletes it once no picture of
//! the shop names it. Another size of a picture (`size_of`) takes its picture's place in the
//! order, and goes when it goes (`ON DELETE CASCADE`).

use api::{
    images::{self, ImageOrder, ItemImage, NewImage, MAX_IMAGES_PER_ITEM, MAX_IMAGE_BYTES},
    Problem,
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::web::doc_types::{TenantPath, TokenRefusals, TooLarge, Unavailable};
use crate::{
    admin::audit::AuditEntry, admin::guarded_write::AdminWrite, app::state::AppState, pictures,
    web::caller::Admin, web::error::ApiError, web::json_body::parse_json,
};

/// The widest or tallest picture the edge takes (`edge::images::sniff::MAX_SIDE`).
const MAX_SIDE: i32 = 8_192;

/// `POST /api/tenant/{org_id}/admin/items/{item_id}/images`
#[utoipa::path(
    post,
    path = "/api/tenant/{org_id}/admin/items/{item_id}/images",
    summary = "Record a picture of an item the edge stored (on a shop's domain: the bytes)",
    tag = "admin",
    params(TenantPath, ("item_id" = Uuid, Path, description = "The item")),
    request_body = NewImage,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The picture, last in the item's order", body = ItemImage),
        (status = 400, description = "Malformed metadata, a key not of this shop, or no alt text", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The item holds as many pictures as it may", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn record_image(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let item_id = item_uuid(&item_id)?;
    let new: NewImage = parse_json(&body)?;
    let alt = checked(&new, caller.org_id)?;
    let route = format!("add-image:{item_id}");
    let mut write = match AdminWrite::begin(&state, &caller, &headers, &route, &body).await? {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    lock_item(&mut write.tx, caller.org_id, item_id).await?;
    let held = sqlx::query_scalar!(
        r#"SELECT count(*) AS "held!" FROM item_images WHERE organization_id = $1 AND item_id = $2"#,
        caller.org_id,
        item_id
    )
    .fetch_one(&mut *write.tx)
    .await?;
    if held >= MAX_IMAGES_PER_ITEM {
        return Err(ApiError::Conflict(
            "the item holds as many pictures as it may (24 uploads, every size counted)",
        ));
    }
    if let Some(picture) = new.size_of {
        sqlx::query_scalar!(
            "SELECT id FROM item_images
             WHERE organization_id = $1 AND item_id = $2 AND id = $3 AND size_of IS NULL",
            caller.org_id,
            item_id,
            picture
        )
        .fetch_optional(&mut *write.tx)
        .await?
        .ok_or(ApiError::NotFound("no such picture of this item"))?;
    }
    // A new picture goes last; another size of one takes its picture's place.
    let id = sqlx::query_scalar!(
        "INSERT INTO item_images
             (organization_id, item_id, position, alt, width, height, bytes, content_type,
              object_key, size_of)
         SELECT $1, $2,
                CASE WHEN $9::uuid IS NULL THEN coalesce(max(position) + 1, 0)
                     ELSE coalesce(max(position) FILTER (WHERE id = $9), 0) END,
                $3, $4, $5, $6, $7, $8, $9
         FROM item_images WHERE organization_id = $1 AND item_id = $2
         RETURNING id",
        caller.org_id,
        item_id,
        alt,
        new.width,
        new.height,
        new.bytes,
        new.content_type,
        new.key,
        new.size_of
    )
    .fetch_one(&mut *write.tx)
    .await?;
    let image = ItemImage {
        id,
        url: images::url_of(&new.key),
        width: new.width,
        height: new.height,
        alt: alt.to_owned(),
        bytes: new.bytes,
        content_type: new.content_type.clone(),
        sizes: Vec::new(),
    };
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "image.add",
        target: format!("item:{item_id}"),
        before: None,
        after: Some(json!(image)),
        request_id: &request_id,
    };
    write.finish(Some(entry), StatusCode::CREATED, &image).await
}

/// `PUT /api/tenant/{org_id}/admin/items/{item_id}/images`
#[utoipa::path(
    put,
    path = "/api/tenant/{org_id}/admin/items/{item_id}/images",
    summary = "Set the order of an item's pictures: every one named once",
    tag = "admin",
    params(TenantPath, ("item_id" = Uuid, Path, description = "The item")),
    request_body = ImageOrder,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item's pictures in their new order", body = Vec<ItemImage>),
        (status = 400, description = "Malformed body, or ids that are not the item's pictures each once", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        TooLarge,
        Unavailable,
    )
)]
pub async fn order_images(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let item_id = item_uuid(&item_id)?;
    let order: ImageOrder = parse_json(&body)?;
    let route = format!("order-images:{item_id}");
    let mut write = match AdminWrite::begin(&state, &caller, &headers, &route, &body).await? {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    lock_item(&mut write.tx, caller.org_id, item_id).await?;
    let before = pictures::load_for(&mut write.tx, caller.org_id, &[item_id])
        .await?
        .remove(&item_id)
        .unwrap_or_default();
    let mut held: Vec<Uuid> = before.iter().map(|image| image.id).collect();
    let mut named = order.ids.clone();
    held.sort_unstable();
    named.sort_unstable();
    if held != named {
        return Err(ApiError::Malformed(
            "name every picture of the item exactly once".into(),
        ));
    }
    sqlx::query!(
        "UPDATE item_images SET position = ordered.position - 1
         FROM unnest($3::uuid[]) WITH ORDINALITY AS ordered (id, position)
         WHERE item_images.organization_id = $1 AND item_images.item_id = $2
           AND (item_images.id = ordered.id OR item_images.size_of = ordered.id)",
        caller.org_id,
        item_id,
        &order.ids[..]
    )
    .execute(&mut *write.tx)
    .await?;
    let after = pictures::load_for(&mut write.tx, caller.org_id, &[item_id])
        .await?
        .remove(&item_id)
        .unwrap_or_default();
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "image.order",
        target: format!("item:{item_id}"),
        before: Some(json!(before.iter().map(|i| i.id).collect::<Vec<_>>())),
        after: Some(json!(order.ids)),
        request_id: &request_id,
    };
    write.finish(Some(entry), StatusCode::OK, &after).await
}

/// `DELETE /api/tenant/{org_id}/admin/items/{item_id}/images/{image_id}`
#[utoipa::path(
    delete,
    path = "/api/tenant/{org_id}/admin/items/{item_id}/images/{image_id}",
    summary = "Remove a picture of an item, with its other sizes (their objects go with the edge's next sweep)",
    tag = "admin",
    params(
        TenantPath,
        ("item_id" = Uuid, Path, description = "The item"),
        ("image_id" = Uuid, Path, description = "The picture")
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id is not a UUID, or no Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        (status = 404, description = "Unknown item or picture", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn remove_image(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, item_id, image_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let item_id = item_uuid(&item_id)?;
    let image_id = Uuid::parse_str(&image_id)
        .map_err(|_| ApiError::Malformed("the picture id is not a UUID".into()))?;
    let route = format!("remove-image:{item_id}:{image_id}");
    let mut write = match AdminWrite::begin(&state, &caller, &headers, &route, &[]).await? {
        Ok(write) => write,
        Err(replayed) => return Ok(replayed),
    };
    let removed = sqlx::query_scalar!(
        "DELETE FROM item_images
         WHERE organization_id = $1 AND item_id = $2 AND id = $3
         RETURNING object_key",
        caller.org_id,
        item_id,
        image_id
    )
    .fetch_optional(&mut *write.tx)
    .await?
    .ok_or(ApiError::NotFound("no such picture"))?;
    let request_id = write.key.request_id.clone();
    let entry = AuditEntry {
        org_id: caller.org_id,
        actor_sub: caller.sub(),
        action: "image.remove",
        target: format!("item:{item_id}"),
        before: Some(json!({ "id": image_id, "url": images::url_of(&removed) })),
        after: None,
        request_id: &request_id,
    };
    write.finish_empty(Some(entry)).await
}

fn item_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::Malformed("the item id is not a UUID".into()))
}

/// The edge's metadata, checked as if it came from anyone: the trimmed alt text when it holds.
fn checked(new: &NewImage, org_id: Uuid) -> Result<&str, ApiError> {
    let malformed = |detail: &str| ApiError::Malformed(detail.to_owned());
    let name = images::file_name_in(org_id, &new.key)
        .ok_or_else(|| malformed("the key is not one of this shop's picture keys"))?;
    let extension = name.rsplit('.').next().unwrap_or_default();
    let expected = match extension {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        _ => "image/avif",
    };
    if new.content_type != expected {
        return Err(malformed("the content type does not match the key"));
    }
    let side = 1..=MAX_SIDE;
    if !side.contains(&new.width) || !side.contains(&new.height) {
        return Err(malformed("width and height must be 1 to 8192"));
    }
    let max_bytes = i64::try_from(MAX_IMAGE_BYTES).unwrap_or(i64::MAX);
    if !(1..=max_bytes).contains(&new.bytes) {
        return Err(malformed("bytes must be 1 to 10 MB"));
    }
    images::valid_alt(&new.alt)
        .ok_or_else(|| malformed("alt text is required (1 to 300 characters)"))
}

/// Makes concurrent picture writes of one item queue for the rest of the transaction (so two
/// cannot both take the last place or the same position), or `404` when the shop has no such
/// item. An advisory lock, not the item's row: a sale's purchases lock that row, and a
/// picture must never wait for them or hold them up.
async fn lock_item(conn: &mut PgConnection, org_id: Uuid, item_id: Uuid) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        r#"SELECT pg_advisory_xact_lock(hashtextextended('item-images:' || $1::uuid::text, 0)) IS NULL AS "locked!""#,
        item_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        "SELECT id FROM inventory WHERE organization_id = $1 AND id = $2",
        org_id,
        item_id
    )
    .fetch_optional(conn)
    .await?
    .map(|_| ())
    .ok_or(ApiError::NotFound("no such item"))
}
