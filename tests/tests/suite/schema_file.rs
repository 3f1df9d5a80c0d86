//! `db/schema.sql` is the schema the migrations build, so it can be read instead of them.
//!
//! Migrations are append-only history: a function's live body is its last `CREATE OR REPLACE`,
//! which may sit several files after its first. The committed schema file is the one place
//! that shows every table, type and function as it is now. This test migrates a fresh database
//! the way every other test does, dumps it with the same `scripts/schema-dump` that wrote the
//! file, and fails when the two differ: after adding a migration, run the script and commit.

use std::{path::Path, process::Command};

use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn the_committed_schema_file_is_what_the_migrations_build(db: PgPool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db)
        .await
        .unwrap();
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let (server, _) = server.rsplit_once('/').expect("a URL with a database name");
    let dump = Command::new(root.join("scripts/schema-dump"))
        .arg(format!("{server}/{name}"))
        .output()
        .expect("run scripts/schema-dump");
    assert!(
        dump.status.success(),
        "scripts/schema-dump failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let built = String::from_utf8(dump.stdout).expect("the dump is UTF-8");
    let committed =
        std::fs::read_to_string(root.join("db/schema.sql")).expect("read db/schema.sql");
    if built != committed {
        let first = built
            .lines()
            .zip(committed.lines())
            .position(|(b, c)| b != c)
            .unwrap_or_else(|| built.lines().count().min(committed.lines().count()));
        panic!(
            "db/schema.sql is not what the migrations build (first difference at line {}: \
             the migrations give {:?}, the file says {:?}); run scripts/schema-dump and commit \
             db/schema.sql",
            first + 1,
            built.lines().nth(first),
            committed.lines().nth(first),
        );
    }
}
