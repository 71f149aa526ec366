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

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `text` safe to show on a terminal: control characters (C0, DEL, C1) and
/// the bidirectional overrides that reorder what a reader sees are written
/// as `\u{..}` escapes (`\n`, `\t` and `\r` as themselves escaped), so text
/// read from an artifact, a manifest or a registry cannot move the cursor,
/// retitle the window or hide characters. Everything else is unchanged.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    escaped(text, &[], false)
}

/// As [`escape`], for a block of text shown as it is laid out: newlines
/// and tabs stay, and so do the exact sequences in `keep` (the styles the
/// caller writes itself); every other control character is escaped.
pub fn escape_block<'a>(text: &'a str, keep: &[&str]) -> std::borrow::Cow<'a, str> {
    escaped(text, keep, true)
}

fn escaped<'a>(text: &'a str, keep: &[&str], layout: bool) -> std::borrow::Cow<'a, str> {
    let escapes = |c: char| needs_escape(c) && !(layout && (c == '\n' || c == '\t'));
    if !text.chars().any(escapes) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(style) = keep.iter().find(|k| !k.is_empty() && rest.starts_with(**k)) {
            out.push_str(style);
            rest = &rest[style.len()..];
            continue;
        }
        if escapes(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
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

    #[test]
    fn escape_block_keeps_layout_and_the_callers_own_styles() {
        use super::escape_block;
        let green = "\x1b[1m\x1b[32m";
        let reset = "\x1b[0m";
        let keep = [green, reset];
        let text = format!("{green}ok{reset} name\tEvil\x1b]0;owned\x07\x1b[2J\nnext");
        assert_eq!(
            escape_block(&text, &keep),
            format!("{green}ok{reset} name\tEvil\\u{{1b}}]0;owned\\u{{7}}\\u{{1b}}[2J\nnext")
        );
        assert_eq!(escape_block("plain\ntext", &keep), "plain\ntext");
        assert_eq!(escape_block("\x1b[8mhidden", &keep), "\\u{1b}[8mhidden");
    }
}
