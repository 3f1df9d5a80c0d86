//! JPEG: segments from `SOI` to `EOI`, which must end the file, stepping over each scan's
//! entropy-coded data; the frame header (`SOFn`) holds the size.

use super::{refused::Refused, words::be16};

/// Start of image, then the first marker's 0xFF: how every JPEG begins.
pub(super) const START: &[u8] = &[0xFF, 0xD8, 0xFF];

/// Segments from `SOI` to `EOI`, which ends the file; the frame header (`SOFn`) gives the size.
pub(super) fn read(bytes: &[u8]) -> Result<(u32, u32), Refused> {
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
