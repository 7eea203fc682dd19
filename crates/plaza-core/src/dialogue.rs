//! A resident's open question: what the bot asked and is waiting for.

use serde::{Deserialize, Serialize};

use crate::model::{Attachment, Place, TaskId, Timestamp};

/// A report still being put together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub text: String,
    pub language: String,
    pub place: Place,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "waiting_for", rename_all = "snake_case")]
pub enum Dialogue {
    /// We showed numbered categories; `choices[i]` is number i+1. `repeats`: how many
    /// times the question was asked again (never more than once in a row).
    Category {
        draft: Draft,
        choices: Vec<String>,
        since: Timestamp,
        #[serde(default)]
        repeats: u8,
    },
    /// The category needs a place; we asked where.
    Location {
        draft: Draft,
        category: String,
        since: Timestamp,
        #[serde(default)]
        repeats: u8,
        /// The place of the resident's last report, offered back ("¿En calle San Marcos 3,
        /// como la otra vez?").
        #[serde(default)]
        offered: Option<Place>,
    },
    /// The resident sent a place or a photo first; we asked what the problem is.
    Problem { draft: Draft, since: Timestamp },
    /// The resident asked to erase their data; we asked them to confirm.
    ConfirmErase { since: Timestamp },
    /// The resident said their task is fixed; we asked for a rating from 1 to 5.
    Rate { task: TaskId, since: Timestamp },
}

impl Dialogue {
    pub fn since(&self) -> Timestamp {
        match self {
            Dialogue::Category { since, .. }
            | Dialogue::Location { since, .. }
            | Dialogue::Problem { since, .. }
            | Dialogue::ConfirmErase { since }
            | Dialogue::Rate { since, .. } => *since,
        }
    }
}
