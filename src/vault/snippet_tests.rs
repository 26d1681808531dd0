//! The search matcher against the plain definition it speeds up: lowercase the whole text
//! with `str::to_lowercase`, find the lowercased term, and place the excerpt by counting the
//! characters before it.

use zeroize::Zeroizing;

use super::snippet::Matcher;

/// The matcher as `search` had it before any fast path: the reference.
fn reference(text: &str, needle: &str) -> Option<String> {
    if needle.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let first = lower[..lower.find(needle)?].chars().count();
    let len = needle.chars().count();
    let total = text.chars().count();
    let start = first.saturating_sub(40).min(total);
    let end = (first + len + 40).min(total);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let excerpt: String = text
        .chars()
        .skip(start)
        .take(end - start)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    out.push_str(excerpt.trim());
    if end < total {
        out.push('…');
    }
    Some(out)
}

fn check(text: &str, query: &str) -> Option<String> {
    let needle = query.to_lowercase();
    let got = Matcher::new(&needle)
        .snippet(text)
        .map(|s: Zeroizing<String>| s.as_str().to_owned());
    assert_eq!(
        got,
        reference(text, &needle),
        "query {query:?} in text {text:?}"
    );
    got
}

/// A deterministic stream of small numbers (no test may depend on chance).
struct Stream(u64);

impl Stream {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn ascii_matches_at_the_edges_and_in_any_case() {
    assert_eq!(
        check("lighthouse", "lighthouse").as_deref(),
        Some("lighthouse")
    );
    assert_eq!(
        check("LightHouse at the start", "LIGHTHOUSE").as_deref(),
        Some("LightHouse at the start")
    );
    let long = format!("{} the LIGHTHOUSE", "word ".repeat(30));
    assert_eq!(
        check(&long, "lighthouse").as_deref(),
        Some("…word word word word word word word  the LIGHTHOUSE")
    );
    assert!(check("lighthous", "lighthouse").is_none());
    assert!(check("ighthouse", "lighthouse").is_none());
    assert!(check("", "lighthouse").is_none());
    assert!(check("anything", "").is_none());
    // Overlapping candidates: the first full match wins.
    assert_eq!(check("aaab", "aab").as_deref(), Some("aaab"));
    assert_eq!(
        check("lilighthouse", "lighthouse").as_deref(),
        Some("lilighthouse")
    );
    let overlapping = format!("{}abababac", "x".repeat(100));
    assert!(check(&overlapping, "ababac").unwrap().ends_with("abababac"));
    // Whitespace becomes spaces: one line.
    assert_eq!(
        check("first\nthe\tharbour\r\nlast", "harbour").as_deref(),
        Some("first the harbour  last")
    );
}

#[test]
fn long_ascii_texts_match_across_every_chunk_border() {
    // Texts longer than the chunk the matcher lowercases at a time, with the term (in mixed
    // case) at every offset around the borders, at the very start and at the very end.
    let filler = "abcdefghij".repeat(2000);
    for term in ["x", "Lighthouse", "LiGhThOuSe-and-more-words"] {
        let n = term.len();
        let mut places: Vec<usize> = vec![0, filler.len() - n];
        for border in [4096usize, 2 * 4096 - n + 1, 3 * 4096 - 2 * (n - 1)] {
            places.extend(border.saturating_sub(n + 1)..border + 2);
        }
        for at in places {
            let mut text = filler.clone();
            text.replace_range(at..at + n, term);
            let found = check(&text, term).expect("found");
            assert!(found.contains(term), "{at}");
        }
    }
    // A term longer than half a chunk, and one that is not there.
    let term = "q".repeat(3000);
    let text = format!("{filler}{}{filler}", term.to_uppercase());
    assert!(check(&text, &term).is_some());
    assert!(check(&filler, "abcdefghik").is_none());
}

#[test]
fn non_ascii_texts_and_terms_give_what_lowercasing_gives() {
    let texts = [
        // Cyrillic, Uyghur (Arabic script), Kazakh, Turkish, Greek, German.
        "Свидетель сказал: ЛАГЕРЬ был за городом, лагерь охраняли.",
        "ئۇ ئادەم لاگېرغا ئېلىپ كېتىلدى، ئۇيغۇر تىلىدا سۆزلىدى",
        "Куәгер ЛАГЕРЬ туралы айтты",
        "İSTANBUL'da, Istanbul'da ve ıslak İzmir'de DİYARBAKIR",
        "ΟΔΟΣ ΣΟΦΙΑΣ και Σίσυφος",
        "STRASSE und Straße, ǅemal and ǄEMAL",
        "The \u{212A}elvin sign, then key and KEY",
        "ascii first, then İ and i̇ at the end: lighthouse",
        "e\u{301} and é and É",
    ];
    let queries = [
        "лагерь",
        "ЛАГЕРЬ",
        "лагер",
        "ئۇيغۇر",
        "لاگېرغا",
        "İstanbul",
        "istanbul",
        "ISTANBUL",
        "ı",
        "i",
        "i̇",
        "İ",
        "DİYARBAKIR",
        "σ",
        "Σ",
        "ς",
        "οδος",
        "ΟΔΟΣ",
        "straße",
        "STRASSE",
        "ǆemal",
        "ǅ",
        "key",
        "k",
        "\u{212A}",
        "lighthouse",
        "é",
        "É",
        "e",
        "\u{301}",
        "x",
        "",
    ];
    let mut found = 0;
    for text in texts {
        for query in queries {
            found += usize::from(check(text, query).is_some());
        }
    }
    // Not every pair is a miss.
    assert!(found > 30, "{found}");
    // What the excerpt shows of a non-ASCII text.
    assert_eq!(
        check("Свидетель сказал: ЛАГЕРЬ", "лагерь").as_deref(),
        Some("Свидетель сказал: ЛАГЕРЬ")
    );
    assert!(check("ASCII only", "лагерь").is_none());
    assert!(check("\u{212A}ey", "key").is_some());
    assert!(check("İstanbul", "i̇stanbul").is_some());
}

#[test]
fn generated_texts_agree_with_the_reference() {
    // Texts built from pieces in several scripts and cases, long enough to cross chunk
    // borders, searched for terms cut from other texts of the same kind.
    let pieces = [
        "light",
        "HOUSE",
        "Lighthouse ",
        "лагерь ",
        "ЛАГЕРЬ ",
        "ئۇيغۇر ",
        "İ",
        "ı",
        "I",
        "i",
        "Σ",
        "ς ",
        "\u{212A}",
        "key ",
        "\n",
        "\t",
        "a",
        "aa",
        "ab",
        "é",
        "straße ",
    ];
    let mut s = Stream(7);
    let text_of = |s: &mut Stream, ascii: bool, words: usize| {
        let mut text = String::new();
        for _ in 0..words {
            let piece = pieces[s.below(pieces.len())];
            if !ascii || piece.is_ascii() {
                text.push_str(piece);
            }
        }
        text
    };
    for round in 0..300 {
        let ascii = round % 2 == 0;
        let words = if round % 10 == 0 {
            2000
        } else {
            1 + round % 40
        };
        let text = text_of(&mut s, ascii, words);
        let other = text_of(&mut s, ascii, 6);
        let chars: Vec<char> = other.chars().collect();
        let from = s.below(chars.len().max(1));
        let to = (from + 1 + s.below(6)).min(chars.len());
        let query: String = chars.get(from..to).unwrap_or_default().iter().collect();
        check(&text, &query);
        // And terms cut from the text itself, in both cases.
        let chars: Vec<char> = text.chars().collect();
        if !chars.is_empty() {
            let from = s.below(chars.len());
            let to = (from + 1 + s.below(8)).min(chars.len());
            let query: String = chars[from..to].iter().collect();
            check(&text, &query.to_uppercase());
            check(&text, &query);
        }
    }
}
