//! WebP: a RIFF file whose size is the file's, chunks tiling it, the first `VP8 ` (lossy),
//! `VP8L` (lossless) or `VP8X` (extended), each storing the size its own way.

use super::{
    refused::Refused,
    words::{le16, le24, le32},
};

/// The RIFF size is the file's; chunks tile it; the first is `VP8 `, `VP8L` or `VP8X`.
pub(super) fn read(bytes: &[u8]) -> Result<(u32, u32), Refused> {
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
