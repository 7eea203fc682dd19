//! The domain: identities, tasks, their lifecycle and the events that record it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Every time in Plaza is one of these, taken from a
/// [`crate::Clock`] so that tests can say "three minutes later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
    pub fn plus_minutes(self, min: i64) -> Self {
        self.plus_millis(min.saturating_mul(60_000))
    }
    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).max(0)
    }
}

/// A channel-qualified identity: `telegram:12345`, `matrix:@ana:jun.es`, `console:ana`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identity {
    channel: String,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an identity: write it as CHANNEL:ID, e.g. telegram:12345 or console:ana")]
pub struct BadIdentity(pub String);

impl Identity {
    pub fn new(channel: impl Into<String>, id: impl Into<String>) -> Self {
        Identity { channel: channel.into(), id: id.into() }
    }
    pub fn channel(&self) -> &str {
        &self.channel
    }
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.id)
    }
}

impl FromStr for Identity {
    type Err = BadIdentity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((c, id))
                if !c.is_empty()
                    && !id.is_empty()
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') =>
            {
                Ok(Identity::new(c, id))
            }
            _ => Err(BadIdentity(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Identity {
    type Error = BadIdentity;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Identity> for String {
    fn from(i: Identity) -> String {
        i.to_string()
    }
}

impl Identity {
    /// The identity that stands for a person whose data was erased.
    pub fn erased() -> Identity {
        Identity::new("erased", "-")
    }
    pub fn is_erased(&self) -> bool {
        self.channel == "erased"
    }
}

/// A task number, shown to people as `#N`. Numbers are per town and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Posted in the public task room; neighbours can see it and answer.
    Public,
    /// Seen only by the crew, the dispatchers and the reporter.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Unable,
    Duplicate,
    Spam,
    Other,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Unable => "unable",
            CloseReason::Duplicate => "duplicate",
            CloseReason::Spam => "spam",
            CloseReason::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unable" => CloseReason::Unable,
            "duplicate" => CloseReason::Duplicate,
            "spam" => CloseReason::Spam,
            "other" => CloseReason::Other,
            _ => return None,
        })
    }
}

/// The lifecycle: open → acknowledged → in progress → resolved | closed; resolved or
/// closed tasks can be reopened (back to open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    InProgress,
    Resolved,
    Closed(CloseReason),
}

impl Status {
    /// Still needs work: open, acknowledged or in progress.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Acknowledged | Status::InProgress)
    }
    /// The stable key used in storage, locales and Open311 mapping.
    pub fn key(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Closed(_) => "closed",
        }
    }
    pub fn close_reason(self) -> Option<CloseReason> {
        match self {
            Status::Closed(r) => Some(r),
            _ => None,
        }
    }
    pub fn from_parts(key: &str, reason: Option<&str>) -> Option<Self> {
        Some(match key {
            "open" => Status::Open,
            "acknowledged" => Status::Acknowledged,
            "in_progress" => Status::InProgress,
            "resolved" => Status::Resolved,
            "closed" => Status::Closed(reason.and_then(CloseReason::parse).unwrap_or(CloseReason::Other)),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// Distance in metres (haversine).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let r = 6_371_000.0_f64;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = (other.lat - self.lat).to_radians();
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * r * a.sqrt().asin()
    }
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Where a task is: a street text (as the resident wrote it), a point, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// The street as written, e.g. "calle Alemania 5".
    pub street: Option<String>,
    /// Folded street name without the house number, for duplicate detection.
    pub street_key: Option<String>,
    pub point: Option<GeoPoint>,
    /// The town's district (`[[district]]` id) the street or the point is in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
}

impl Place {
    pub fn is_known(&self) -> bool {
        self.street.is_some() || self.point.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// "photo", "image", "file", ...
    pub kind: String,
    /// The platform's reference: a Telegram file_id, a Matrix mxc:// URI.
    pub reference: String,
    pub channel: String,
}

/// A task: one problem reported by a resident, routed to one crew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    /// None while the task waits in triage.
    pub category: Option<String>,
    pub crew: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    pub description: String,
    pub place: Place,
    pub attachments: Vec<Attachment>,
    /// Never shown publicly unless `reporter_public`.
    pub reporter: Identity,
    pub reporter_public: bool,
    /// How the reporter is called on their platform: never shown, only used to mask
    /// their name in what the public sees.
    #[serde(default)]
    pub reporter_name: Option<String>,
    /// Private by a decision (a private category, a private word in the report, a
    /// dispatcher's `privado`): only an explicit `publico` makes it public again.
    #[serde(default)]
    pub sealed: bool,
    /// The language the reporter wrote in.
    pub language: String,
    /// People who said "me too" (not the reporter).
    pub supporters: Vec<Identity>,
    /// People told of every step besides the reporter: supporters and reporters of
    /// duplicates.
    pub followers: Vec<Identity>,
    pub duplicate_of: Option<TaskId>,
    pub related: Vec<TaskId>,
    pub assignee: Option<Identity>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// What the reporter said of the fix: confirmed, reopened, rated.
    #[serde(default)]
    pub feedback: Feedback,
}

/// The reporter's answer to "is it fixed?" after the crew marked the task done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Asked; no answer yet (the task stays in memory until answered or timed out).
    Asked,
    /// "Yes, fixed."
    Fixed,
    /// No answer within `[engine] confirm_hours`: closed as fixed.
    Silent,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::Asked => "asked",
            Confirmation::Fixed => "fixed",
            Confirmation::Silent => "silent",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "asked" => Confirmation::Asked,
            "fixed" => Confirmation::Fixed,
            "silent" => Confirmation::Silent,
            _ => return None,
        })
    }
}

/// What the reporter said of the crew's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The answer to the latest "is it fixed?" (None: never asked).
    pub confirmation: Option<Confirmation>,
    /// 1 to 5, if the reporter gave one after confirming.
    pub rating: Option<u8>,
    /// How many times the reporter said "not fixed" (each reopened the task).
    pub reopens: u32,
    /// The first name of the crew member who fixed it, shown in public — only for
    /// members who agreed to it (`[[crew]] credit`).
    #[serde(default)]
    pub credit: Option<String>,
}

/// A timer: work to do at a time of the engine's clock, kept across restarts. `owner` is
/// `core` or a plugin's name; (owner, task, key) names it (setting it again moves it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerKey {
    pub owner: String,
    /// The task it is about; `TaskId(0)` for none.
    pub task: TaskId,
    pub key: String,
}

impl Task {
    /// Everyone the task concerns: its reporter, followers, supporters and assignee
    /// (whose languages its messages are written in).
    pub fn people(&self) -> impl Iterator<Item = &Identity> {
        std::iter::once(&self.reporter).chain(&self.followers).chain(&self.supporters).chain(&self.assignee)
    }

    pub fn me_too(&self) -> usize {
        self.supporters.len()
    }

    /// Marked done, and its reporter was asked "is it fixed?" and has not answered.
    pub fn awaits_answer(&self) -> bool {
        self.status == Status::Resolved && self.feedback.confirmation == Some(Confirmation::Asked)
    }
}

/// One entry of a task's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task: TaskId,
    pub at: Timestamp,
    /// Who did it; None for the system.
    pub actor: Option<Identity>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Status {
        from: Status,
        to: Status,
        note: Option<String>,
    },
    Assigned {
        category: Option<String>,
        crew: Option<String>,
    },
    Visibility {
        to: Visibility,
    },
    Note {
        text: String,
    },
    /// An answer in the public room (a neighbour's, or the reporter's own there).
    Comment {
        text: String,
    },
    /// What the reporter added to their report in their direct chat, for the crew: as
    /// private as the chat it came from, never shown in public.
    Detail {
        text: String,
    },
    MeToo,
    LinkedDuplicate {
        of: TaskId,
    },
    LinkedRelated {
        to: TaskId,
    },
    Located,
    Attached,
    /// The reporter's identity and free text were erased (at their request, or by the
    /// retention setting).
    Anonymised,
    /// The reporter answered "is it fixed?": yes (`fixed`) or no (the task reopened).
    Confirmed {
        fixed: bool,
    },
    /// No answer to "is it fixed?" in time: closed as fixed.
    ConfirmTimedOut,
    /// The reporter's rating of the fix, 1 to 5.
    Rated {
        rating: u8,
    },
    /// The reporter thanked the crew after the fix (relayed to the crew's room).
    Thanked,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Status { .. } => "status",
            EventKind::Assigned { .. } => "assigned",
            EventKind::Visibility { .. } => "visibility",
            EventKind::Note { .. } => "note",
            EventKind::Comment { .. } => "comment",
            EventKind::Detail { .. } => "detail",
            EventKind::MeToo => "me_too",
            EventKind::LinkedDuplicate { .. } => "linked_duplicate",
            EventKind::LinkedRelated { .. } => "linked_related",
            EventKind::Located => "located",
            EventKind::Attached => "attached",
            EventKind::Anonymised => "anonymised",
            EventKind::Confirmed { .. } => "confirmed",
            EventKind::ConfirmTimedOut => "confirm_timed_out",
            EventKind::Rated { .. } => "rated",
            EventKind::Thanked => "thanked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trip() {
        let i: Identity = "matrix:@ana:jun.es".parse().unwrap();
        assert_eq!(i.channel(), "matrix");
        assert_eq!(i.id(), "@ana:jun.es");
        assert_eq!(i.to_string(), "matrix:@ana:jun.es");
        assert!("ana".parse::<Identity>().is_err());
        assert!(":ana".parse::<Identity>().is_err());
        assert!("tele gram:1".parse::<Identity>().is_err());
    }

    #[test]
    fn distance() {
        let a = GeoPoint { lat: 36.9870, lon: -2.4400 };
        let b = GeoPoint { lat: 36.9879, lon: -2.4400 };
        let d = a.distance_m(&b);
        assert!((95.0..106.0).contains(&d), "{d}");
    }

    #[test]
    fn status_parts_round_trip() {
        for s in [
            Status::Open,
            Status::Acknowledged,
            Status::InProgress,
            Status::Resolved,
            Status::Closed(CloseReason::Spam),
        ] {
            let r = s.close_reason().map(|r| r.as_str());
            assert_eq!(Status::from_parts(s.key(), r), Some(s));
        }
    }
}
