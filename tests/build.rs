//! Rebuilds when a migration changes: `sqlx::migrate!` (and `#[sqlx::test(migrations)]`) embed
//! the files at compile time, and Cargo cannot see files a macro reads.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
