//! Free text that people type (reasons, tickets, messages) ends up in emails, chat messages,
//! pages and logs. None of it may carry a character that changes how those are read: a line
//! break could plant a fake `Approve:` line in an email, an escape sequence could repaint a
//! terminal, a bidi override could make a link read as another. Such text is refused where it
//! enters (the API publishes the same rule as a pattern), and whatever reaches a rendering is
//! folded onto one line by [`one_line`] all the same.

/// The characters free text may not contain: C0 and C1 controls (line breaks, tab, NUL, escape,
/// DEL), the Unicode line and paragraph separators, and the bidirectional formatting characters.
pub fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// The first forbidden character, with its position (counted in characters from 1), if any.
pub fn forbidden_char(text: &str) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|(_, c)| is_forbidden(*c))
        .map(|(i, c)| (i + 1, c))
}

/// `text` with every forbidden character shown as `\u{…}`: one line, read as written.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_forbidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_escapes_and_bidi_overrides_are_caught_and_folded() {
        for bad in [
            "a\nb",
            "a\r",
            "\u{0}",
            "\u{1b}[31m",
            "\u{202e}txt.exe",
            "x\u{2028}y",
            "\u{85}",
        ] {
            assert!(forbidden_char(bad).is_some(), "{bad:?}");
            assert!(!one_line(bad).chars().any(is_forbidden), "{bad:?}");
        }
        assert_eq!(forbidden_char("ok \u{e9}\u{4e2d} 😀"), None);
        assert_eq!(forbidden_char("ab\nc"), Some((3, '\n')));
        assert_eq!(
            one_line("debug\nApprove: http://evil.example/"),
            "debug\\u{a}Approve: http://evil.example/"
        );
    }
}
