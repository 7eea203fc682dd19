//! The e-mail channel: the town's mailbox watched with IMAP IDLE, answers by SMTP, each
//! in the thread of the resident's mail (`In-Reply-To`, `References`, "Re: subject").
//!
//! Threads: a resident's latest mail starts or continues their thread; the first answer
//! about a task (its acknowledgement) fixes the task's thread, and every later update of
//! that task is a reply in it. Threads and the last mail read (IMAP UID) are kept in the
//! store through the inbox's cursors, so a restart neither reads a mail twice nor answers
//! outside its thread.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use lettre::message::{Mailbox, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use plaza_core::channel::person_key;
use plaza_core::{
    Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Identity, Inbound, InboundKind, Inbox, Limits,
    Outgoing,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::NAME;
use crate::read::{Mail, read, verified};
use crate::settings::{EmailSettings, Security};

/// A connection to the IMAP server, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type Session = async_imap::Session<Box<dyn Io>>;

/// Where a conversation is: its first message, its latest, its subject.
#[derive(Debug, Clone, PartialEq)]
struct Thread {
    root: String,
    last: String,
    subject: String,
}

impl Thread {
    fn encode(&self) -> String {
        format!("{}\t{}\t{}", self.root, self.last, self.subject)
    }
    fn decode(s: &str) -> Option<Thread> {
        let mut p = s.splitn(3, '\t');
        Some(Thread { root: p.next()?.to_owned(), last: p.next()?.to_owned(), subject: p.next()?.to_owned() })
    }
}

pub struct EmailChannel {
    settings: EmailSettings,
    password: String,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    /// The engine's inbox (its cursors keep the threads), once `run` has started.
    inbox: OnceLock<Arc<dyn Inbox>>,
}

fn net(e: impl fmt::Display) -> ChannelError {
    ChannelError::Network(e.to_string())
}

fn store_err(e: impl fmt::Display) -> ChannelError {
    ChannelError::Other(format!("the store: {e}"))
}

/// The town's certificate authority file cannot be used.
fn bad_ca(e: impl fmt::Display) -> ChannelError {
    ChannelError::Setting("email.ca_file".into(), e.to_string())
}

/// A message id without its angle brackets, as mail-parser gives them.
fn bare(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

impl EmailChannel {
    pub fn new(settings: EmailSettings, password: String) -> Result<EmailChannel, ChannelError> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let (host, port) = settings.smtp.clone();
        let ca = settings.ca().map_err(ChannelError::setting)?;
        let tls = |host: &str| -> Result<TlsParameters, ChannelError> {
            let mut params = TlsParameters::builder(host.to_owned());
            if let Some(pem) = &ca {
                let cert = Certificate::from_pem(pem).map_err(bad_ca)?;
                params = params.add_root_certificate(cert);
            }
            params.build_rustls().map_err(|e| ChannelError::Other(format!("email.smtp: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .port(port)
            .timeout(Some(Duration::from_secs(60)));
        builder = match settings.security {
            Security::Tls => builder.tls(Tls::Wrapper(tls(&host)?)),
            Security::StartTls => builder.tls(Tls::Required(tls(&host)?)),
            Security::None => builder,
        };
        if settings.security != Security::None {
            builder = builder.credentials(Credentials::new(settings.login.clone(), password.clone()));
        }
        Ok(EmailChannel { smtp: builder.build(), settings, password, inbox: OnceLock::new() })
    }

    async fn connect(&self) -> Result<Session, ChannelError> {
        let (host, port) = &self.settings.imap;
        let tcp = TcpStream::connect((host.as_str(), *port)).await.map_err(net)?;
        let stream: Box<dyn Io> = match self.settings.security {
            Security::None => Box::new(tcp),
            Security::Tls | Security::StartTls => {
                use rustls_platform_verifier::BuilderVerifierExt;
                let builder =
                    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                        .with_safe_default_protocol_versions()
                        .map_err(|e| ChannelError::Other(e.to_string()))?;
                let config = match self.settings.ca().map_err(ChannelError::setting)? {
                    // The town's own authority, and only it.
                    Some(pem) => {
                        use rustls::pki_types::pem::PemObject;
                        let mut roots = rustls::RootCertStore::empty();
                        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                            let cert = cert.map_err(bad_ca)?;
                            roots.add(cert).map_err(bad_ca)?;
                        }
                        builder.with_root_certificates(roots).with_no_client_auth()
                    }
                    None => builder
                        .with_platform_verifier()
                        .map_err(|e| ChannelError::Other(e.to_string()))?
                        .with_no_client_auth(),
                };
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| ChannelError::Other(format!("email.imap: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(net)?;
                Box::new(tls)
            }
        };
        let mut client = async_imap::Client::new(stream);
        client.read_response().await.map_err(net)?.ok_or_else(|| net("the IMAP server closed at once"))?;
        client.login(&self.settings.login, &self.password).await.map_err(|(e, _)| match e {
            async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                ChannelError::Other(format!("the IMAP server refused the login of {}: {m}", self.settings.login))
            }
            e => net(e),
        })
    }

    fn inbox(&self) -> Result<&Arc<dyn Inbox>, ChannelError> {
        self.inbox.get().ok_or_else(|| ChannelError::Network("the channel has not started yet".into()))
    }

    async fn thread(&self, key: &str) -> Result<Option<Thread>, ChannelError> {
        Ok(self.inbox()?.cursor(key).await.map_err(store_err)?.as_deref().and_then(Thread::decode))
    }

    async fn set_thread(&self, key: &str, t: &Thread) -> Result<(), ChannelError> {
        self.inbox()?.set_cursor(key, &t.encode()).await.map_err(store_err)
    }

    /// Hands one mail to the engine: its text, then its photos; remembers its thread.
    async fn take(&self, inbox: &Arc<dyn Inbox>, mail: Mail, fallback_id: String) -> Result<(), ChannelError> {
        if mail.from == self.settings.address {
            debug!("a mail from the town's own address; not read");
            return Ok(());
        }
        if mail.automatic {
            info!(from = %mail.from, "an automatic mail (auto-reply, bounce, list); not answered");
            return Ok(());
        }
        let id = mail.message_id.clone().unwrap_or(fallback_id);
        let sender = Identity::new(NAME, mail.from.clone());
        let last_key = person_key(&sender, "last");
        let previous = self.thread(&last_key).await?;
        // A reply continues its thread; a new mail starts one.
        let root = match (&mail.root, &mail.in_reply_to, &previous) {
            (Some(r), _, _) => r.clone(),
            (None, Some(r), _) => r.clone(),
            _ => id.clone(),
        };
        let subject = match mail.subject.trim() {
            "" => previous.map(|p| p.subject).unwrap_or_default(),
            s => s.to_owned(),
        };
        self.set_thread(&last_key, &Thread { root, last: id.clone(), subject }).await?;
        let unverified = !verified(&mail, self.settings.authserv_id.as_deref());
        let base = Inbound {
            channel: NAME.into(),
            message_id: id.clone(),
            sender,
            sender_name: mail.from_name.clone(),
            chat: Chat::Direct,
            kind: InboundKind::Text { text: mail.text.clone() },
            reply_to: mail.in_reply_to.clone(),
            unverified,
        };
        // A mail with only photos is the photos; anything else has its text read.
        if !mail.text.is_empty() || mail.photos.is_empty() {
            inbox.deliver(base.clone()).await.map_err(|e| ChannelError::Other(e.to_string()))?;
        }
        for (i, (kind, name)) in mail.photos.iter().enumerate() {
            let photo = Inbound {
                message_id: format!("{id}#{i}"),
                kind: InboundKind::Attachment {
                    kind: if kind.starts_with("video/") { "video".into() } else { "photo".into() },
                    reference: format!("{id}#{}", name.as_deref().unwrap_or(kind)),
                    caption: None,
                },
                ..base.clone()
            };
            inbox.deliver(photo).await.map_err(|e| ChannelError::Other(e.to_string()))?;
        }
        Ok(())
    }

    /// Reads every mail after the last one read, in order.
    async fn catch_up(&self, session: &mut Session, inbox: &Arc<dyn Inbox>, validity: u32) -> Result<(), ChannelError> {
        let cursor = inbox.cursor("email:uid").await.map_err(store_err)?;
        let last: Option<u32> = cursor
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .filter(|(v, _)| v.parse() == Ok(validity))
            .and_then(|(_, u)| u.parse().ok());
        let mut uids: Vec<u32> = match last {
            Some(l) => session
                .uid_search(format!("UID {}:*", l + 1))
                .await
                .map_err(net)?
                .into_iter()
                .filter(|u| *u > l)
                .collect(),
            // The first start (or a mailbox rebuilt by the server): what nobody has read.
            None => session.uid_search("UNSEEN").await.map_err(net)?.into_iter().collect(),
        };
        uids.sort_unstable();
        for uid in uids {
            let raw: Option<Vec<u8>> = {
                let fetches = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await.map_err(net)?;
                let all: Vec<_> = fetches.try_collect().await.map_err(net)?;
                all.iter().find_map(|f| f.body().map(<[u8]>::to_vec))
            };
            match raw.as_deref().and_then(read) {
                Some(mail) => self.take(inbox, mail, format!("imap-{validity}-{uid}")).await?,
                None => warn!(uid, "a mail with no sender address; skipped"),
            }
            inbox.set_cursor("email:uid", &format!("{validity}:{uid}")).await.map_err(store_err)?;
            // Seen by the town: a person looking at the mailbox knows it was handled.
            let flagged = session.uid_store(uid.to_string(), "+FLAGS (\\Seen)").await.map_err(net)?;
            let _: Vec<_> = flagged.try_collect().await.map_err(net)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        // Anyone can write any From: a message counts as the sender's only when the
        // receiving server vouches for it (`unverified` otherwise).
        Capabilities::default()
    }

    /// A mail server takes a few at once; a long answer is one mail.
    fn limits(&self) -> Limits {
        Limits { per_second: Some(5), concurrent_chats: 4, ..Limits::default() }
    }

    fn rooms(&self) -> Vec<String> {
        vec![]
    }

    /// Ready once the SMTP server answers (tried again every few seconds).
    async fn ready(&self) {
        let mut pause = Duration::from_secs(1);
        loop {
            match self.smtp.test_connection().await {
                Ok(true) => return,
                Ok(false) => warn!("the SMTP server does not answer yet"),
                Err(e) => warn!(error = %e, "the SMTP server cannot be reached yet"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    }

    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        let _ = self.inbox.set(inbox.clone());
        let mut session = self.connect().await?;
        let mailbox = session.select("INBOX").await.map_err(net)?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        info!(address = %self.settings.address, "e-mail: watching the town's mailbox");
        loop {
            self.catch_up(&mut session, &inbox, validity).await?;
            let mut idle = session.idle();
            idle.init().await.map_err(net)?;
            {
                let (wait, stop) = idle.wait_with_timeout(Duration::from_secs(self.settings.idle_minutes * 60));
                let r = wait.await.map_err(net)?;
                drop(stop);
                debug!(?r, "IMAP IDLE ended");
            }
            session = idle.done().await.map_err(net)?;
        }
    }

    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let (who, to) = match &out.to {
            Destination::Direct(who) if who.channel() == NAME => (who, who.id().to_owned()),
            Destination::Direct(who) => return Err(ChannelError::Rejected(format!("{who} is not an e-mail identity"))),
            Destination::Room(r) => return Err(ChannelError::UnknownRoom(r.clone())),
        };
        let last_key = person_key(who, "last");
        let last = self.thread(&last_key).await?;
        if out.only_if_open && last.is_none() {
            // They never wrote to the town: no mail out of the blue.
            return Ok(Delivered { message_id: String::new() });
        }
        // A task's updates stay in the thread of its acknowledgement.
        let task_key = out.task.map(|t| person_key(who, &format!("task:{}", t.0)));
        let thread = match &task_key {
            Some(k) => match self.thread(k).await? {
                Some(t) => Some(t),
                None => last.clone(),
            },
            None => last.clone(),
        };
        let id = format!("{}@{}", out.key, self.settings.domain());
        let from = Mailbox::new(
            self.settings.name.clone(),
            self.settings.address.parse().map_err(|e| ChannelError::Other(format!("email.address: {e}")))?,
        );
        let to_box: Mailbox = to.parse().map_err(|e| ChannelError::Rejected(format!("{to}: {e}")))?;
        let subject = match &thread {
            Some(t) if !t.subject.is_empty() => {
                let s = t.subject.trim();
                if s.to_lowercase().starts_with("re:") { s.to_owned() } else { format!("Re: {s}") }
            }
            _ => {
                let first = out.text.lines().next().unwrap_or("").chars().take(70).collect::<String>();
                match &self.settings.name {
                    Some(n) => format!("{n}: {first}"),
                    None => first,
                }
            }
        };
        let mut mail = Message::builder()
            .from(from)
            .to(to_box)
            .subject(subject)
            .message_id(Some(format!("<{id}>")))
            .header(header::ContentType::TEXT_PLAIN)
            // Vacation responders do not answer an automatic message.
            .header(AutoSubmitted);
        if let Some(t) = &thread {
            mail = mail.in_reply_to(format!("<{}>", bare(&t.last)));
            let mut refs = vec![format!("<{}>", bare(&t.root))];
            if bare(&t.last) != bare(&t.root) {
                refs.push(format!("<{}>", bare(&t.last)));
            }
            mail = mail.references(refs.join(" "));
        }
        let mail = mail.body(out.text.clone()).map_err(|e| ChannelError::Rejected(e.to_string()))?;
        if let Err(e) = self.smtp.send(mail).await {
            // A 5xx is the server's final word; anything else (4xx, no connection, a
            // time-out) is tried again.
            return Err(if e.is_permanent() { ChannelError::Rejected(e.to_string()) } else { net(e) });
        }
        // The next answer replies to this one; a task's thread is fixed by its first.
        let t = match thread {
            Some(t) => Thread { last: id.clone(), ..t },
            None => Thread { root: id.clone(), last: id.clone(), subject: String::new() },
        };
        self.set_thread(&last_key, &t).await?;
        if let Some(k) = &task_key {
            self.set_thread(k, &t).await?;
        }
        Ok(Delivered { message_id: id })
    }
}

/// `Auto-Submitted: auto-replied` (RFC 3834).
#[derive(Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}
