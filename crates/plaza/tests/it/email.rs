//! The e-mail channel end to end against real mail servers from Debian's packages
//! (Dovecot for IMAP, OpenSMTPD for SMTP, started by `scripts/mail`): a resident reports
//! by mail and gets the answer in the same thread with a number, a crew's action on
//! another channel reaches her by mail in that thread, her reply in the thread (with the
//! quoted mail and a signature below it) is a follow-up, an automatic reply is never
//! answered, a crew member's mail counts only when the receiving server vouches for it,
//! and a restart neither loses nor repeats a mail. Jun's config, in Spanish.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::TryStreamExt;
use lettre::AsyncTransport;
use plaza_core::{Chat, Destination};

use crate::registry::{Wire, msg, serve, until};

/// The mail servers: the suite's (`PLAZA_TEST_MAIL`, started once by scripts/test) or
/// this test's own, stopped when it ends.
pub(crate) struct Servers {
    pub(crate) imap: String,
    pub(crate) smtp: String,
    /// The same over TLS (SMTP with a login), and the authority that signed their certificate.
    imaps: String,
    smtps: String,
    ca: String,
    own: Option<PathBuf>,
    /// OpenSMTPD's control socket is one per machine: tests that start their own servers
    /// take turns (scripts/test starts one for all).
    _turn: Option<std::fs::File>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new(crate::repo().join("scripts/mail")).arg("--stop").arg(dir).status();
        }
    }
}

pub(crate) fn servers(dir: &Path) -> Servers {
    let (line, own) = match std::env::var("PLAZA_TEST_MAIL") {
        Ok(l) if !l.is_empty() => (l, None),
        _ => {
            let turn = std::fs::File::create(std::env::temp_dir().join("plaza-test-mail.lock")).expect("lock file");
            turn.lock().expect("take a turn at the mail servers");
            let d = dir.join("mail");
            let out =
                Command::new(crate::repo().join("scripts/mail")).arg("--start").arg(&d).output().expect("scripts/mail");
            assert!(out.status.success(), "scripts/mail --start: {}", String::from_utf8_lossy(&out.stderr));
            (String::from_utf8_lossy(&out.stdout).trim().to_owned(), Some((d, turn)))
        }
    };
    let get = |k: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or_else(|| panic!("{k} in «{line}»")).to_owned()
    };
    let (own, turn) = own.map_or((None, None), |(d, t)| (Some(d), Some(t)));
    Servers {
        imap: get("imap="),
        smtp: get("smtp="),
        imaps: get("imaps="),
        smtps: get("smtps="),
        ca: get("ca="),
        own,
        _turn: turn,
    }
}

/// Sends a mail as a resident's mail program would.
pub(crate) async fn send(smtp: &str, from: &str, to: &str, headers: &[(&str, &str)], body: &str) {
    let (host, port) = smtp.rsplit_once(':').expect("host:port");
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
        .port(port.parse().expect("port"))
        .build();
    let mut raw =
        format!("From: {from}\r\nTo: {to}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(&body.replace('\n', "\r\n"));
    let addr = |s: &str| s.rsplit_once('<').map_or(s, |(_, a)| a.trim_end_matches('>')).to_owned();
    let envelope =
        lettre::address::Envelope::new(Some(addr(from).parse().expect("from")), vec![addr(to).parse().expect("to")])
            .expect("envelope");
    transport.send_raw(&envelope, raw.as_bytes()).await.expect("the SMTP server takes the mail");
}

/// Every mail in `user`'s inbox, raw, oldest first.
pub(crate) async fn mailbox(imap: &str, user: &str) -> Vec<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(imap).await.expect("imap");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut s = client.login(user, "secret").await.map_err(|(e, _)| e).expect("login");
    let mb = s.select("INBOX").await.expect("select");
    let mut out = Vec::new();
    if mb.exists > 0 {
        let all: Vec<_> = s.fetch("1:*", "BODY.PEEK[]").await.expect("fetch").try_collect().await.expect("fetch");
        out = all.iter().filter_map(|f| f.body().map(<[u8]>::to_vec)).collect();
    }
    let _ = s.logout().await;
    out
}

/// Waits until `user` has at least `n` mails; returns them.
async fn mails(imap: &str, user: &str, n: usize) -> Vec<Vec<u8>> {
    for _ in 0..300 {
        let m = mailbox(imap, user).await;
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{user} did not get {n} mails: {:?}",
        mailbox(imap, user).await.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect::<Vec<_>>()
    );
}

pub(crate) struct Read {
    id: String,
    in_reply_to: String,
    references: String,
    subject: String,
    pub(crate) text: String,
}

pub(crate) fn parse(raw: &[u8]) -> Read {
    let m = mail_parser::MessageParser::default().parse(raw).expect("a mail");
    let ids = |v: &mail_parser::HeaderValue<'_>| match v {
        mail_parser::HeaderValue::Text(t) => t.to_string(),
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    };
    Read {
        id: m.message_id().unwrap_or("").to_owned(),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        subject: m.subject().unwrap_or("").to_owned(),
        text: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
    }
}

/// Jun with an `[email]` section for `address` (each test its own mailbox: tests share
/// the suite's servers) and every room on the in-test channel.
pub(crate) fn town(dir: &Path, s: &Servers, address: &str) -> PathBuf {
    town_with(dir, address, &format!("imap = \"{}\"\nsmtp = \"{}\"\nsecurity = \"none\"\n", s.imap, s.smtp))
}

/// Jun with an `[email]` section whose servers and security are `servers`.
fn town_with(dir: &Path, address: &str, servers: &str) -> PathBuf {
    let jun = std::fs::read_to_string(crate::jun_config()).expect("jun");
    let cfg = plaza_core::Config::parse(&jun).expect("jun parses");
    let locales = crate::repo().join("config/locales");
    let mut text = jun
        .replacen("locales = \"locales\"", &format!("locales = {:?}", locales.display().to_string()), 1)
        .replace("\"console:luis\", \"console:eva\"", "\"loopback:luis\", \"email:eva@jun.test\"")
        .replace("\"console:luis\" = \"Luis\"", "\"loopback:luis\" = \"Luis\"");
    assert!(text.contains("email:eva@jun.test"), "the electricians' members changed");
    std::fs::write(dir.join("password"), "secret\n").expect("password");
    text.push_str(&format!(
        "\n[email]\naddress = \"{}\"\nname = \"Ayuntamiento de Jun\"\n{}password_file = {:?}\nauthserv_id = \"mx.jun.test\"\ntrust_ids = true\n",
        address,
        servers,
        dir.join("password").display().to_string()
    ));
    text.push_str("\n[loopback]\ntrust_ids = true\n[loopback.rooms]\n");
    for r in cfg.room_names() {
        text.push_str(&format!("{r} = \"#{r}\"\n"));
    }
    let path = dir.join("town.toml");
    std::fs::write(&path, text).expect("write");
    let errors =
        plaza::check_config(&plaza::Registry::standard().channel(crate::registry::LoopbackKind(Arc::default())), &path);
    assert_eq!(errors, Ok(()), "the test town is valid");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_reports_by_mail_and_every_answer_is_in_her_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = servers(dir.path());
    let config = town(dir.path(), &s, "ayuntamiento@jun.test");
    let db = dir.path().join("plaza.db");
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let (tx, stop, task) = serve(&wire, &config, &db);
    let electricians = Destination::Room("electricians".into());
    let town = "ayuntamiento@jun.test";

    // A report by mail, with a signature that must stay with her.
    send(
        &s.smtp,
        "Ana García <ana@vecinos.test>",
        town,
        &[("Subject", "Farola apagada"), ("Message-ID", "<a1@vecinos.test>")],
        "La farola de la calle Real 3 está apagada desde ayer.\n\n-- \nAna García\nTel. 600 111 222\n",
    )
    .await;
    let got = mails(&s.imap, "ana@vecinos.test", 1).await;
    let ack = parse(&got[0]);
    assert!(ack.text.contains("#1"), "{}", ack.text);
    assert_eq!(ack.in_reply_to, "a1@vecinos.test");
    assert!(ack.references.contains("a1@vecinos.test"), "{}", ack.references);
    assert_eq!(ack.subject, "Re: Farola apagada");
    let texts = until(&wire, &electricians, "calle Real 3").await;
    assert!(!texts.iter().any(|t| t.contains("600 111 222") || t.contains("Ana García")), "{texts:?}");

    // The crew takes it on another messenger: she reads it in the same thread.
    tx.send(msg("l1", "luis", Chat::Room("electricians".into()), "tomo #1")).expect("send");
    let got = mails(&s.imap, "ana@vecinos.test", 2).await;
    let taken = parse(&got[1]);
    assert!(taken.text.contains("#1"), "{}", taken.text);
    assert_eq!(taken.in_reply_to, ack.id, "a reply to the acknowledgement");
    assert!(taken.references.contains("a1@vecinos.test"), "{}", taken.references);

    // Her answer in the thread, quoting the last mail: a follow-up for the crew.
    send(
        &s.smtp,
        "ana@vecinos.test",
        town,
        &[
            ("Subject", "Re: Farola apagada"),
            ("Message-ID", "<a2@vecinos.test>"),
            ("In-Reply-To", &format!("<{}>", taken.id)),
            ("References", &format!("<a1@vecinos.test> <{}>", taken.id)),
        ],
        &format!(
            "Está justo enfrente del bar.\n\nEl lun, 7 ene 2030, Ayuntamiento escribió:\n> {}\n",
            taken.text.trim()
        ),
    )
    .await;
    let texts = until(&wire, &electricians, "enfrente del bar").await;
    assert!(!texts.iter().any(|t| t.contains("escribió")), "the quote stays out: {texts:?}");

    // A vacation reply is never answered (two robots would write to each other forever).
    send(
        &s.smtp,
        "ana@vecinos.test",
        town,
        &[("Subject", "Fuera de la oficina"), ("Message-ID", "<a3@vecinos.test>"), ("Auto-Submitted", "auto-replied")],
        "Estaré fuera hasta el lunes.",
    )
    .await;

    // A crew member by mail: only what the receiving server vouches for acts.
    send(&s.smtp, "eva@jun.test", town, &[("Subject", "hecho #1"), ("Message-ID", "<e1@jun.test>")], "hecho #1").await;
    let eva = mails(&s.imap, "eva@jun.test", 1).await;
    assert!(parse(&eva[0]).text.contains("no se ha podido comprobar"), "{}", parse(&eva[0]).text);
    send(
        &s.smtp,
        "eva@jun.test",
        town,
        &[
            ("Subject", "hecho #1"),
            ("Message-ID", "<e2@jun.test>"),
            ("Authentication-Results", "mx.jun.test; dkim=pass header.d=jun.test; spf=pass smtp.mailfrom=eva@jun.test"),
        ],
        "hecho #1",
    )
    .await;
    // The fix reaches her ("is it fixed?"), still in her thread.
    let mut texts: Vec<Read> = Vec::new();
    for _ in 0..300 {
        texts = mailbox(&s.imap, "ana@vecinos.test").await.iter().map(|m| parse(m)).collect();
        if texts.iter().any(|t| t.text.contains("¿Está arreglado?")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(texts.iter().any(|t| t.text.contains("¿Está arreglado?") && t.text.contains("#1")), "asked if fixed");
    assert!(texts.iter().all(|t| t.references.contains("a1@vecinos.test")), "one thread");
    assert!(texts.iter().all(|t| t.subject == "Re: Farola apagada"), "one thread");
    assert!(!texts.iter().any(|t| t.in_reply_to == "a3@vecinos.test"), "the vacation reply got no answer");

    // A restart: nothing read twice, nothing answered twice; a new mail is #2.
    stop.send(()).expect("stop");
    task.await.expect("stopped");
    let (before_ana, before_eva) =
        (mailbox(&s.imap, "ana@vecinos.test").await.len(), mailbox(&s.imap, "eva@jun.test").await.len());
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let (_tx, stop, task) = serve(&wire, &config, &db);
    send(
        &s.smtp,
        "Bruno <bruno@vecinos.test>",
        town,
        &[("Subject", "Bache"), ("Message-ID", "<b1@vecinos.test>")],
        "Hay un bache enorme en la calle Mayor 8",
    )
    .await;
    let got = mails(&s.imap, "bruno@vecinos.test", 1).await;
    let ack = parse(&got[0]);
    assert!(ack.text.contains("#2"), "{}", ack.text);
    assert_eq!(ack.in_reply_to, "b1@vecinos.test");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(mailbox(&s.imap, "ana@vecinos.test").await.len(), before_ana, "nothing repeated to Ana");
    assert_eq!(mailbox(&s.imap, "eva@jun.test").await.len(), before_eva, "nothing repeated to Eva");
    let cards: Vec<String> = wire.sent.lock().expect("lock").iter().map(|o| o.text.clone()).collect();
    assert!(!cards.iter().any(|t| t.contains("calle Real 3") && t.contains("🆕")), "no card made again: {cards:?}");
    stop.send(()).expect("stop");
    task.await.expect("stopped");
}

/// At the default security (TLS for IMAP and SMTP, with a login): the town's mail
/// provider as most towns have it; here Dovecot's IMAPS and its submission service, with
/// a certificate from the town's own authority (`ca_file`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_over_tls_at_the_default_security() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = servers(dir.path());
    let town_address = "tls@jun.test";
    let config = town_with(
        dir.path(),
        town_address,
        &format!("imap = \"{}\"\nsmtp = \"{}\"\nca_file = {:?}\n", s.imaps, s.smtps, s.ca),
    );
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(!text.contains("security ="), "the default security");
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let (_tx, stop, task) = serve(&wire, &config, &dir.path().join("plaza.db"));
    send(
        &s.smtp,
        "Carmen <carmen@vecinos.test>",
        town_address,
        &[("Subject", "Contenedor"), ("Message-ID", "<c1@vecinos.test>")],
        "El contenedor de la calle Real 5 está desbordado",
    )
    .await;
    let got = mails(&s.imap, "carmen@vecinos.test", 1).await;
    let ack = parse(&got[0]);
    assert!(ack.text.contains("#1"), "{}", ack.text);
    assert_eq!(ack.in_reply_to, "c1@vecinos.test");
    stop.send(()).expect("stop");
    task.await.expect("stopped");
}
