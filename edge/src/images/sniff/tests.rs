//! What is taken and what is refused, on hand-built files of each format.

use super::{png::SIGNATURE as PNG_SIGNATURE, recognise, samples, Format, Refused, MAX_SIDE};

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
