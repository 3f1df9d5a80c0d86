//! What a shop shows the public and its shoppers: its profile, its inventory, and the live
//! event stream of stock changes and purchase outcomes (fed by `events`).

pub mod events;
pub mod inventory;
pub mod profile;
