//! PNG: the signature, `IHDR` first (which holds the size), then chunks until `IEND`, which
//! must end the file, so a PNG header followed by anything else is refused.

use super::{refused::Refused, words::be32};

/// The eight bytes every PNG starts with.
pub(super) const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `IHDR` first, then chunks of four-letter types until `IEND`, which ends the file.
pub(super) fn read(bytes: &[u8]) -> Result<(u32, u32), Refused> {
    const BROKEN: Refused = Refused::NotAPicture("a broken PNG");
    let mut at = SIGNATURE.len();
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
