//! What a resident wrote, out of a mail: the new text without the quoted mail below it,
//! the signature or "Sent from my phone"; HTML reduced to text; photos kept; whether
//! the receiving server vouched for the sender (SPF, DKIM, DMARC); auto-replies told
//! apart so that two robots never answer each other.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

/// One received mail, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// The sender's address, lowercased.
    pub from: String,
    pub from_name: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// The thread's first message (the first of `References`).
    pub root: Option<String>,
    pub subject: String,
    /// What the resident wrote (see [`clean`]).
    pub text: String,
    /// Attached images and videos: (content type, file name).
    pub photos: Vec<(String, Option<String>)>,
    /// A vacation message, a bounce, a mailing list's robot: not answered.
    pub automatic: bool,
    /// `Authentication-Results` headers as the raw text.
    pub auth_results: Vec<String>,
}

fn first_address(a: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    let a = a?.first()?;
    let addr = crate::settings::address(a.address.as_deref()?)?;
    Some((addr, a.name.as_deref().map(str::to_owned)))
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    }
}

/// Reads a raw mail; None if it has no sender address.
pub fn read(raw: &[u8]) -> Option<Mail> {
    let m = MessageParser::default().parse(raw)?;
    let (from, from_name) = first_address(m.from())?;
    let refs = id_list(m.references());
    let in_reply_to = id_list(m.in_reply_to()).into_iter().next();
    let subject = m.subject().unwrap_or("").trim().to_owned();
    let header = |name: &str| m.header_raw(name).map(|v| v.trim().to_lowercase());
    let automatic = header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence").is_some_and(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("List-Id").is_some()
        || header("Return-Path").is_some_and(|v| v == "<>")
        || from.starts_with("mailer-daemon@")
        || from.starts_with("postmaster@");
    let body = m.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let mut text = clean(&body);
    let reply = {
        let s = subject.to_lowercase();
        s.starts_with("re:") || s.starts_with("aw:") || s.starts_with("fwd:") || s.starts_with("rv:")
    };
    // Some write everything in the subject; a new mail's subject is part of the report.
    if !subject.is_empty() && !reply && !text.to_lowercase().contains(&subject.to_lowercase()) {
        text = if text.is_empty() { subject.clone() } else { format!("{subject}\n{text}") };
    }
    let photos = m
        .attachments()
        .filter_map(|a| {
            let ct = a.content_type()?;
            let kind = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("*"));
            (ct.ctype() == "image" || ct.ctype() == "video").then(|| (kind, a.attachment_name().map(str::to_owned)))
        })
        .collect();
    // As the servers wrote them (a header may come several times, one per server).
    let auth_results = m
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case("Authentication-Results"))
        .filter_map(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    Some(Mail {
        from,
        from_name,
        message_id: m.message_id().map(str::to_owned),
        in_reply_to,
        root: refs.into_iter().next(),
        subject,
        text,
        photos,
        automatic,
        auth_results,
    })
}

/// The new text of a mail body: without the quoted mail (from "On … wrote:" or the
/// first `>` line), the signature (after `-- `) and a phone's "Sent from my …".
pub fn clean(body: &str) -> String {
    const WROTE: &[&str] =
        &["wrote:", "escribió:", "escribio:", "a écrit :", "a écrit:", "schrieb:", "كتب:", "ha scritto:"];
    const SENT_FROM: &[&str] = &["sent from my ", "enviado desde mi ", "enviado desde ", "envoyé de mon "];
    let mut out: Vec<&str> = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        let low = t.to_lowercase();
        if t == "--" || line.trim_end_matches('\r') == "-- " || t.starts_with("-----original message") {
            break;
        }
        if low.starts_with("-----") && (low.contains("original") || low.contains("mensaje original")) {
            break;
        }
        if WROTE.iter().any(|w| low.ends_with(w)) {
            break;
        }
        if t.starts_with('>') {
            break;
        }
        if SENT_FROM.iter().any(|s| low.starts_with(s)) {
            continue;
        }
        out.push(line.trim_end());
    }
    out.join("\n").trim().to_owned()
}

/// Whether the receiving server (`authserv_id`) says the mail comes from its `From`
/// domain: DMARC passed, or DKIM signed by that domain, or SPF passed for it.
pub fn verified(mail: &Mail, authserv_id: Option<&str>) -> bool {
    let Some(id) = authserv_id else { return false };
    let domain = mail.from.rsplit_once('@').map_or("", |(_, d)| d);
    mail.auth_results.iter().any(|h| {
        let h = h.to_lowercase();
        let h = h.strip_prefix("authentication-results:").unwrap_or(&h).trim().to_owned();
        let mut parts = h.split(';').map(str::trim);
        let server = parts.next().unwrap_or("").split_whitespace().next().unwrap_or("");
        if server != id {
            return false;
        }
        parts.any(|r| {
            let words: Vec<&str> = r.split_whitespace().collect();
            let has = |k: &str| words.contains(&k);
            let value = |k: &str| words.iter().find_map(|w| w.strip_prefix(k)).map(|v| v.trim_matches('"'));
            (has("dmarc=pass") && value("header.from=").is_none_or(|d| d == domain))
                || (has("dkim=pass") && value("header.d=").is_some_and(|d| d == domain))
                || (has("spf=pass")
                    && value("smtp.mailfrom=").is_some_and(|m| m == domain || m.ends_with(&format!("@{domain}"))))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_signatures_and_phones_go() {
        let body = "Sigue apagada.\r\nGracias\r\n\r\nEnviado desde mi iPhone\r\n\r\nEl lun, 7 ene 2030 a las 9:00, Ayuntamiento <a@jun.es> escribió:\r\n> Gracias. Tu aviso #1\r\n";
        assert_eq!(clean(body), "Sigue apagada.\nGracias");
        assert_eq!(clean("It is at the corner\n-- \nAnn Smith\n07700 900123"), "It is at the corner");
        assert_eq!(clean("> quoted only"), "");
    }

    #[test]
    fn html_subject_and_photos() {
        let raw = b"From: Ana <Ana@Vecinos.test>\r\nTo: a@jun.es\r\nSubject: Farola rota\r\nMessage-ID: <x1@vecinos.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>En la <b>calle Real 3</b></p></body></html>\r\n--b\r\nContent-Type: image/jpeg; name=\"f.jpg\"\r\nContent-Disposition: attachment; filename=\"f.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n";
        let m = read(raw).expect("a mail");
        assert_eq!(m.from, "ana@vecinos.test");
        assert_eq!(m.message_id.as_deref(), Some("x1@vecinos.test"));
        assert!(
            m.text.starts_with("Farola rota\n") && m.text.contains("calle Real 3") && !m.text.contains('<'),
            "{}",
            m.text
        );
        assert_eq!(m.photos, vec![("image/jpeg".to_owned(), Some("f.jpg".to_owned()))]);
        assert!(!m.automatic);
    }

    #[test]
    fn robots_and_authentication() {
        let raw = b"From: a@vecinos.test\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway\r\n";
        assert!(read(raw).expect("mail").automatic);
        let raw = b"From: Luis <luis@jun.es>\r\nAuthentication-Results: mx.jun.es; dkim=pass header.d=jun.es; spf=fail smtp.mailfrom=x.test\r\nAuthentication-Results: evil.test; dmarc=pass\r\nSubject: hecho #1\r\n\r\nhecho #1\r\n";
        let m = read(raw).expect("mail");
        assert!(verified(&m, Some("mx.jun.es")));
        assert!(!verified(&m, Some("evil.example")));
        assert!(!verified(&m, None));
        let forged =
            b"From: luis@jun.es\r\nAuthentication-Results: mx.jun.es; dkim=pass header.d=evil.test\r\n\r\nhecho #1\r\n";
        assert!(!verified(&read(forged).expect("mail"), Some("mx.jun.es")));
    }
}
