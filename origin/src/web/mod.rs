//! The bottom web layer, which the features use and which uses none of them: the crate's one
//! error type and its problem+json answer, the extractors (the caller and their shop, a JSON
//! body, the write position a read must see), the edge's per-request proof, the stamping of
//! write positions, and the types the handlers' OpenAPI annotations share (`doc_types`).

pub mod caller;
pub mod doc_types;
pub mod edge_trust;
pub mod error;
pub mod json_body;
pub mod read_after;
pub mod write_position;
