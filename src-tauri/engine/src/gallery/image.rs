//! Checking pictures (thumbnails and the gallery logo) and drawing the generated card.
//!
//! SECURITY: a picture is what its bytes say it is, never what its name or Content-Type
//! claims: the header is decoded (`imagesize`) and only PNG, JPEG, GIF and WebP pass, at
//! most [`MAX_BYTES`] and [`MAX_SIDE`] pixels a side. SVG (which can carry script) and
//! anything undecodable are refused. Pictures are later served with their checked type and
//! `X-Content-Type-Options: nosniff`.
//!
//! A picture must also be whole ([`complete`]): a PNG's chunks run to `IEND` and its image
//! data inflates to exactly the rows its header promises; a JPEG's scan ends with its
//! end-of-image marker, a GIF with its trailer, a WebP's RIFF chunk fits in the file. A file
//! cut short in an upload is refused rather than shown broken in the gallery. (Only PNG's
//! pixel data is inflated; the other formats' compressed data is not decoded.)
//!
//! The generated card is Porch's own SVG: every piece of text in it is escaped.

use crate::error::{Error, Result};
use crate::vocab::AppMode;

/// Largest picture, in bytes (10 MiB); larger is refused with 413.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Largest width or height, in pixels.
pub const MAX_SIDE: usize = 4096;

/// A picture that passed [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub mime: &'static str,
    /// Pixels.
    pub width: usize,
    /// Pixels.
    pub height: usize,
}

/// Checks a picture's bytes: type, size and dimensions. `what` names it in errors.
pub fn check(bytes: &[u8], what: &str) -> Result<Checked> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge(format!(
            "the {what} is {} bytes; the largest Porch takes is 10 MiB ({MAX_BYTES} bytes)",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(Error::Invalid(format!("the {what} is empty: send a PNG, JPEG, GIF or WebP image")));
    }
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") || text.trim_start().starts_with("<?xml") {
        return Err(Error::Invalid(format!(
            "the {what} is an SVG, which Porch does not take (it can carry script): send a PNG, JPEG, GIF or WebP image"
        )));
    }
    let mime = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => "image/png",
        Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
        Ok(imagesize::ImageType::Gif) => "image/gif",
        Ok(imagesize::ImageType::Webp) => "image/webp",
        Ok(other) => {
            return Err(Error::Invalid(format!("the {what} is a {other:?} image; Porch takes PNG, JPEG, GIF or WebP")))
        }
        Err(_) => {
            return Err(Error::Invalid(format!(
                "the {what} is not a picture Porch can read: send a PNG, JPEG, GIF or WebP image"
            )))
        }
    };
    let size = imagesize::blob_size(bytes).map_err(|e| {
        Error::Invalid(format!("the {what} looks like {mime} but its header cannot be read ({e}); is it cut short?"))
    })?;
    if size.width == 0 || size.height == 0 {
        return Err(Error::Invalid(format!("the {what} has no pixels ({}×{})", size.width, size.height)));
    }
    if size.width > MAX_SIDE || size.height > MAX_SIDE {
        return Err(Error::Invalid(format!(
            "the {what} is {}×{} pixels; the largest Porch takes is {MAX_SIDE} pixels a side",
            size.width, size.height
        )));
    }
    complete(bytes, mime, size.width, size.height).map_err(|why| {
        Error::Invalid(format!("the {what} is not a whole {mime} picture ({why}); was the file cut short?"))
    })?;
    Ok(Checked { mime, width: size.width, height: size.height })
}

/// Whether a picture of a known type and size is whole (see the module's comment); the
/// reason when not.
fn complete(b: &[u8], mime: &str, width: usize, height: usize) -> std::result::Result<(), String> {
    match mime {
        "image/png" => png_complete(b, width, height),
        "image/jpeg" => {
            let scan = b.windows(2).position(|w| w == [0xFF, 0xDA]).ok_or("no image data")?;
            match b.windows(2).rposition(|w| w == [0xFF, 0xD9]) {
                Some(end) if end > scan => Ok(()),
                _ => Err("no end-of-image marker".into()),
            }
        }
        "image/gif" => match b.iter().rposition(|&x| x != 0).map(|i| b[i]) {
            Some(0x3B) => Ok(()),
            _ => Err("no trailer".into()),
        },
        "image/webp" => {
            let riff = b.get(4..8).map(|n| u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize);
            match riff {
                Some(n) if n.saturating_add(8) <= b.len() => Ok(()),
                _ => Err(format!("its RIFF chunk says {} bytes, the file has {}", riff.unwrap_or(0) + 8, b.len())),
            }
        }
        _ => Ok(()),
    }
}

/// A PNG's chunks, in bounds up to `IEND`, and its image data inflating to the bytes its
/// header's rows take (each pass of an interlaced one).
fn png_complete(b: &[u8], width: usize, height: usize) -> std::result::Result<(), String> {
    use std::io::Read as _;
    let (mut at, mut header, mut data, mut ended) = (8, None, Vec::new(), false);
    while !ended {
        let len = b.get(at..at + 4).ok_or("its chunks stop before IEND")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = at.checked_add(12 + len).filter(|&e| e <= b.len()).ok_or("a chunk runs past the end of the file")?;
        let body = &b[at + 8..at + 8 + len];
        match &b[at + 4..at + 8] {
            b"IHDR" if len >= 13 => header = Some((body[8], body[9], body[12])),
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => ended = true,
            _ => {}
        }
        at = end;
    }
    let (depth, colour, interlace) = header.ok_or("no IHDR chunk")?;
    let channels = match colour {
        0 | 3 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        other => return Err(format!("colour type {other} is not PNG's")),
    };
    let bits = channels * usize::from(depth);
    let rows = |w: usize, h: usize| if w == 0 || h == 0 { 0 } else { h * (1 + (w * bits).div_ceil(8)) };
    let expected: usize = if interlace == 0 {
        rows(width, height)
    } else {
        // Adam7: seven passes, each a smaller image with rows of its own.
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            .iter()
            .map(|&(x0, y0, dx, dy)| {
                rows(width.saturating_sub(x0).div_ceil(dx), height.saturating_sub(y0).div_ceil(dy))
            })
            .sum()
    };
    let mut inflated = 0u64;
    let mut decoder = flate2::read::ZlibDecoder::new(data.as_slice()).take(expected as u64 + 1);
    let mut buf = [0u8; 8192];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => inflated += n as u64,
            Err(e) => return Err(format!("its image data does not inflate: {e}")),
        }
    }
    if inflated != expected as u64 {
        return Err(format!("its image data holds {inflated} bytes of rows, its header promises {expected}"));
    }
    Ok(())
}

/// Escapes text for XML/HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A stable hue for an item (its guid), so its card keeps its colour.
pub fn hue_of(key: &str) -> u32 {
    key.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 360
}

/// A short glyph for a kind of content, drawn on its card.
pub fn kind_glyph(app_mode: &AppMode, category: &str) -> &'static str {
    match (app_mode, category) {
        (AppMode::Static, "pin") => "PIN",
        (AppMode::Static, _) => "WEB",
        (AppMode::JupyterStatic, _) => "NB",
        (AppMode::QuartoStatic, _) => "QMD",
        (AppMode::RmdStatic, _) => "RMD",
        (AppMode::PythonFastapi | AppMode::PythonApi | AppMode::Api, _) => "API",
        (m, _) if crate::runtimes::is_interactive(m) => "APP",
        _ => "•",
    }
}

/// The generated card of an item without a picture: its colour, a type glyph, its title and
/// what kind of content it is, as a 400×225 SVG.
pub fn card_svg(key: &str, title: &str, kind: &str, glyph: &str) -> String {
    let hue = hue_of(key);
    let short: String = title.chars().take(28).collect();
    let short = if title.chars().count() > 28 { format!("{short}…") } else { short };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 400 225\" role=\"img\" aria-label=\"{label}\">\
         <rect width=\"400\" height=\"225\" fill=\"hsl({hue},45%,88%)\"/>\
         <rect x=\"24\" y=\"24\" width=\"88\" height=\"56\" rx=\"10\" fill=\"hsl({hue},45%,38%)\"/>\
         <text x=\"68\" y=\"61\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" font-size=\"22\" \
         font-weight=\"700\" fill=\"#fff\">{glyph}</text>\
         <text x=\"24\" y=\"150\" font-family=\"system-ui,sans-serif\" font-size=\"24\" font-weight=\"650\" \
         fill=\"hsl({hue},45%,18%)\">{title}</text>\
         <text x=\"24\" y=\"185\" font-family=\"system-ui,sans-serif\" font-size=\"16\" \
         fill=\"hsl({hue},30%,30%)\">{kind}</text></svg>",
        label = esc(&format!("{title} ({kind})")),
        glyph = esc(glyph),
        title = esc(&short),
        kind = esc(kind),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole PNG of `w`×`h` RGBA pixels (CRCs left at zero: Porch does not check them).
    fn png(w: u32, h: u32) -> Vec<u8> {
        use std::io::Write as _;
        let chunk = |b: &mut Vec<u8>, kind: &[u8], body: &[u8]| {
            b.extend_from_slice(&(body.len() as u32).to_be_bytes());
            b.extend_from_slice(kind);
            b.extend_from_slice(body);
            b.extend_from_slice(&[0; 4]);
        };
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(&mut b, b"IHDR", &ihdr);
        let rows = vec![0u8; (h * (1 + 4 * w)) as usize];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&rows).expect("deflate");
        chunk(&mut b, b"IDAT", &z.finish().expect("deflate"));
        chunk(&mut b, b"IEND", &[]);
        b
    }

    #[test]
    fn a_picture_cut_short_is_refused() {
        let whole = png(40, 30);
        check(&whole, "thumbnail").expect("a whole png");
        for cut in [whole.len() - 12, whole.len() - 20, 60] {
            let err = check(&whole[..cut], "thumbnail").expect_err("cut").to_string();
            assert!(err.contains("cut short"), "{cut}: {err}");
        }
        // A PNG whose rows are fewer than its header says (another picture's data).
        let mut lying = png(40, 30);
        let short = png(40, 10);
        lying.truncate(33);
        lying.extend_from_slice(&short[33..]);
        assert!(check(&lying, "thumbnail").expect_err("short rows").to_string().contains("promises"));

        // A 2×2 JPEG's markers: start, frame (the size), scan, end.
        let jpeg: &[u8] = &[
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x02, 0x00, 0x02, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01,
            0x03, 0x11, 0x01, 0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00, 0x00,
            0x00, 0xFF, 0xD9,
        ];
        assert_eq!(check(jpeg, "logo").expect("jpeg").width, 2);
        assert!(check(&jpeg[..jpeg.len() - 2], "logo").is_err(), "no end-of-image marker");
        let gif = b"GIF89a\x10\x00\x08\x00\x00\x00\x00;";
        assert!(check(&gif[..gif.len() - 1], "logo").is_err(), "no trailer");
        // A 3×2 WebP (VP8X) and the same cut short of what its RIFF header says.
        let mut webp = b"RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x01\x00\x00".to_vec();
        assert_eq!(check(&webp, "logo").expect("webp").width, 3);
        webp[4] = 0x40;
        assert!(check(&webp, "logo").is_err(), "RIFF longer than the file");
    }

    #[test]
    fn pictures_are_judged_by_their_bytes() {
        assert_eq!(
            check(&png(64, 32), "thumbnail").expect("png"),
            Checked { mime: "image/png", width: 64, height: 32 }
        );
        let gif = b"GIF89a\x10\x00\x08\x00\x00\x00\x00;";
        assert_eq!(check(gif, "thumbnail").expect("gif").mime, "image/gif");
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>x()</script></svg>";
        assert!(check(svg, "thumbnail").expect_err("svg").to_string().contains("SVG"));
        assert!(check(b"<svg onload=alert(1)>", "thumbnail").is_err());
        assert!(check(b"hello, not an image", "thumbnail").expect_err("text").to_string().contains("PNG"));
        assert!(check(b"", "thumbnail").is_err());
        let big = check(&png(5000, 10), "thumbnail").expect_err("wide").to_string();
        assert!(big.contains("4096"), "{big}");
        let mut huge = png(10, 10);
        huge.resize(MAX_BYTES + 1, 0);
        assert!(matches!(check(&huge, "thumbnail"), Err(Error::TooLarge(_))));
        assert!(check(&png(0, 10), "thumbnail").is_err());
    }

    #[test]
    fn the_card_escapes_its_text() {
        let svg = card_svg("g", "<script>alert(1)</script> & more", "Shiny app", "APP");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(hue_of("abc"), hue_of("abc"));
    }
}
