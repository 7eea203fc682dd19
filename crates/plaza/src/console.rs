//! The console channel: a conversation on standard input, the bot's messages on standard
//! output. For trying Plaza with no messenger account, and for scripted tests.
//!
//! Input lines:
//!   SENDER: TEXT                   a direct message from SENDER to the bot
//!   SENDER in ROOM: TEXT           a message in a room (a crew id, public, triage)
//!   SENDER in ROOM re #N: TEXT     a reply in the thread of task N's post in ROOM
//!   SENDER at LAT,LON              SENDER shares a location in their direct chat
//!   SENDER presses DATA            SENDER presses a button (e.g. `fixed:1`) in their chat
//!   SENDER in ROOM presses DATA    ... or on a post in ROOM (e.g. `claim:3`)
//!   ~ 3m                           the clock moves on (s, m, h, d)
//!   ~ at 2026-11-26 09:00          the clock moves on to this time (UTC), for scripts
//!                                  whose days matter (a morning digest)
//! A `#` at the start of a line or followed by a space starts a comment (`#12` does not).
//! Output: `ROOM <- TEXT` or `@SENDER <- TEXT`, newlines inside TEXT written as ` / `.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plaza_core::channel::{
    Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Inbound, InboundKind, Inbox, Outgoing,
};
use plaza_core::clock::ShiftedClock;
use plaza_core::model::{GeoPoint, Identity};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

pub const NAME: &str = "console";

pub struct ConsoleChannel {
    rooms: Vec<String>,
    out: Mutex<Box<dyn Write + Send>>,
    input: tokio::sync::Mutex<Option<Box<dyn AsyncBufRead + Send + Unpin>>>,
    echo: bool,
    clock: Arc<ShiftedClock>,
    seq: AtomicU64,
    run_id: String,
}

/// One parsed input line.
#[derive(Debug, PartialEq)]
pub enum Line {
    Event {
        sender: String,
        chat: Option<String>,
        re: Option<i64>,
        kind: InboundKind,
    },
    Advance {
        millis: i64,
    },
    /// The clock is set to this time (ms since 1970, UTC): forward only.
    At {
        millis: i64,
    },
    Nothing,
}

/// Strips a comment: `#` at the start, or `#` followed by white space.
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, c) in line.char_indices() {
        if c == '#' && (i == 0 || b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())) {
            return &line[..i];
        }
    }
    line
}

fn is_sender(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Parses one input line; `Err` says what is wrong with it.
pub fn parse_line(raw: &str) -> Result<Line, String> {
    let line = strip_comment(raw).trim();
    if line.is_empty() {
        return Ok(Line::Nothing);
    }
    if let Some(when) = line.strip_prefix('~').map(str::trim).and_then(|r| r.strip_prefix("at ")) {
        let at = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", when.trim())
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .ok_or_else(|| format!("`~ at {}`: write the time as `~ at 2026-11-26 09:00` (UTC)", when.trim()))?;
        return Ok(Line::At { millis: at.timestamp().as_millisecond() });
    }
    if let Some(rest) = line.strip_prefix('~') {
        let rest = rest.trim();
        let (num, unit) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len()));
        let n: i64 = num.parse().map_err(|_| format!("`~ {rest}`: write the time as e.g. `~ 3m`, `~ 90s`, `~ 2h`"))?;
        let ms = match unit.trim() {
            "s" => 1_000,
            "m" | "min" | "" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            u => return Err(format!("unknown time unit `{u}`: use s, m, h or d")),
        };
        // A clock a century ahead is a typo, not a test: refuse it rather than overflow.
        const CENTURY_MS: i64 = 100 * 366 * 86_400_000;
        let millis = n.saturating_mul(ms);
        if millis > CENTURY_MS {
            return Err(format!("`~ {rest}` is more than a hundred years: write e.g. `~ 3d`"));
        }
        return Ok(Line::Advance { millis });
    }
    // SENDER [in ROOM] presses DATA (before the `:` split: DATA has one)
    if let Some((head, data)) = line.split_once(" presses ") {
        let ws: Vec<&str> = head.split_whitespace().collect();
        let (sender, chat) = match ws.as_slice() {
            [s] => (*s, None),
            [s, "in", room] => (*s, Some((*room).to_owned())),
            _ => {
                return Err(format!(
                    "cannot read `{head}`: write `SENDER presses DATA` or `SENDER in ROOM presses DATA`"
                ));
            }
        };
        if is_sender(sender) && !data.trim().is_empty() {
            return Ok(Line::Event {
                sender: sender.into(),
                chat,
                re: None,
                kind: InboundKind::Button { data: data.trim().into() },
            });
        }
    }
    // SENDER at LAT,LON
    if let Some((sender, rest)) = line.split_once(" at ").filter(|_| !line.contains(':'))
        && is_sender(sender.trim())
    {
        let (lat, lon) = rest.split_once(',').ok_or_else(|| "a location is written `SENDER at LAT,LON`".to_string())?;
        let lat: f64 = lat.trim().parse().map_err(|_| format!("`{}` is not a latitude", lat.trim()))?;
        let lon: f64 = lon.trim().parse().map_err(|_| format!("`{}` is not a longitude", lon.trim()))?;
        let point = GeoPoint { lat, lon };
        if !point.is_valid() {
            return Err("latitude must be within ±90 and longitude within ±180".into());
        }
        return Ok(Line::Event {
            sender: sender.trim().into(),
            chat: None,
            re: None,
            kind: InboundKind::Location { point },
        });
    }
    let (head, text) = line.split_once(':').ok_or_else(|| {
        "write `SENDER: TEXT`, `SENDER in ROOM: TEXT`, `SENDER in ROOM re #N: TEXT` or `SENDER at LAT,LON`".to_string()
    })?;
    let text = text.strip_prefix(' ').unwrap_or(text).to_owned();
    let mut words = head.split_whitespace();
    let sender = words.next().unwrap_or("").to_owned();
    if !is_sender(&sender) {
        return Err(format!("`{sender}` is not a sender name (letters, digits, _ - .)"));
    }
    let rest: Vec<&str> = words.collect();
    let (chat, re) = match rest.as_slice() {
        [] => (None, None),
        ["in", room] => (Some((*room).to_owned()), None),
        ["in", room, "re", n] => {
            let n: i64 = n
                .strip_prefix('#')
                .unwrap_or(n)
                .parse()
                .map_err(|_| format!("`{n}` is not a task number (write re #N)"))?;
            (Some((*room).to_owned()), Some(n))
        }
        _ => return Err(format!("cannot read `{head}`: write `SENDER`, `SENDER in ROOM` or `SENDER in ROOM re #N`")),
    };
    Ok(Line::Event { sender, chat, re, kind: InboundKind::Text { text } })
}

/// The platform id the console gives a task's post: replies (`re #N`) point to it.
fn post_id(room: &str, task: i64) -> String {
    format!("{room}/#{task}")
}

impl ConsoleChannel {
    pub fn new(
        rooms: Vec<String>,
        input: Box<dyn AsyncBufRead + Send + Unpin>,
        out: Box<dyn Write + Send>,
        echo: bool,
        clock: Arc<ShiftedClock>,
    ) -> Self {
        let run_id = format!(
            "{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        ConsoleChannel {
            rooms,
            out: Mutex::new(out),
            input: tokio::sync::Mutex::new(Some(input)),
            echo,
            clock,
            seq: AtomicU64::new(0),
            run_id,
        }
    }

    fn print(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout (a pipe that went away) is not worth crashing the engine for.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

#[async_trait]
impl Channel for ConsoleChannel {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            buttons: false,
            edits: true,
            location: true,
            authenticated_ids: true,
            ..Capabilities::default()
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.rooms.clone()
    }

    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        let Some(mut input) = self.input.lock().await.take() else {
            return Err(ChannelError::Other("the console channel runs once".into()));
        };
        let mut n = 0u64;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            // Bytes, not a String: invalid UTF-8 is replaced, never fatal.
            let read = input.read_until(b'\n', &mut buf).await.map_err(|e| ChannelError::Other(e.to_string()))?;
            if read == 0 {
                break;
            }
            n += 1;
            let raw = String::from_utf8_lossy(&buf);
            let raw = raw.trim_end_matches(['\n', '\r']);
            let parsed = parse_line(raw);
            if self.echo && !matches!(parsed, Ok(Line::Nothing)) {
                self.print(&format!("> {}", one_line(raw)));
            }
            let (sender, chat, re, kind) = match parsed {
                Ok(Line::Nothing) => continue,
                Ok(Line::At { millis }) => {
                    let ahead = millis.saturating_sub(plaza_core::clock::Clock::now(&*self.clock).0);
                    if ahead < 0 {
                        self.print(&format!("! line {n}: `~ at` cannot move the clock back"));
                        continue;
                    }
                    self.clock.advance_millis(ahead);
                    inbox.settle().await;
                    continue;
                }
                Ok(Line::Advance { millis }) => {
                    self.clock.advance_millis(millis);
                    // What falls due meanwhile (timers) happens now.
                    inbox.settle().await;
                    continue;
                }
                Ok(Line::Event { sender, chat, re, kind }) => (sender, chat, re, kind),
                Err(e) => {
                    self.print(&format!("! line {n}: {e}"));
                    continue;
                }
            };
            let chat = match chat {
                None => Chat::Direct,
                Some(r) if self.rooms.contains(&r) => Chat::Room(r),
                Some(r) => {
                    self.print(&format!("! line {n}: unknown room `{r}` (rooms: {})", self.rooms.join(", ")));
                    continue;
                }
            };
            let reply_to = match (&chat, re) {
                (Chat::Room(r), Some(t)) => Some(post_id(r, t)),
                _ => None,
            };
            let inbound = Inbound {
                channel: NAME.into(),
                message_id: format!("{}-{n}", self.run_id),
                sender: Identity::new(NAME, sender.clone()),
                sender_name: Some(sender),
                chat,
                kind,
                reply_to,
                unverified: false,
            };
            if let Err(e) = inbox.deliver(inbound).await {
                self.print(&format!("! line {n}: not handled: {e}"));
            }
            inbox.settle().await;
        }
        Ok(())
    }

    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let (target, room) = match &out.to {
            Destination::Room(r) => (r.clone(), Some(r.as_str())),
            Destination::Direct(who) if who.channel() == NAME => (format!("@{}", who.id()), None),
            Destination::Direct(who) => return Err(ChannelError::Rejected(format!("{who} is not a console identity"))),
        };
        // ✂: a withdrawn post (its text removed from the room's history), ✎: an edit.
        let mark = match (&out.edit, out.withdraw) {
            (Some(_), true) => "✂ ",
            (Some(_), false) => "✎ ",
            _ => "",
        };
        self.print(&format!("{target} <- {mark}{}", one_line(&out.text)));
        let id = match (&out.edit, out.post, out.task, room) {
            (Some(e), _, _, _) => e.clone(),
            (None, Some(_), Some(t), Some(r)) => post_id(r, t.0),
            _ => format!("{target}/{}", self.seq.fetch_add(1, Ordering::Relaxed)),
        };
        Ok(Delivered { message_id: id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line("  # just a comment"), Ok(Line::Nothing));
        assert_eq!(parse_line(""), Ok(Line::Nothing));
        assert_eq!(
            parse_line("luis in electricians: hecho #1 # cambiada la bombilla"),
            Ok(Line::Event {
                sender: "luis".into(),
                chat: Some("electricians".into()),
                re: None,
                kind: InboundKind::Text { text: "hecho #1".into() }
            })
        );
        assert_eq!(
            parse_line("bea in public re #3: la vi ayer"),
            Ok(Line::Event {
                sender: "bea".into(),
                chat: Some("public".into()),
                re: Some(3),
                kind: InboundKind::Text { text: "la vi ayer".into() }
            })
        );
        assert_eq!(
            parse_line("ana at 37.1, -3.5"),
            Ok(Line::Event {
                sender: "ana".into(),
                chat: None,
                re: None,
                kind: InboundKind::Location { point: GeoPoint { lat: 37.1, lon: -3.5 } }
            })
        );
        assert_eq!(parse_line("~ 3m"), Ok(Line::Advance { millis: 180_000 }));
        assert_eq!(
            parse_line("ana: "),
            Ok(Line::Event { sender: "ana".into(), chat: None, re: None, kind: InboundKind::Text { text: "".into() } })
        );
        assert!(parse_line("hola sin dos puntos").is_err());
        assert!(parse_line("ana at 200,1").is_err());
        assert!(parse_line("ana in: x").is_err());
        assert!(parse_line("~ 3y").is_err());
        assert!(parse_line("~ 9223372036854775807d").is_err());
        assert_eq!(
            parse_line("ana presses fixed:1"),
            Ok(Line::Event {
                sender: "ana".into(),
                chat: None,
                re: None,
                kind: InboundKind::Button { data: "fixed:1".into() }
            })
        );
        assert!(parse_line("ana in x y presses fixed:1").is_err());
    }
}
