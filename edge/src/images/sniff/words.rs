//! Fixed-width integers read at an offset, big- and little-endian, as the formats' headers
//! store them: `None` past the end, so a truncated file is told apart, never a panic.

pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

pub(super) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let word = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([word[0], word[1]]))
}

pub(super) fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let word = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([word[0], word[1]]))
}

pub(super) fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], 0]))
}

pub(super) fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}
