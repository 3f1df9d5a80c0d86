//! Pictures for the tests, made here: a real PNG any browser decodes (drawn row by row and
//! deflated with `flate2`), and the smallest well-formed JPEG, WebP and AVIF files the edge
//! recognises by their structure (it never decodes them).

use std::io::Write;

use flate2::{write::ZlibEncoder, Compression, Crc};

/// A `width` x `height` PNG filled with a vertical gradient from `top` to `bottom` (RGB).
pub fn png(width: u32, height: u32, top: [u8; 3], bottom: [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity((height * (width * 3 + 1)) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        let mix = |a: u8, b: u8| {
            let t = f64::from(y) / f64::from(height.max(2) - 1);
            (f64::from(a) * (1.0 - t) + f64::from(b) * t).round() as u8
        };
        let pixel = [
            mix(top[0], bottom[0]),
            mix(top[1], bottom[1]),
            mix(top[2], bottom[2]),
        ];
        for _ in 0..width {
            raw.extend_from_slice(&pixel);
        }
    }
    let mut deflate = ZlibEncoder::new(Vec::new(), Compression::best());
    deflate.write_all(&raw).expect("deflate in memory");
    let idat = deflate.finish().expect("deflate in memory");

    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut bytes, b"IHDR", &ihdr);
    chunk(&mut bytes, b"IDAT", &idat);
    chunk(&mut bytes, b"IEND", &[]);
    bytes
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(
        &u32::try_from(data.len())
            .expect("small chunk")
            .to_be_bytes(),
    );
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A JPEG of `width` x `height`: start, frame header, one scan of a few coded bytes, end.
pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8];
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&[1, 1, 0x11, 0]);
    bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0]);
    bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0x56]);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// A lossless WebP header (`VP8L`) of `width` x `height`, `salt` making each one distinct.
pub fn webp(width: u32, height: u32, salt: u8) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14);
    let mut data = vec![0x2F];
    data.extend_from_slice(&bits.to_le_bytes());
    data.push(salt);
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(12 + u32::try_from(data.len()).expect("small")).to_le_bytes());
    bytes.extend_from_slice(b"WEBPVP8L");
    bytes.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

fn boxed(kind: &[u8], contents: &[u8]) -> Vec<u8> {
    let mut bytes = (8 + u32::try_from(contents.len()).expect("small"))
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(kind);
    bytes.extend_from_slice(contents);
    bytes
}

/// An AVIF's boxes for a `width` x `height` picture: `ftyp`, `meta/iprp/ipco/ispe`, `mdat`.
pub fn avif(width: u32, height: u32) -> Vec<u8> {
    let mut ispe = vec![0; 4];
    ispe.extend_from_slice(&width.to_be_bytes());
    ispe.extend_from_slice(&height.to_be_bytes());
    let ipco = boxed(b"ipco", &boxed(b"ispe", &ispe));
    let mut meta = vec![0; 4];
    meta.extend_from_slice(&boxed(b"iprp", &ipco));
    let mut bytes = boxed(b"ftyp", b"avif\0\0\0\0mif1avif");
    bytes.extend_from_slice(&boxed(b"meta", &meta));
    bytes.extend_from_slice(&boxed(b"mdat", &[1, 2, 3]));
    bytes
}

/// The lowercase hex SHA-256 of `bytes`: the name the edge stores them under.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
