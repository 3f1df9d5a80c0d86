//! AVIF: ISO base media boxes tiling the file, an `ftyp` naming an AVIF brand, the coded data
//! (`mdat`), and the size in the image spatial extents (`ispe`) under `meta/iprp/ipco`.

use super::{refused::Refused, words::be32};

/// ISO base media boxes tile the file; `ftyp` names an AVIF brand; the largest image spatial
/// extent (`ispe`) under `meta/iprp/ipco` gives the size; the coded data (`mdat`) is there.
pub(super) fn read(bytes: &[u8]) -> Result<(u32, u32), Refused> {
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
