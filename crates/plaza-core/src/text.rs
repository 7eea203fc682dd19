//! Text handling shared by the classifier, the command parser and plugins: cleaning what
//! came from outside, folding (lower case, no accents) and finding a street in free text.

/// Removes control characters (keeping newlines and tabs, which become spaces where they
/// would break a line protocol), collapses runs of blank space, trims.
pub fn clean(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut last_space = true;
    for ch in input.chars() {
        let ch = if ch == '\t' || ch == '\r' { ' ' } else { ch };
        if ch == '\n' {
            while out.ends_with(' ') {
                out.pop();
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            last_space = true;
            continue;
        }
        if ch.is_control() || is_invisible(ch) {
            continue;
        }
        if ch.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(ch);
            last_space = false;
        }
    }
    out.trim().to_owned()
}

/// Invisible or meaningless characters: zero-width and direction marks, and U+FFFD, what
/// invalid UTF-8 from a client becomes ("��" must not reach a public post).
fn is_invisible(ch: char) -> bool {
    matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFFD}')
}

/// Lower case without diacritics: "Farola Apagada, Calle Álamo" → "farola apagada, calle alamo".
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        // Most of what residents write is ASCII: lowercased as it is.
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        // Otherwise this character's canonical decomposition without its marks,
        // lowercased: the same as decomposing the whole text (marks are dropped, so their
        // reordering does not matter).
        unicode_normalization::char::decompose_canonical(c, |d| {
            if !unicode_normalization::char::is_combining_mark(d) {
                out.extend(d.to_lowercase());
            }
        });
    }
    out
}

/// Folded words: letters and digits, everything else separates.
/// Pictographs (💡, 🗑, 💧, 🐶) count as words of their own, so that a town can give
/// a category emoji keywords and an emoji-only report is understood.
pub fn words(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in fold(input).chars() {
        if c.is_alphanumeric() {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if is_pictograph(c) {
            out.push(c.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// [`words`] of a phrase of the town's config (a greeting, a "yes", an answer's
/// keyword), folded once per process instead of at every message that is compared
/// with it. Only for the config's phrases: what residents write is not kept.
pub fn phrase(p: &str) -> std::rc::Rc<[String]> {
    use std::cell::RefCell;
    use std::rc::Rc;
    /// A config has hundreds of phrases; past this, phrases are folded each time.
    const KEEP: usize = 20_000;
    // One cache per thread, with a fast hash: a message is compared with hundreds of
    // phrases, and a shared map (a lock and SipHash per phrase) was ~4 % of the engine.
    thread_local! {
        static FOLDED: RefCell<rustc_hash::FxHashMap<Box<str>, Rc<[String]>>> = RefCell::default();
    }
    FOLDED.with(|m| {
        if let Some(w) = m.borrow().get(p) {
            return w.clone();
        }
        let w: Rc<[String]> = words(p).into();
        let mut map = m.borrow_mut();
        if map.len() < KEEP {
            map.insert(p.into(), w.clone());
        }
        w
    })
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x1F300..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// Crude singular for Spanish and English plurals, enough for keyword matching:
/// farolas → farola, fugas → fuga, streetlights → streetlight, perros → perro.
pub fn stem(word: &str) -> &str {
    if word.len() > 4
        && let Some(s) = word.strip_suffix("es")
    {
        // "luces" → "luc" is not useful; only strip "es" after consonant clusters we know.
        if s.ends_with(['r', 'l', 'n', 'd']) && !s.ends_with("ll") {
            return s;
        }
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        return &word[..word.len() - 1];
    }
    word
}

/// True if `phrase` (already folded words) occurs in `text_words` as consecutive words,
/// comparing stems.
pub fn contains_phrase(text_words: &[String], phrase: &[String]) -> bool {
    if phrase.is_empty() || phrase.len() > text_words.len() {
        return false;
    }
    text_words.windows(phrase.len()).any(|w| w.iter().zip(phrase).all(|(a, b)| similar(a, b)))
}

/// Two folded words mean the same for matching: equal, the same stem, or — for words of
/// five letters or more that start alike — one typo apart ("farloa", "contenedro",
/// "stretlight"): a letter missing, added or two swapped; a changed letter only in
/// words of seven letters or more (in shorter ones it makes another word: "frente" is
/// not "fuente").
pub fn similar(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    // Words that start differently are different words (their stems too): most of the
    // classifier's comparisons end here, before anything is counted or allocated.
    if a.chars().next() != b.chars().next() {
        return false;
    }
    if stem(a) == stem(b) {
        return true;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la.min(lb) < 5 || la.abs_diff(lb) > 1 {
        return false;
    }
    let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    one_edit(&x, &y)
}

fn one_edit(x: &[char], y: &[char]) -> bool {
    let p = x.iter().zip(y).take_while(|(a, b)| a == b).count();
    match x.len().cmp(&y.len()) {
        std::cmp::Ordering::Equal => {
            // Two neighbours swapped, or (in a long word) one letter changed.
            (p + 1 < x.len() && x[p] == y[p + 1] && x[p + 1] == y[p] && x[p + 2..] == y[p + 2..])
                || (x.len() >= 7 && x[p + 1..] == y[p + 1..])
        }
        std::cmp::Ordering::Less => x[p..] == y[p + 1..],
        std::cmp::Ordering::Greater => x[p + 1..] == y[p..],
    }
}

const STREET_TYPES: &[&str] = &[
    "calle",
    "c",
    "cl",
    "avenida",
    "avda",
    "av",
    "plaza",
    "pza",
    "paseo",
    "camino",
    "carretera",
    "ctra",
    "travesia",
    "callejon",
    "ronda",
    "glorieta",
    "barrio",
    "urbanizacion",
    "cuesta",
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "lane",
    "square",
    "way",
    "drive",
    "boulevard",
];

const STOP_AFTER: &[&str] = &[
    "esta", "estan", "hay", "no", "que", "y", "desde", "lleva", "llevan", "se", "es", "porque", "junto", "frente",
    "al", "cerca", "is", "are", "has", "have", "and", "since", "near", "next", "opposite", "by", "there", "for", "it",
    "its", "esquina", "con",
];

/// Finds a street in free text: "la farola de la calle Alemania 5 está apagada" →
/// ("calle Alemania 5", key "calle alemania"). English word order ("Church Street 4",
/// "12 Church St") is found too.
pub fn find_street(text: &str) -> Option<(String, String)> {
    // Original tokens (with their spelling) and folded tokens, aligned; `ends[i]`: a
    // sentence ends after token i ("calle Mayor. Mi móvil…"), so a name stops there.
    let is_sep =
        |c: char| c.is_whitespace() || matches!(c, ',' | ';' | '.' | '!' | '?' | '(' | ')' | ':' | '"' | '«' | '»');
    let mut tokens: Vec<&str> = Vec::new();
    let mut ends: Vec<bool> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(|c: char| !is_sep(c)).unwrap_or(rest.len());
        if let Some(last) = ends.last_mut() {
            let gap = &rest[..start];
            let next_upper = rest[start..].chars().next().is_some_and(char::is_uppercase);
            *last = gap.contains(['!', '?', ';', '\n']) || (gap.contains('.') && next_upper);
        }
        rest = &rest[start..];
        if rest.is_empty() {
            break;
        }
        let end = rest.find(is_sep).unwrap_or(rest.len());
        tokens.push(&rest[..end]);
        ends.push(false);
        rest = &rest[end..];
    }
    let folded: Vec<String> = tokens.iter().map(|t| fold(t).trim_matches('/').to_owned()).collect();
    for (i, f) in folded.iter().enumerate() {
        let is_type = STREET_TYPES.contains(&f.as_str()) || (tokens[i].eq_ignore_ascii_case("c/"));
        if !is_type {
            continue;
        }
        let spanish = matches!(
            f.as_str(),
            "calle"
                | "c"
                | "cl"
                | "avenida"
                | "avda"
                | "av"
                | "plaza"
                | "pza"
                | "paseo"
                | "camino"
                | "carretera"
                | "ctra"
                | "travesia"
                | "callejon"
                | "ronda"
                | "glorieta"
                | "barrio"
                | "urbanizacion"
                | "cuesta"
        );
        if spanish {
            // "c" and "av" alone are too ambiguous unless written "c/" or followed by a capital.
            if (f == "c" || f == "av") && !tokens[i].contains('/') && !next_is_capital(&tokens, i) {
                continue;
            }
            let mut name = Vec::new();
            let mut j = i + 1;
            while j < tokens.len() && name.len() < 6 {
                let w = &folded[j];
                if STOP_AFTER.contains(&w.as_str()) {
                    break;
                }
                // "nº 5", "número 5": the number follows.
                if matches!(w.as_str(), "nº" | "n°" | "no" | "num" | "numero" | "n")
                    && number_of(folded.get(j + 1)).is_some()
                {
                    j += 1;
                    continue;
                }
                // Articles and "de" inside a name are kept ("plaza de la Constitución").
                name.push(j);
                j += 1;
                if number_of(Some(w)).is_some() || ends[j - 1] {
                    break;
                }
            }
            // Drop trailing articles.
            while let Some(&last) = name.last() {
                if matches!(folded[last].as_str(), "de" | "la" | "el" | "del" | "los" | "las") {
                    name.pop();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                continue;
            }
            let shown: Vec<&str> = std::iter::once(tokens[i]).chain(name.iter().map(|&k| tokens[k])).collect();
            let key_words: Vec<&str> =
                name.iter().map(|&k| folded[k].as_str()).filter(|w| number_of(Some(w)).is_none()).collect();
            if key_words.is_empty() {
                continue;
            }
            let key = format!("{} {}", canonical_type(f), key_words.join(" "));
            return Some((shown.join(" "), key));
        } else {
            // English: NAME... TYPE [NUMBER], or NUMBER NAME TYPE. Take up to 3 capitalised
            // words before the type.
            let mut start = i;
            while start > 0 && i - start < 3 {
                let t = tokens[start - 1];
                if t.chars().next().is_some_and(|c| c.is_uppercase()) {
                    start -= 1;
                } else {
                    break;
                }
            }
            if start == i {
                continue;
            }
            let number_before = start > 0 && folded[start - 1].chars().all(|c| c.is_ascii_digit());
            let number_after = i + 1 < tokens.len() && folded[i + 1].chars().all(|c| c.is_ascii_digit());
            let from = if number_before { start - 1 } else { start };
            let to = if number_after { i + 1 } else { i };
            let shown = tokens[from..=to].join(" ");
            let key = format!("{} {}", canonical_type(f), folded[start..i].join(" "));
            return Some((shown, key));
        }
    }
    None
}

/// A house number as written: "5", "nº5", "n°5" → "5".
fn number_of<S: AsRef<str>>(w: Option<S>) -> Option<String> {
    let w = w?;
    let w = w.as_ref();
    let digits = ["nº", "n°", "no", "n"].iter().find_map(|p| w.strip_prefix(p)).unwrap_or(w);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| digits.to_owned())
}

/// The house number at the end of a street as found by [`find_street`], if any.
pub fn house_number(street: &str) -> Option<String> {
    number_of(street.split_whitespace().last().map(fold))
}

fn next_is_capital(tokens: &[&str], i: usize) -> bool {
    tokens.get(i + 1).and_then(|t| t.chars().next()).is_some_and(char::is_uppercase)
}

fn canonical_type(t: &str) -> &str {
    match t {
        "c" | "cl" | "calle" => "calle",
        "avda" | "av" | "avenida" => "avenida",
        "pza" | "plaza" => "plaza",
        "ctra" | "carretera" => "carretera",
        "st" | "street" => "street",
        "ave" | "avenue" => "avenue",
        "rd" | "road" => "road",
        other => other,
    }
}

/// Cuts `s` to at most `max` characters, adding "…" when cut.
pub fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean("  hola\u{0007}  mundo \u{200B}"), "hola mundo");
        assert_eq!(clean("a\r\n\n\nb"), "a\nb");
        assert_eq!(clean("\u{0000}\u{001b}[31m"), "[31m");
        assert_eq!(clean(" \t "), "");
        assert_eq!(clean("calle Real 1 \u{FFFD}\u{FFFD}"), "calle Real 1");
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Farola APAGADA en Álamo, Ñu"), "farola apagada en alamo, nu");
        assert_eq!(words("¿Está   apagada?"), vec!["esta", "apagada"]);
        // Character by character, the same as decomposing the whole text first: composed
        // and decomposed accents, Arabic with its marks, Hangul, Greek, Cyrillic, emoji.
        use unicode_normalization::UnicodeNormalization;
        let reference = |t: &str| -> String {
            t.nfd()
                .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
                .flat_map(char::to_lowercase)
                .collect()
        };
        for t in [
            "Calle Álamo Ñ ü ç ÉÈÊË",
            "Cafe\u{301} calle\u{0323}\u{0301} a\u{0308}\u{0304}",
            "الإنارة مُطفأة في الشارع",
            "한국어 거리 ΣΟΦΊΑ Ὀδυσσεύς Ёлка İstanbul",
            "💡❌🗑️ ﬁ ǅ Ǆ ẞ",
        ] {
            assert_eq!(fold(t), reference(t), "{t}");
        }
    }

    #[test]
    fn stems() {
        assert_eq!(stem("farolas"), "farola");
        assert_eq!(stem("streetlights"), "streetlight");
        assert_eq!(stem("perros"), "perro");
        assert_eq!(stem("gas"), "gas");
        assert_eq!(stem("contenedores"), "contenedor");
    }

    #[test]
    fn emoji_are_words() {
        assert_eq!(words("💡❌ calle Real"), vec!["💡", "❌", "calle", "real"]);
        assert_eq!(words("🗑️🗑️"), vec!["🗑", "🗑"]);
    }

    #[test]
    fn typos() {
        assert!(similar("farloa", "farola"));
        assert!(similar("contenedro", "contenedor"));
        assert!(similar("stretlight", "streetlight"));
        assert!(similar("basuras", "basura"));
        assert!(!similar("puente", "fuente"), "a different first letter is another word");
        assert!(!similar("frente", "fuente"), "a changed letter in a short word is another word");
        assert!(similar("contenedir", "contenedor"));
        assert!(!similar("luz", "lux"), "short words must match exactly");
        assert!(!similar("farola", "farolillos"));
        assert!(contains_phrase(&words("la farloa de mi calle"), &words("farola")));
    }

    #[test]
    fn phrases() {
        let t = words("There is no light in the street light");
        assert!(contains_phrase(&t, &words("street light")));
        assert!(contains_phrase(&words("las farolas"), &words("farola")));
        assert!(!contains_phrase(&t, &words("light bulb")));
    }

    #[test]
    fn streets() {
        assert_eq!(
            find_street("La farola de la calle Alemania 5 está apagada"),
            Some(("calle Alemania 5".into(), "calle alemania".into()))
        );
        assert_eq!(
            find_street("fuga de agua en c/ Mayor, junto al bar"),
            Some(("c/ Mayor".into(), "calle mayor".into()))
        );
        assert_eq!(
            find_street("bache enorme en la Avenida de la Constitución 12"),
            Some(("Avenida de la Constitución 12".into(), "avenida de la constitucion".into()))
        );
        assert_eq!(
            find_street("The streetlight on Church Street 4 is out"),
            Some(("Church Street 4".into(), "street church".into()))
        );
        assert_eq!(find_street("la farola de mi casa está apagada"), None);
        assert_eq!(find_street("calle Mayor. Mi móvil 600123456"), Some(("calle Mayor".into(), "calle mayor".into())));
        // One street however it is written.
        for s in ["c/ real 5", "calle Real, 5", "C. Real nº5", "Calle Real nº 5"] {
            assert_eq!(find_street(s).map(|(_, k)| k), Some("calle real".to_owned()), "{s}");
        }
        assert_eq!(house_number("C Real nº5").as_deref(), Some("5"));
        assert_eq!(
            find_street("Avda. de la Constitución 3"),
            Some(("Avda de la Constitución 3".into(), "avenida de la constitucion".into()))
        );
        assert_eq!(find_street("calle"), None);
    }
}
