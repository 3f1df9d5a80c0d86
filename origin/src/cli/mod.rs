//! Subcommands of the `origin` binary that have grown their own flags.

pub mod bench;
