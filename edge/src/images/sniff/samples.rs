//! Smallest well-formed files of each format, built by hand, for the tests.

/// A PNG of `width` x `height` (IHDR, an empty IDAT, IEND; CRCs are not checked).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = super::png::SIGNATURE.to_vec();
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
