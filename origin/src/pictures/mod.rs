//! Product pictures' metadata, as the rest of the origin reads it. The bytes are in the edge's
//! R2 bucket (the origin never carries them); `item_images` keeps, per shop under row-level
//! security, which item each picture shows, in which order, with which alt text, and what the
//! edge read from the bytes. Items carry their pictures in every answer (`load_for`); the
//! edge's orphan sweep asks which keys are still named (`referenced`). The admin routes that
//! add, order and remove pictures are in `admin::images`.

pub mod referenced;

use std::collections::HashMap;

use api::{
    images::{ImageSize, ItemImage},
    inventory::Item,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// An item as its row holds it, before its pictures are added.
#[derive(Debug)]
pub struct ItemRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i32,
}

impl ItemRow {
    /// The item, with no pictures yet.
    pub fn into_item(self) -> Item {
        Item {
            id: self.id,
            sku: self.sku,
            name: self.name,
            price_cents: self.price_cents,
            stock: self.stock,
            images: Vec::new(),
        }
    }
}

/// The pictures of `item_ids`, each item's in order with its other sizes; items without any
/// are absent.
pub async fn load_for(
    conn: &mut PgConnection,
    org_id: Uuid,
    item_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ItemImage>>, sqlx::Error> {
    // Pictures first (in order), then every size, narrowest first.
    let rows = sqlx::query!(
        "SELECT id, item_id, size_of, object_key, width, height, alt, bytes, content_type
         FROM item_images
         WHERE organization_id = $1 AND item_id = ANY($2)
         ORDER BY size_of IS NOT NULL, item_id, position, width, id",
        org_id,
        item_ids
    )
    .fetch_all(conn)
    .await?;
    let mut by_item: HashMap<Uuid, Vec<ItemImage>> = HashMap::new();
    for row in rows {
        let pictures = by_item.entry(row.item_id).or_default();
        let url = api::images::url_of(&row.object_key);
        match row.size_of {
            None => pictures.push(ItemImage {
                id: row.id,
                url,
                width: row.width,
                height: row.height,
                alt: row.alt,
                bytes: row.bytes,
                content_type: row.content_type,
                sizes: Vec::new(),
            }),
            Some(picture) => {
                if let Some(picture) = pictures.iter_mut().find(|p| p.id == picture) {
                    picture.sizes.push(ImageSize {
                        id: row.id,
                        url,
                        width: row.width,
                        height: row.height,
                        bytes: row.bytes,
                    });
                }
            }
        }
    }
    Ok(by_item)
}

/// `items` with their pictures filled in.
pub async fn with_pictures(
    conn: &mut PgConnection,
    org_id: Uuid,
    mut items: Vec<Item>,
) -> Result<Vec<Item>, sqlx::Error> {
    let ids: Vec<Uuid> = items.iter().map(|item| item.id).collect();
    let mut pictures = load_for(conn, org_id, &ids).await?;
    for item in &mut items {
        item.images = pictures.remove(&item.id).unwrap_or_default();
    }
    Ok(items)
}
