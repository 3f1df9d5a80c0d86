//! Product pictures: what the console uploads, what the edge tells the origin after it stored
//! the bytes in R2, and what shoppers get with each item.
//!
//! A picture may come in several sizes (the console makes 320, 640 and 1280 px wide WebP with
//! canvas before it uploads). Each size is one upload: the first makes the picture, the others
//! name it with `size_of={image_id}` and are listed in its `sizes`, for the storefront's
//! `srcset`. An item's `images` are its pictures in order; each picture's sizes go with it
//! (removed with it, never ordered apart).
//!
//! The bytes never reach the origin. The edge recognises the picture by its bytes, names it by
//! its content (`{org_id}/{sha256}.{ext}`, the object key in the `IMAGES` bucket) and sends the
//! origin only the metadata (`NewImage`); shoppers fetch it from the edge at
//! `/images/{sha256}.{ext}` on the shop's own domain, which the edge looks up under that shop's
//! prefix alone, so no shop's domain serves another shop's picture.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most bytes one upload may carry: 10 MB (the browser sends WebP of at most 1280 px, a
/// few hundred KB; a camera's JPEG fits too).
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;

/// The longest alt text, in characters.
pub const MAX_ALT_CHARS: usize = 300;

/// The most uploads one item holds, every size counted: eight pictures in three sizes.
pub const MAX_IMAGES_PER_ITEM: i64 = 24;

/// Where shoppers fetch pictures on a shop's domain.
pub const IMAGE_PATH_PREFIX: &str = "/images/";

/// The extensions an object key may end with, one per format the edge recognises.
pub const EXTENSIONS: [&str; 4] = ["jpg", "png", "webp", "avif"];

/// One picture of an item, as shoppers and admins see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemImage {
    pub id: Uuid,
    /// Path on the shop's own domain: `/images/{sha256}.{ext}`.
    pub url: String,
    pub width: i32,
    pub height: i32,
    pub alt: String,
    pub bytes: i64,
    pub content_type: String,
    /// The picture's other sizes, narrowest first.
    #[serde(default)]
    pub sizes: Vec<ImageSize>,
}

/// One more size of a picture.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    pub id: Uuid,
    pub url: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
}

/// What the edge tells the origin about a picture it stored
/// (`POST /api/tenant/{org_id}/admin/items/{item_id}/images`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewImage {
    /// `{org_id}/{sha256}.{ext}`: the object key in the bucket.
    pub key: String,
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub alt: String,
    /// The picture this upload is another size of, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_of: Option<Uuid>,
}

/// `PUT /api/admin/items/{item_id}/images`: the item's pictures in their new order, every one
/// named once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOrder {
    pub ids: Vec<Uuid>,
}

/// The edge's orphan sweep asks which of a shop's stored keys its pictures still name
/// (`POST /api/tenant/{org_id}/edge/images/referenced`), and deletes the others.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageKeys {
    pub keys: Vec<String>,
}

/// The most keys one sweep question names: a hundred keys of ~110 bytes stay within the
/// origin's 16 KiB body limit.
pub const MAX_SWEEP_KEYS: usize = 100;

/// The object key of a picture of `org_id` whose content hashes to `sha256_hex`.
pub fn object_key(org_id: Uuid, sha256_hex: &str, extension: &str) -> String {
    format!("{org_id}/{sha256_hex}.{extension}")
}

/// The file name (`{sha256}.{ext}`) of a well-formed object key of `org_id`, if `key` is one.
pub fn file_name_in(org_id: Uuid, key: &str) -> Option<&str> {
    let (org, name) = key.split_once('/')?;
    (org == org_id.to_string() && is_file_name(name)).then_some(name)
}

/// `{64 lowercase hex digits}.{one of EXTENSIONS}`.
pub fn is_file_name(name: &str) -> bool {
    let Some((hash, extension)) = name.split_once('.') else {
        return false;
    };
    hash.len() == 64
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && EXTENSIONS.contains(&extension)
}

/// The URL shoppers fetch the picture stored under `key` at.
pub fn url_of(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or_default();
    format!("{IMAGE_PATH_PREFIX}{name}")
}

/// Alt text, trimmed, when it is acceptable: required, at most `MAX_ALT_CHARS`, no control
/// characters.
pub fn valid_alt(alt: &str) -> Option<&str> {
    let alt = alt.trim();
    (!alt.is_empty() && alt.chars().count() <= MAX_ALT_CHARS && !alt.chars().any(char::is_control))
        .then_some(alt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_belong_to_one_shop_and_name_content() {
        let org = Uuid::new_v4();
        let hash = "a".repeat(64);
        let key = object_key(org, &hash, "webp");
        assert_eq!(
            file_name_in(org, &key),
            Some(format!("{hash}.webp").as_str())
        );
        assert_eq!(file_name_in(Uuid::new_v4(), &key), None);
        assert_eq!(url_of(&key), format!("/images/{hash}.webp"));
        assert!(!is_file_name(&format!("{hash}.svg")));
        assert!(!is_file_name(&format!("{}.png", "A".repeat(64))));
        assert!(!is_file_name("../x.png"));
        assert!(file_name_in(org, &format!("{org}/../{hash}.png")).is_none());
    }

    #[test]
    fn alt_text_is_required_and_bounded() {
        assert_eq!(valid_alt("  Oak chair  "), Some("Oak chair"));
        assert_eq!(valid_alt("   "), None);
        assert_eq!(valid_alt(&"x".repeat(MAX_ALT_CHARS + 1)), None);
        assert_eq!(valid_alt("a\u{0}b"), None);
    }
}
