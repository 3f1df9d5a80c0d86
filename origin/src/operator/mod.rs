//! The operator side of the CLI: shops and their domains, signing keys, development tokens.
//! These run as the schema owner from `origin ...` commands, never on the request path.

pub mod demo_shop;
pub mod dev_tokens;
pub mod signing_keys;
pub mod tenants;
