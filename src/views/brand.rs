//! Branding: a description, a favicon and logo of the host's, and colours checked for contrast
//! (WCAG 2.x AA: 4.5:1 for text) before the dashboard is built.

/// What a page shows of the host's brand.
#[derive(Clone, Debug, Default)]
pub(crate) struct Brand {
    /// One paragraph on the login page and the overview.
    pub(crate) description: Option<String>,
    /// The MIME type of the favicon asset (`favicon`), ours or the host's.
    pub(crate) favicon_type: &'static str,
    /// True when the host gave a logo (served as the `logo` asset, shown in the sidebar and
    /// on the login page in place of the favicon).
    pub(crate) logo: bool,
}

/// Our own icon, no description, no logo.
#[cfg(test)]
pub(crate) static DEFAULT: Brand = Brand {
    description: None,
    favicon_type: "image/svg+xml",
    logo: false,
};

/// An image given as bytes: its type, sniffed from its first bytes.
pub(crate) fn image_type(bytes: &[u8]) -> Result<&'static str, String> {
    const MAX: usize = 256 * 1024;
    if bytes.is_empty() || bytes.len() > MAX {
        return Err(format!(
            "an image must be 1 byte to {} KiB; this one is {} bytes",
            MAX / 1024,
            bytes.len()
        ));
    }
    let head = &bytes[..bytes.len().min(256)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    Ok(if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0, 0, 1, 0]) {
        "image/x-icon"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if t.starts_with("<svg") || (t.starts_with("<?xml") && text.contains("<svg")) {
        "image/svg+xml"
    } else {
        return Err("an image must be PNG, ICO, GIF, JPEG, WebP or SVG".into());
    })
}

/// A colour written `#rgb` or `#rrggbb`, as 8-bit channels.
pub(crate) fn parse_hex(c: &str) -> Option<[u8; 3]> {
    let hex = c.trim().strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        3 => {
            let d: Vec<u8> = hex
                .chars()
                .filter_map(|ch| v(&format!("{ch}{ch}")))
                .collect();
            Some([d[0], d[1], d[2]])
        }
        6 => Some([v(&hex[0..2])?, v(&hex[2..4])?, v(&hex[4..6])?]),
        _ => None,
    }
}

/// Relative luminance (WCAG 2.x).
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let ch = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
}

/// Contrast ratio of two colours, 1 to 21.
pub(crate) fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// `a` mixed with `b`, `share` of `a` (CSS `color-mix(in srgb, a share, b)`).
fn mix(a: [u8; 3], share: f64, b: [u8; 3]) -> [u8; 3] {
    let m = |x: u8, y: u8| {
        let v = f64::from(x) * share + f64::from(y) * (1.0 - share);
        // In 0..=255 by construction.
        v.round().clamp(0.0, 255.0) as u8
    };
    [m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2])]
}

/// WCAG AA for normal text.
const AA: f64 = 4.5;

const WHITE: [u8; 3] = [255, 255, 255];
/// `--text` in the light theme.
const INK: [u8; 3] = [0x1d, 0x23, 0x2b];
/// The light theme's panel and page backgrounds, and the dark theme's panel (app.css).
const LIGHT_PANEL: [u8; 3] = [0xff, 0xff, 0xff];
const LIGHT_BG: [u8; 3] = [0xf6, 0xf7, 0xf9];
const DARK_PANEL: [u8; 3] = [0x17, 0x1c, 0x23];
const DARK_BG: [u8; 3] = [0x0f, 0x13, 0x18];

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The theme stylesheet for `accent` and an optional `sidebar` colour, or every pairing
/// that falls short of AA, each with its measured ratio.
pub(crate) fn theme(accent: &str, sidebar: Option<&str>) -> Result<String, Vec<String>> {
    checked_theme(accent, sidebar, true)
}

/// The theme stylesheet whatever the contrast (`allow_low_contrast`); colours are valid.
pub(crate) fn theme_unchecked(accent: &str, sidebar: Option<&str>) -> String {
    checked_theme(accent, sidebar, false).unwrap_or_default()
}

fn checked_theme(accent: &str, sidebar: Option<&str>, strict: bool) -> Result<String, Vec<String>> {
    let mut short = Vec::new();
    let mut css = String::new();
    let a = parse_hex(accent).ok_or_else(|| vec![format!("accent {accent:?} is not a colour")])?;
    let mut check = |what: String, ratio: f64| {
        if ratio < AA {
            short.push(format!("{what}: {ratio:.2}:1 (AA needs {AA}:1)"));
        }
    };
    check(
        format!("white text on the accent {accent}"),
        contrast(WHITE, a),
    );
    for (bg, name) in [(LIGHT_PANEL, "white"), (LIGHT_BG, "the light page")] {
        check(format!("accent {accent} links on {name}"), contrast(a, bg));
    }
    // Dark mode links are the accent tinted 40% towards white (app.css).
    let tint = mix(a, 0.4, WHITE);
    for (bg, name) in [(DARK_PANEL, "the dark panel"), (DARK_BG, "the dark page")] {
        check(
            format!("accent {accent} links (tinted {}) on {name}", hex(tint)),
            contrast(tint, bg),
        );
    }
    css.push_str(&format!(":root {{ --accent: {}; }}\n", hex(a)));
    if let Some(side) = sidebar {
        let s = parse_hex(side)
            .ok_or_else(|| vec![format!("sidebar colour {side:?} is not a colour")])?;
        // The sidebar's text is white or ink, whichever reads better; the current entry and
        // hover lay 12% of that text colour over the background.
        let ink = if contrast(WHITE, s) >= contrast(INK, s) {
            WHITE
        } else {
            INK
        };
        let muted = mix(ink, 0.78, s);
        let raised = mix(ink, 0.12, s);
        check(
            format!("sidebar text {} on {side}", hex(ink)),
            contrast(ink, s),
        );
        check(
            format!("sidebar icons {} on {side}", hex(muted)),
            contrast(muted, s),
        );
        check(
            format!("the current sidebar entry {} on {}", hex(ink), hex(raised)),
            contrast(ink, raised),
        );
        css.push_str(&format!(":root {{ --sidebar-bg: {}; }}\n", hex(s)));
        css.push_str(&format!(
            ".sidebar {{ --panel: {bg}; --text: {ink}; --muted: {muted}; --link: {ink}; --hover: {raised}; --line: {line}; --accent: {ink}; }}\n",
            bg = hex(s),
            ink = hex(ink),
            muted = hex(muted),
            raised = hex(raised),
            line = hex(mix(ink, 0.2, s)),
        ));
    }
    if short.is_empty() || !strict {
        Ok(css)
    } else {
        Err(short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_known_ratios() {
        assert!((contrast(WHITE, [0, 0, 0]) - 21.0).abs() < 1e-9);
        assert!((contrast(WHITE, WHITE) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1.
        let r = contrast([0x76; 3], WHITE);
        assert!((4.5..4.6).contains(&r), "{r}");
    }

    #[test]
    fn default_accent_passes_and_pale_ones_fail() {
        assert!(theme("#0b7285", None).is_ok());
        let err = theme("#ffd43b", None).unwrap_err();
        assert!(
            err[0].contains("white text on the accent #ffd43b"),
            "{err:?}"
        );
        assert!(theme("#0b7285", Some("#1e1b4b")).is_ok());
        assert!(theme("#0b7285", Some("#fff")).is_ok());
        // Mid grey: neither white nor ink reaches 4.5 on the raised entry.
        assert!(theme("#0b7285", Some("#808080")).is_err());
        assert!(theme("#0b7285", Some("red")).is_err());
    }

    #[test]
    fn images_are_sniffed() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest").unwrap(), "image/png");
        assert_eq!(image_type(b"<svg xmlns='x'/>").unwrap(), "image/svg+xml");
        assert_eq!(
            image_type(b"<?xml version='1.0'?><svg/>").unwrap(),
            "image/svg+xml"
        );
        assert!(image_type(b"<html><script>").is_err());
        assert!(image_type(b"").is_err());
        assert!(image_type(&vec![0u8; 300 * 1024]).is_err());
    }
}
