//! Why bytes are not taken as a picture, and the largest side one may have: what every
//! format's reader answers with.

/// The widest and tallest picture taken, in pixels: enough for a 2x display's full-width
/// hero, and a bound on what a browser decodes for a shopper.
pub const MAX_SIDE: u32 = 8_192;

/// Why bytes are not taken as a picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the body is not a whole JPEG, PNG, WebP or AVIF picture ({0})")]
    NotAPicture(&'static str),
    #[error("the picture is {width}x{height} px; each side may be at most {MAX_SIDE} px")]
    TooLarge { width: u32, height: u32 },
}
