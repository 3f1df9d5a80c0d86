//! What an uploaded picture is, told by its bytes alone: JPEG, PNG, WebP or AVIF, and its width
//! and height read from the headers, never by decoding it (the browser made the sizes; the
//! Worker only checks them). The client's `Content-Type` and file name count for nothing.
//!
//! Each format's structure is walked to its end, so a file is accepted only when it is whole
//! and nothing else: a PNG's chunks run from the signature to `IEND` at the last byte, a
//! JPEG's segments from `SOI` to `EOI`, a WebP's RIFF size is the file's, an AVIF's boxes tile
//! the file. A PNG signature followed by HTML, a truncated file, SVG, GIF and anything else is
//! not a picture here (`415`); a picture wider or taller than `MAX_SIDE` is refused (`422`)
//! before anyone decodes it.
//!
//! One file per format reads its header and walks its structure (`png`, `jpeg`, `webp`,
//! `avif`), with the integer reads they share in `words`; this one picks the reader by the
//! first bytes and applies the bounds every format shares.

mod avif;
mod jpeg;
mod png;
mod refused;
#[cfg(test)]
pub mod samples;
#[cfg(test)]
mod tests;
mod webp;
mod words;

pub use refused::{Refused, MAX_SIDE};

/// A picture format the shop serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
        }
    }

    /// The extension its object key ends with.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Avif => "avif",
        }
    }
}

/// A picture recognised by its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// The picture `bytes` hold, or why they hold none the shop serves: the format is picked by
/// the first bytes, then that format's reader walks the file and reads the size.
pub fn recognise(bytes: &[u8]) -> Result<Picture, Refused> {
    let (format, (width, height)) = if bytes.starts_with(png::SIGNATURE) {
        (Format::Png, png::read(bytes)?)
    } else if bytes.starts_with(jpeg::START) {
        (Format::Jpeg, jpeg::read(bytes)?)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        (Format::Webp, webp::read(bytes)?)
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        (Format::Avif, avif::read(bytes)?)
    } else {
        return Err(Refused::NotAPicture("unknown format"));
    };
    if width == 0 || height == 0 {
        return Err(Refused::NotAPicture("no width or height"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Refused::TooLarge { width, height });
    }
    Ok(Picture {
        format,
        width,
        height,
    })
}
