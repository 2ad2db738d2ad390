//! Checking pictures (thumbnails and the gallery logo) and drawing the generated card.
//!
//! SECURITY: a picture is what its bytes say it is, never what its name or Content-Type
//! claims: the header is decoded (`imagesize`) and only PNG, JPEG, GIF and WebP pass, at
//! most [`MAX_BYTES`] and [`MAX_SIDE`] pixels a side. SVG (which can carry script) and
//! anything undecodable are refused. Pictures are later served with their checked type and
//! `X-Content-Type-Options: nosniff`.
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
    Ok(Checked { mime, width: size.width, height: size.height })
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

    /// The smallest valid PNG of `w`×`h` as far as a header reader is concerned.
    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
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
