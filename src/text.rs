//! Small text helpers every presenter shares.

/// `1.2 KiB`-style sizes (binary units; bytes below 1 KiB exactly).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{size:.1} {}", UNITS[unit]) }
}

/// `text` safe to show on a terminal: control characters (C0, DEL, C1) and
/// the bidirectional overrides that reorder what a reader sees are written
/// as `\u{..}` escapes (`\n`, `\t` and `\r` as themselves escaped), so text
/// read from an artifact, a manifest or a registry cannot move the cursor,
/// retitle the window or hide characters. Everything else is unchanged.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_neutralises_terminal_sequences() {
        assert_eq!(escape("acme.demo"), "acme.demo");
        assert_eq!(escape("Grüße, 天気"), "Grüße, 天気");
        assert_eq!(escape("a\x1b]0;owned\x07b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(escape("line\nnext\r"), "line\\nnext\\r");
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\x7f"), "\\u{7f}");
    }
}
