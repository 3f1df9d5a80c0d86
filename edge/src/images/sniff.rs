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

/// The widest and tallest picture taken, in pixels: enough for a 2x display's full-width
/// hero, and a bound on what a browser decodes for a shopper.
pub const MAX_SIDE: u32 = 8_192;

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

/// Why bytes are not taken as a picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the body is not a whole JPEG, PNG, WebP or AVIF picture ({0})")]
    NotAPicture(&'static str),
    #[error("the picture is {width}x{height} px; each side may be at most {MAX_SIDE} px")]
    TooLarge { width: u32, height: u32 },
}

/// The picture `bytes` hold, or why they hold none the shop serves.
pub fn recognise(bytes: &[u8]) -> Result<Picture, Refused> {
    let (format, (width, height)) = if bytes.starts_with(PNG_SIGNATURE) {
        (Format::Png, png(bytes)?)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        (Format::Jpeg, jpeg(bytes)?)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        (Format::Webp, webp(bytes)?)
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        (Format::Avif, avif(bytes)?)
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

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let word = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([word[0], word[1]]))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let word = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([word[0], word[1]]))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], 0]))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

/// `IHDR` first, then chunks of four-letter types until `IEND`, which ends the file.
fn png(bytes: &[u8]) -> Result<(u32, u32), Refused> {
    const BROKEN: Refused = Refused::NotAPicture("a broken PNG");
    let mut at = PNG_SIGNATURE.len();
    if be32(bytes, at) != Some(13) || bytes.get(at + 4..at + 8) != Some(b"IHDR") {
        return Err(BROKEN);
    }
    let width = be32(bytes, at + 8).ok_or(BROKEN)?;
    let height = be32(bytes, at + 12).ok_or(BROKEN)?;
    loop {
        let length = usize::try_from(be32(bytes, at).ok_or(BROKEN)?).map_err(|_| BROKEN)?;
        let kind = bytes.get(at + 4..at + 8).ok_or(BROKEN)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(BROKEN);
        }
        let end = (at + 12).checked_add(length).ok_or(BROKEN)?;
        if end > bytes.len() {
            return Err(BROKEN);
        }
        if kind == b"IEND" {
            return if end == bytes.len() {
                Ok((width, height))
            } else {
                Err(Refused::NotAPicture("bytes after the PNG's end"))
            };
        }
        at = end;
    }
}

/// Segments from `SOI` to `EOI`, which ends the file; the frame header (`SOFn`) gives the size.
fn jpeg(bytes: &[u8]) -> Result<(u32, u32), Refused> {
    const BROKEN: Refused = Refused::NotAPicture("a broken JPEG");
    let mut size = None;
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return Err(BROKEN);
        }
        // Any number of 0xFF may pad before a marker.
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at + 1).ok_or(BROKEN)?;
        at += 2;
        match marker {
            0xD9 => {
                return match size {
                    Some(size) if at == bytes.len() => Ok(size),
                    Some(_) => Err(Refused::NotAPicture("bytes after the JPEG's end")),
                    None => Err(BROKEN),
                }
            }
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let length = usize::from(be16(bytes, at).ok_or(BROKEN)?);
        let end = at + length;
        if length < 2 || end > bytes.len() {
            return Err(BROKEN);
        }
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = be16(bytes, at + 3).ok_or(BROKEN)?;
            let width = be16(bytes, at + 5).ok_or(BROKEN)?;
            size = Some((u32::from(width), u32::from(height)));
        }
        at = end;
        if marker == 0xDA {
            if size.is_none() {
                return Err(BROKEN);
            }
            at = after_entropy_coded_data(bytes, at).ok_or(BROKEN)?;
        }
    }
}

/// Where the marker after a scan's entropy-coded data starts: the first 0xFF not followed by a
/// stuffed zero or a restart marker.
fn after_entropy_coded_data(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

/// The RIFF size is the file's; chunks tile it; the first is `VP8 `, `VP8L` or `VP8X`.
fn webp(bytes: &[u8]) -> Result<(u32, u32), Refused> {
    const BROKEN: Refused = Refused::NotAPicture("a broken WebP");
    let riff = usize::try_from(le32(bytes, 4).ok_or(BROKEN)?).map_err(|_| BROKEN)?;
    if riff.checked_add(8) != Some(bytes.len()) {
        return Err(BROKEN);
    }
    let mut at = 12;
    let mut size = None;
    while at < bytes.len() {
        let kind = bytes.get(at..at + 4).ok_or(BROKEN)?;
        let length = usize::try_from(le32(bytes, at + 4).ok_or(BROKEN)?).map_err(|_| BROKEN)?;
        let data = at + 8;
        let end = data.checked_add(length).ok_or(BROKEN)?;
        let padded = end + (length & 1);
        if padded > bytes.len() {
            return Err(BROKEN);
        }
        if at == 12 {
            size = Some(match kind {
                b"VP8X" => (
                    le24(bytes, data + 4).ok_or(BROKEN)? + 1,
                    le24(bytes, data + 7).ok_or(BROKEN)? + 1,
                ),
                b"VP8 " => {
                    if bytes.get(data + 3..data + 6) != Some(&[0x9D, 0x01, 0x2A]) {
                        return Err(BROKEN);
                    }
                    (
                        u32::from(le16(bytes, data + 6).ok_or(BROKEN)? & 0x3FFF),
                        u32::from(le16(bytes, data + 8).ok_or(BROKEN)? & 0x3FFF),
                    )
                }
                b"VP8L" => {
                    if bytes.get(data) != Some(&0x2F) {
                        return Err(BROKEN);
                    }
                    let bits = le32(bytes, data + 1).ok_or(BROKEN)?;
                    ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
                }
                _ => return Err(BROKEN),
            });
        }
        at = padded;
    }
    size.ok_or(BROKEN)
}

/// ISO base media boxes tile the file; `ftyp` names an AVIF brand; the largest image spatial
/// extent (`ispe`) under `meta/iprp/ipco` gives the size; the coded data (`mdat`) is there.
fn avif(bytes: &[u8]) -> Result<(u32, u32), Refused> {
    const BROKEN: Refused = Refused::NotAPicture("a broken AVIF");
    let boxes = children(bytes).ok_or(BROKEN)?;
    let (kind, ftyp) = boxes.first().ok_or(BROKEN)?;
    let brands = ftyp.get(8..).unwrap_or_default();
    let avif_brand = |brand: &[u8]| brand == b"avif" || brand == b"avis";
    if kind != b"ftyp"
        || !(ftyp.get(..4).is_some_and(avif_brand) || brands.chunks(4).any(avif_brand))
    {
        return Err(Refused::NotAPicture("an ISO media file that is not AVIF"));
    }
    if !boxes.iter().any(|(kind, _)| kind == b"mdat") {
        return Err(BROKEN);
    }
    let meta = boxes
        .iter()
        .find(|(kind, _)| kind == b"meta")
        .ok_or(BROKEN)?
        .1;
    // `meta` is a full box: version and flags come before its children.
    let meta = children(meta.get(4..).ok_or(BROKEN)?).ok_or(BROKEN)?;
    let iprp = meta
        .iter()
        .find(|(kind, _)| kind == b"iprp")
        .ok_or(BROKEN)?
        .1;
    let iprp = children(iprp).ok_or(BROKEN)?;
    let ipco = iprp
        .iter()
        .find(|(kind, _)| kind == b"ipco")
        .ok_or(BROKEN)?
        .1;
    children(ipco)
        .ok_or(BROKEN)?
        .iter()
        .filter(|(kind, _)| kind == b"ispe")
        .filter_map(|(_, ispe)| Some((be32(ispe, 4)?, be32(ispe, 8)?)))
        .max_by_key(|&(width, height)| u64::from(width) * u64::from(height))
        .ok_or(BROKEN)
}

/// The boxes that tile `bytes` exactly, each as its type and contents; `None` when they do not.
fn children(bytes: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let size = be32(bytes, at)?;
        let kind: [u8; 4] = bytes.get(at + 4..at + 8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, bytes.len() - at),
            1 => {
                let high = u64::from(be32(bytes, at + 8)?);
                let low = u64::from(be32(bytes, at + 12)?);
                (16, usize::try_from((high << 32) | low).ok()?)
            }
            size => (8, usize::try_from(size).ok()?),
        };
        let end = at.checked_add(size)?;
        if size < header || end > bytes.len() {
            return None;
        }
        boxes.push((kind, &bytes[at + header..end]));
        at = end;
    }
    Some(boxes)
}

#[cfg(test)]
pub mod samples {
    //! Smallest well-formed files of each format, built by hand, for the tests.

    /// A PNG of `width` x `height` (IHDR, an empty IDAT, IEND; CRCs are not checked).
    pub fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = super::PNG_SIGNATURE.to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            bytes.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
            bytes.extend_from_slice(kind);
            bytes.extend_from_slice(data);
            bytes.extend_from_slice(&[0; 4]);
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &[0x78, 0x9C]);
        chunk(b"IEND", &[]);
        bytes
    }

    /// A JPEG of `width` x `height`: SOI, SOF0, SOS with a few coded bytes, EOI.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8];
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&[1, 1, 0x11, 0]);
        bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0]);
        bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        bytes
    }

    /// A lossless WebP (`VP8L`) of `width` x `height`.
    pub fn webp(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        let mut data = vec![0x2F];
        data.extend_from_slice(&bits.to_le_bytes());
        data.push(0);
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&(4 + 8 + u32::try_from(data.len()).unwrap()).to_le_bytes());
        bytes.extend_from_slice(b"WEBPVP8L");
        bytes.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(&data);
        bytes
    }

    fn boxed(kind: &[u8], contents: &[u8]) -> Vec<u8> {
        let mut bytes = (8 + u32::try_from(contents.len()).unwrap())
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(contents);
        bytes
    }

    /// An AVIF of `width` x `height`: ftyp, meta/iprp/ipco/ispe, mdat.
    pub fn avif(width: u32, height: u32) -> Vec<u8> {
        let mut ispe = vec![0; 4];
        ispe.extend_from_slice(&width.to_be_bytes());
        ispe.extend_from_slice(&height.to_be_bytes());
        let ipco = boxed(b"ipco", &boxed(b"ispe", &ispe));
        let iprp = boxed(b"iprp", &ipco);
        let mut meta = vec![0; 4];
        meta.extend_from_slice(&iprp);
        let mut bytes = boxed(b"ftyp", b"avif\0\0\0\0mif1avif");
        bytes.extend_from_slice(&boxed(b"meta", &meta));
        bytes.extend_from_slice(&boxed(b"mdat", &[1, 2, 3]));
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_told_by_its_bytes_with_its_size() {
        let cases = [
            (samples::png(640, 480), Format::Png),
            (samples::jpeg(640, 480), Format::Jpeg),
            (samples::webp(640, 480), Format::Webp),
            (samples::avif(640, 480), Format::Avif),
        ];
        for (bytes, format) in cases {
            let picture = recognise(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(
                (picture.format, picture.width, picture.height),
                (format, 640, 480)
            );
        }
    }

    #[test]
    fn anything_else_is_not_a_picture() {
        let not_pictures: [&[u8]; 5] = [
            b"",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<!doctype html><html><script>alert(1)</script></html>",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
            b"RIFF\x04\x00\x00\x00WEBP",
        ];
        for bytes in not_pictures {
            assert!(
                matches!(recognise(bytes), Err(Refused::NotAPicture(_))),
                "{bytes:?}"
            );
        }
        let mut png_then_html = PNG_SIGNATURE.to_vec();
        png_then_html.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert!(matches!(
            recognise(&png_then_html),
            Err(Refused::NotAPicture(_))
        ));
        let mut whole_png_then_html = samples::png(10, 10);
        whole_png_then_html.extend_from_slice(b"<html></html>");
        assert!(matches!(
            recognise(&whole_png_then_html),
            Err(Refused::NotAPicture(_))
        ));
    }

    #[test]
    fn a_truncated_file_is_not_a_picture() {
        for whole in [
            samples::png(64, 64),
            samples::jpeg(64, 64),
            samples::webp(64, 64),
            samples::avif(64, 64),
        ] {
            for cut in 1..whole.len() {
                assert!(
                    recognise(&whole[..cut]).is_err(),
                    "{:?} cut at {cut}",
                    &whole[..8]
                );
            }
        }
    }

    #[test]
    fn sides_over_the_bound_are_refused_without_decoding() {
        assert!(recognise(&samples::png(MAX_SIDE, MAX_SIDE)).is_ok());
        let wide = recognise(&samples::png(MAX_SIDE + 1, 10));
        assert_eq!(
            wide,
            Err(Refused::TooLarge {
                width: MAX_SIDE + 1,
                height: 10
            })
        );
        assert!(matches!(
            recognise(&samples::jpeg(20_000, 10)),
            Err(Refused::TooLarge { .. })
        ));
        assert!(matches!(
            recognise(&samples::webp(10, 9_000)),
            Err(Refused::TooLarge { .. })
        ));
        assert!(matches!(
            recognise(&samples::avif(65_000, 65_000)),
            Err(Refused::TooLarge { .. })
        ));
        assert!(matches!(
            recognise(&samples::png(0, 10)),
            Err(Refused::NotAPicture(_))
        ));
    }
}
