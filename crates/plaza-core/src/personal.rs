//! Personal data in free text: phone numbers (Spanish, international, UK-style), e-mail
//! addresses, identity-card numbers and a person's own name, masked before a text is
//! shown to anyone but the people who may see the report whole.

use crate::text::fold;

/// What a masked piece of text is replaced with.
pub const MASK: &str = "•••";

/// Masks phone numbers, e-mail addresses, identity-card numbers (DNI/NIE), long digit
/// runs (IBAN, account numbers) and the words of `names` (e.g. the reporter's display
/// name) in `text`.
pub fn mask(text: &str, names: &[&str]) -> String {
    let t = mask_emails(text);
    let t = mask_phones(&t);
    let t = mask_ids(&t);
    mask_names(&t, names)
}

/// True if `text` holds something [`mask`] would hide (with no names).
pub fn has_personal_data(text: &str) -> bool {
    mask(text, &[]) != text
}

fn is_email_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            // Local part before, domain with a dot after.
            let mut s = out.chars().rev().take_while(|c| is_email_char(*c)).count();
            let mut e = i + 1;
            while e < chars.len() && is_email_char(chars[e]) {
                e += 1;
            }
            let domain: String = chars[i + 1..e].iter().collect();
            let domain = domain.trim_end_matches('.');
            if s > 0 && domain.contains('.') && !domain.starts_with('.') {
                while s > 0 {
                    out.pop();
                    s -= 1;
                }
                out.push_str(MASK);
                // Keep a sentence's final dot.
                let used = i + 1 + domain.chars().count();
                i = used;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Digit groups joined by single separators (space, dot, dash, brackets), optionally
/// after a `+`: a phone number when they hold 9 digits or more.
fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c.is_ascii_digit()
            || (c == '+' || c == '(') && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        // Collect groups.
        let mut j = i;
        let mut groups: Vec<(usize, usize)> = Vec::new(); // (start, end) of digit groups
        if matches!(chars[j], '+' | '(') {
            j += 1;
        }
        loop {
            let gs = j;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j == gs {
                break;
            }
            groups.push((gs, j));
            // A single separator (or ") " / " (") followed by a digit continues the number.
            let mut k = j;
            let mut seps = 0;
            while k < chars.len() && matches!(chars[k], ' ' | '.' | '-' | '(' | ')') && seps < 2 {
                k += 1;
                seps += 1;
            }
            if seps > 0 && k < chars.len() && chars[k].is_ascii_digit() {
                j = k;
            } else {
                break;
            }
        }
        let digits = |gs: &[(usize, usize)]| gs.iter().map(|(s, e)| e - s).sum::<usize>();
        let plus = c == '+';
        // "calle Real 14 600123456": a short house number before a whole phone number
        // is not part of it.
        let mut first = 0;
        while !plus
            && groups.len() - first > 1
            && groups[first].1 - groups[first].0 <= 3
            && digits(&groups[first + 1..]) >= 9
        {
            first += 1;
        }
        let total = digits(&groups[first..]);
        let (gs, ge) = (groups[first].0, groups[groups.len() - 1].1);
        let followed_by_letter = chars.get(ge).is_some_and(|c| c.is_alphabetic());
        if total >= 9 && !followed_by_letter {
            let start = if first == 0 { i } else { gs };
            out.extend(&chars[i..start]);
            out.push_str(MASK);
            i = ge;
        } else {
            out.extend(&chars[i..ge.max(i + 1)]);
            i = ge.max(i + 1);
        }
    }
    out
}

/// Spanish DNI (8 digits and a letter) and NIE (X/Y/Z, 7 digits, a letter).
fn mask_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (k, tok) in text.split_inclusive(|c: char| !c.is_alphanumeric()).enumerate() {
        let _ = k;
        let word: &str = tok.trim_end_matches(|c: char| !c.is_alphanumeric());
        let rest = &tok[word.len()..];
        let b = word.as_bytes();
        let dni = b.len() == 9 && b[..8].iter().all(u8::is_ascii_digit) && b[8].is_ascii_alphabetic();
        let nie = b.len() == 9
            && matches!(b[0].to_ascii_uppercase(), b'X' | b'Y' | b'Z')
            && b[1..8].iter().all(u8::is_ascii_digit)
            && b[8].is_ascii_alphabetic();
        if dni || nie {
            out.push_str(MASK);
        } else {
            out.push_str(word);
        }
        out.push_str(rest);
    }
    out
}

fn mask_names(text: &str, names: &[&str]) -> String {
    let targets: Vec<String> = names
        .iter()
        .flat_map(|n| n.split(|c: char| !c.is_alphabetic()))
        .filter(|w| w.chars().count() >= 3)
        .map(fold)
        .collect();
    if targets.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            if targets.contains(&fold(word)) {
                out.push_str(MASK);
            } else {
                out.push_str(word);
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(mask("Mi móvil 600123456", &[]), "Mi móvil •••");
        assert_eq!(mask("llamad al 600 12 34 56 por favor", &[]), "llamad al ••• por favor");
        assert_eq!(mask("tel. 958-123-456.", &[]), "tel. •••.");
        assert_eq!(mask("+34 600 123 456", &[]), "•••");
        assert_eq!(mask("call 07700 900123 or (020) 7946 0958", &[]), "call ••• or •••");
        assert_eq!(mask("ring +44 20 7946 0958 now", &[]), "ring ••• now");
        assert_eq!(mask("calle Real 14 600123456", &[]), "calle Real 14 •••");
        assert_eq!(mask("calle Real 14, 2º B", &[]), "calle Real 14, 2º B");
        assert_eq!(mask("desde el 12/05/2026 a las 14:00", &[]), "desde el 12/05/2026 a las 14:00");
        assert_eq!(mask("Harbour Road 12", &[]), "Harbour Road 12");
        assert_eq!(mask("IBAN ES91 2100 0418 4502 0005 1332", &[]), "IBAN ES91 •••");
    }

    #[test]
    fn emails_ids_names() {
        assert_eq!(mask("escribid a ana.garcia@correo.es.", &[]), "escribid a •••.");
        assert_eq!(mask("me@home is not a mail", &[]), "me@home is not a mail");
        assert_eq!(mask("mi DNI 12345678Z", &[]), "mi DNI •••");
        assert_eq!(mask("NIE X1234567L ok", &[]), "NIE ••• ok");
        assert_eq!(mask("Soy Ana García, vivo aquí", &["Ana García"]), "Soy ••• •••, vivo aquí");
        assert_eq!(mask("soy ana", &["Ana"]), "soy •••");
        assert_eq!(mask("banana", &["Ana"]), "banana");
        assert!(has_personal_data("600123456"));
        assert!(!has_personal_data("la farola 5"));
    }
}
