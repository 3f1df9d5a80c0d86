//! Test shops: an organization, its domain and its items, created as the schema owner.

use api::inventory::Item;
use origin::operator::tenants::{self, NewItem};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Shop {
    pub org_id: Uuid,
    pub domain: String,
}

impl Shop {
    /// Creates a shop on `domain` holding `items` as (sku, stock).
    pub async fn create(db: &PgPool, domain: &str, items: &[(&str, i32)]) -> Self {
        let org_id = tenants::add(db, &format!("Shop {domain}"), domain)
            .await
            .expect("create shop");
        let names: Vec<String> = items.iter().map(|(sku, _)| format!("Item {sku}")).collect();
        let new_items: Vec<NewItem<'_>> = items
            .iter()
            .zip(&names)
            .map(|((sku, stock), name)| NewItem {
                sku,
                name,
                price_cents: 10_000,
                stock: *stock,
            })
            .collect();
        tenants::stock_items(db, org_id, &new_items)
            .await
            .expect("stock items");
        Self {
            org_id,
            domain: domain.to_owned(),
        }
    }

    /// The item with `sku`, read straight from the database.
    pub async fn item(&self, db: &PgPool, sku: &str) -> Item {
        let row = sqlx::query!(
            "SELECT id, sku, name, price_cents, stock FROM inventory
             WHERE organization_id = $1 AND sku = $2",
            self.org_id,
            sku
        )
        .fetch_one(db)
        .await
        .expect("item exists");
        Item {
            id: row.id,
            sku: row.sku,
            name: row.name,
            price_cents: row.price_cents,
            stock: row.stock,
            images: Vec::new(),
        }
    }

    /// How many orders the shop holds, and how many units they add up to.
    pub async fn order_totals(&self, db: &PgPool) -> (i64, i64) {
        let row = sqlx::query!(
            r#"SELECT count(*) AS "orders!", coalesce(sum(quantity), 0)::bigint AS "units!"
               FROM orders WHERE organization_id = $1"#,
            self.org_id
        )
        .fetch_one(db)
        .await
        .expect("count orders");
        (row.orders, row.units)
    }

    /// The ids of every order the shop holds.
    pub async fn order_ids(&self, db: &PgPool) -> Vec<Uuid> {
        sqlx::query_scalar!(
            "SELECT id FROM orders WHERE organization_id = $1",
            self.org_id
        )
        .fetch_all(db)
        .await
        .expect("list orders")
    }
}
