//! What an attachment is, by its content: the first bytes (magic numbers, read with the
//! `infer` crate) and, for text, every byte.
//!
//! Only what is positively recognised as a plain document leaves as one: UTF-8 text, PDF, and
//! office documents (Word, Excel and PowerPoint, old and new, and OpenDocument). Recognised
//! audio, video and images are media. Anything else, an unknown or unrecognised binary (an
//! MPEG transport stream, a Core Audio file, a 3GPP or M4B file whose brand the table does not
//! know, an archive, UTF-16 text), is treated as media that shows both a voice and a face: the
//! most a file could reveal.
//!
//! Pure: the vault decrypts the first [`SNIFF_LEN`] bytes of each attachment and hands them
//! here; for what starts as text it feeds the rest through [`TextCheck`].

/// How many of an attachment's first bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 1024 * 1024;

/// What an attachment is, by its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// UTF-8 text throughout, without NUL or other control characters but white space.
    Text,
    /// A PDF or an office document.
    Document,
    Audio,
    Video,
    Photo,
    /// Nothing recognised.
    Unknown,
}

impl Content {
    /// For media (and anything unrecognised): what to call it, and whether it may show a
    /// voice and a face.
    pub fn media(self) -> Option<(&'static str, bool, bool)> {
        match self {
            Content::Audio => Some(("audio", true, false)),
            Content::Video => Some(("video", true, true)),
            Content::Photo => Some(("photo", false, true)),
            Content::Unknown => Some(("file of unrecognised type", true, true)),
            Content::Text | Content::Document => None,
        }
    }
}

/// What the first bytes of an attachment say it is. `complete` says whether `head` is the
/// whole attachment; when it is not, `Text` means only that the head is text, and the rest
/// must pass [`TextCheck`] too.
pub fn sniff(head: &[u8], complete: bool) -> Content {
    if infer::is_video(head) {
        return Content::Video;
    }
    if infer::is_audio(head) {
        return Content::Audio;
    }
    if infer::is_image(head) {
        return Content::Photo;
    }
    use infer::{archive, doc, odf};
    let documents: [fn(&[u8]) -> bool; 10] = [
        archive::is_pdf,
        doc::is_doc,
        doc::is_docx,
        doc::is_xls,
        doc::is_xlsx,
        doc::is_ppt,
        doc::is_pptx,
        odf::is_odt,
        odf::is_ods,
        odf::is_odp,
    ];
    if documents.iter().any(|is| is(head)) {
        return Content::Document;
    }
    let mut text = TextCheck::default();
    text.feed(head);
    if (complete && text.finish()) || (!complete && text.ok) {
        Content::Text
    } else {
        Content::Unknown
    }
}

/// Checks, piece by piece, that bytes are UTF-8 text: valid UTF-8 (a character may be cut
/// between two pieces), no NUL, and no control character but tab, line feed, form feed and
/// carriage return.
pub struct TextCheck {
    ok: bool,
    /// The start of a character cut at the end of the last piece.
    carry: [u8; 4],
    carried: usize,
}

impl Default for TextCheck {
    fn default() -> Self {
        TextCheck {
            ok: true,
            carry: [0; 4],
            carried: 0,
        }
    }
}

impl TextCheck {
    pub fn feed(&mut self, mut piece: &[u8]) {
        if !self.ok {
            return;
        }
        // Complete a character cut at the end of the last piece.
        while self.carried > 0 {
            let Some((&b, rest)) = piece.split_first() else {
                return;
            };
            self.carry[self.carried] = b;
            self.carried += 1;
            piece = rest;
            match std::str::from_utf8(&self.carry[..self.carried]) {
                Ok(s) => {
                    self.ok = s.chars().all(allowed);
                    self.carried = 0;
                }
                Err(e) if e.error_len().is_none() && self.carried < 4 => {}
                Err(_) => {
                    self.ok = false;
                    return;
                }
            }
        }
        let (valid, cut) = match std::str::from_utf8(piece) {
            Ok(s) => (s, &[][..]),
            Err(e) if e.error_len().is_none() => {
                let (valid, cut) = piece.split_at(e.valid_up_to());
                let valid = std::str::from_utf8(valid).expect("valid up to here");
                (valid, cut)
            }
            Err(_) => {
                self.ok = false;
                return;
            }
        };
        if !valid.chars().all(allowed) {
            self.ok = false;
            return;
        }
        self.carry[..cut.len()].copy_from_slice(cut);
        self.carried = cut.len();
        self.carry[cut.len()..].fill(0);
    }

    /// Whether everything fed was text, ending on a whole character.
    pub fn finish(&self) -> bool {
        self.ok && self.carried == 0
    }
}

fn allowed(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_checked_across_pieces() {
        let text = "Айгүл said: ok\r\n\tend".as_bytes();
        for cut in 0..=text.len() {
            let mut check = TextCheck::default();
            check.feed(&text[..cut]);
            check.feed(&text[cut..]);
            assert!(check.finish(), "cut at {cut}");
        }
        for bad in [
            &b"a\0b"[..],
            b"\xff",
            b"a\x1bb",
            b"caf\xe9",
            "\u{85}".as_bytes(),
        ] {
            let mut check = TextCheck::default();
            check.feed(bad);
            assert!(!check.finish(), "{bad:?}");
        }
        let mut cut = TextCheck::default();
        cut.feed(&"ү".as_bytes()[..1]);
        assert!(!cut.finish());
    }

    #[test]
    fn content_decides_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.7\n", true), Content::Document);
        assert_eq!(sniff("plain text, Айгүл".as_bytes(), true), Content::Text);
        assert_eq!(
            sniff(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom", false),
            Content::Video
        );
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0", false),
            Content::Photo
        );
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\0\0", false), Content::Audio);
        // An MPEG transport stream, a Core Audio file: nothing known.
        assert_eq!(
            sniff(&[0x47, 0x40, 0x00, 0x10, 0xff], false),
            Content::Unknown
        );
        assert_eq!(sniff(b"caff\0\x01\0\0desc", false), Content::Unknown);
        assert_eq!(sniff(b"", true), Content::Text);
        assert_eq!(
            Content::Unknown.media(),
            Some(("file of unrecognised type", true, true))
        );
    }
}
