//! Where pictures are kept: the R2 bucket binding (wrangler.toml `[[r2_buckets]]`), named once
//! for the upload, the serving and the sweep.

/// The bucket's binding name.
pub const BUCKET: &str = "IMAGES";
