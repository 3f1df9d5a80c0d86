//! The demo shop every fresh checkout runs (`origin tenant seed-demo`, used by `scripts/dev`):
//! twelve pieces of furniture, a storefront's first screens full, so the page, its pictures
//! (drawn by `scripts/demo-pictures.mjs`) and its Lighthouse run look like a real shop's.
//!
//! Seeding is idempotent: the shop is found by its domain and items by SKU, so running it again
//! changes nothing, and an item sold or restocked keeps its stock.

use sqlx::PgPool;
use uuid::Uuid;

use super::tenants::{self, NewItem, DEMO_DOMAIN};

/// The demo shop's items. `CHAIR-EAMES` sorts first by SKU (benchmarks pick the first) and
/// `LAMP-ARC` is the item the restore drill sells.
pub const DEMO_ITEMS: [NewItem<'static>; 12] = [
    item("CHAIR-EAMES", "Eames Lounge Chair", 549_900, 25),
    item("TABLE-OAK-6", "Oak Dining Table (6 seats)", 129_900, 10),
    item("SOFA-VELVET", "Green Velvet Sofa", 219_900, 5),
    item("LAMP-ARC", "Brass Arc Floor Lamp", 34_900, 40),
    item("CHAIR-WINDSOR", "Windsor Dining Chair", 18_900, 60),
    item("DESK-WALNUT", "Walnut Writing Desk", 89_900, 8),
    item("LAMP-DESK", "Green Desk Lamp", 8_900, 50),
    item("SHELF-LADDER", "Ladder Bookshelf", 24_900, 15),
    item("SIDEBOARD-TEAK", "Teak Sideboard", 159_900, 4),
    item("STOOL-BAR", "Black Steel Bar Stool", 12_900, 30),
    item("TABLE-SIDE", "Round Side Table", 15_900, 20),
    item("RUG-WOOL", "Wool Rug (200 x 300 cm)", 45_900, 12),
];

const fn item(
    sku: &'static str,
    name: &'static str,
    price_cents: i64,
    stock: i32,
) -> NewItem<'static> {
    NewItem {
        sku,
        name,
        price_cents,
        stock,
    }
}

/// Creates the demo shop on `DEMO_DOMAIN` with `DEMO_ITEMS`, or completes the one there.
pub async fn seed(db: &PgPool) -> Result<Uuid, sqlx::Error> {
    let org_id = tenants::add(db, "Demo Furniture", DEMO_DOMAIN).await?;
    tenants::stock_items(db, org_id, &DEMO_ITEMS).await?;
    Ok(org_id)
}
