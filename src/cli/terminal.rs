//! Untrusted text on its way to a terminal: titles, names, file names and statements could
//! carry escape sequences that rewrite the screen, or bidirectional controls that reorder it.
//! They are shown escaped, the way fd's `sanitize` does.

use std::borrow::Cow;

/// Escapes control characters and bidirectional overrides as `\u{…}`. With `keep_newlines`,
/// line feeds and tabs pass through (for statements shown as text).
pub fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        let allowed = keep_newlines && (c == '\n' || c == '\t');
        !allowed && (c.is_control() || is_bidi_control(c))
    };
    let escaped = text.chars().filter(|&c| unsafe_char(c)).count();
    if escaped == 0 {
        return Cow::Borrowed(text);
    }
    // Sized once (`\u{10ffff}` is the longest escape): a statement shown for review must not
    // leave copies behind in reallocated memory.
    let mut out = String::with_capacity(text.len() + escaped * 10);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_overrides() {
        assert_eq!(escape("plain title", false), "plain title");
        assert_eq!(escape("a\x1b[2Jb", false), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\u{202E}y", false), "x\\u{202e}y");
        assert_eq!(escape("line\nline", true), "line\nline");
        assert_eq!(escape("line\nline", false), "line\\u{a}line");
        assert_eq!(escape("Şöhret — 名前", false), "Şöhret — 名前");
    }
}
