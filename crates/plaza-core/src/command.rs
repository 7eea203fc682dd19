//! The command grammar for crews, dispatchers and residents, in the town's languages:
//! `claim #12`, `hecho #12 cambiada la bombilla`, `/done 12`, `asignar #3 agua`, or, in
//! the thread of a task's card, just `done`.

use crate::model::TaskId;
use crate::text::fold;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Crew: we have seen it.
    Ack,
    /// Crew: we are on it (in progress).
    Claim,
    /// Crew: fixed.
    Done,
    /// Crew: a note, told to the reporter.
    Note,
    /// Crew or dispatcher: close with a reason (spam, unable, duplicate).
    Close,
    Reopen,
    /// Dispatcher: give the task a category (and so a crew).
    Assign,
    /// Dispatcher: mark as a duplicate of another task.
    Duplicate,
    /// Dispatcher: make public or private.
    Public,
    Private,
    /// Anyone: where is my task?
    Status,
    /// Resident: answer me in this language.
    Language,
    Help,
    /// Crew: "name me in public when I fix something" ("credit Luis", "credit off").
    Credit,
}

impl Verb {
    fn from_word(w: &str) -> Option<Verb> {
        Some(match w {
            "ack" | "seen" | "visto" | "recibido" => Verb::Ack,
            "claim" | "take" | "tomo" | "tomar" | "asumo" | "voy" => Verb::Claim,
            "done" | "fixed" | "resolved" | "hecho" | "resuelto" | "arreglado" | "listo" => Verb::Done,
            "note" | "nota" => Verb::Note,
            "close" | "cerrar" | "cierro" => Verb::Close,
            "reopen" | "reabrir" | "reabro" => Verb::Reopen,
            "assign" | "asignar" | "asigno" => Verb::Assign,
            "dup" | "duplicate" | "duplicado" => Verb::Duplicate,
            "public" | "publico" | "publicar" => Verb::Public,
            "private" | "privado" => Verb::Private,
            "status" | "estado" => Verb::Status,
            "language" | "idioma" | "lang" => Verb::Language,
            "help" | "ayuda" | "start" => Verb::Help,
            "credit" | "credito" => Verb::Credit,
            _ => return None,
        })
    }

    /// Changes a task: only its crew or a dispatcher may.
    pub fn is_crew_action(self) -> bool {
        matches!(self, Verb::Ack | Verb::Claim | Verb::Done | Verb::Note | Verb::Close | Verb::Reopen)
    }
    pub fn is_dispatcher_action(self) -> bool {
        matches!(self, Verb::Assign | Verb::Duplicate | Verb::Public | Verb::Private)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    pub task: Option<TaskId>,
    /// What follows the verb and task, as written.
    pub rest: String,
    /// Written with a leading `/`: certainly meant as a command.
    pub slash: bool,
}

/// Parses a command. `None` if the text does not start with a known verb.
pub fn parse(text: &str) -> Option<Command> {
    let t = text.trim();
    let (slash, t) = match t.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let mut parts = t.splitn(2, char::is_whitespace);
    let first = parts.next()?;
    // Telegram: /done@JunBot
    let first = first.split('@').next().unwrap_or(first);
    let verb = Verb::from_word(&fold(first))?;
    let mut rest = parts.next().unwrap_or("").trim_start();
    let mut task = None;
    if let Some((id, after)) = task_ref(rest) {
        task = Some(id);
        rest = after;
    }
    Some(Command { verb, task, rest: rest.trim().to_owned(), slash })
}

/// A message in the public room that names its task in the text, for channels without
/// replies or threads: `#12 la vi ayer` (an answer about task 12) or `yo también #12` /
/// `me too #12` → (12, the rest). Only with `#`: a bare number is a house number.
pub fn public_ref(text: &str) -> Option<(TaskId, String)> {
    let t = text.trim();
    if t.starts_with('#')
        && let Some((id, rest)) = task_ref(t)
    {
        return Some((id, rest.to_owned()));
    }
    let (head, last) = t.rsplit_once(char::is_whitespace)?;
    let (id, after) = task_ref(last.strip_prefix('#').map(|_| last)?)?;
    after.is_empty().then(|| (id, head.trim_end_matches([',', ':']).trim().to_owned()))
}

/// `#12 rest` or `12 rest` → (12, "rest").
pub fn task_ref(s: &str) -> Option<(TaskId, &str)> {
    let s = s.trim_start();
    let (hash, body) = match s.strip_prefix('#') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
    if end == 0 || end > 12 {
        return None;
    }
    let after = &body[end..];
    if !(after.is_empty() || after.starts_with(char::is_whitespace) || after.starts_with([',', '.', ':'])) {
        return None;
    }
    // "#1.5" or "#1,5" is not task 1 followed by "5".
    if after.starts_with([',', '.', ':']) && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !hash && body[..end].len() > 9 {
        return None;
    }
    let n: i64 = body[..end].parse().ok()?;
    Some((TaskId(n), after.trim_start_matches([',', '.', ':']).trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_refs() {
        let c = parse("done #12 cambiada la bombilla").unwrap();
        assert_eq!((c.verb, c.task, c.rest.as_str()), (Verb::Done, Some(TaskId(12)), "cambiada la bombilla"));
        let c = parse("/hecho@JunBot 7").unwrap();
        assert_eq!((c.verb, c.task, c.slash), (Verb::Done, Some(TaskId(7)), true));
        let c = parse("Tomo #3").unwrap();
        assert_eq!((c.verb, c.task), (Verb::Claim, Some(TaskId(3))));
        let c = parse("asignar #3 agua").unwrap();
        assert_eq!((c.verb, c.task, c.rest.as_str()), (Verb::Assign, Some(TaskId(3)), "agua"));
        let c = parse("dup #4 #1").unwrap();
        assert_eq!((c.verb, c.task, c.rest.as_str()), (Verb::Duplicate, Some(TaskId(4)), "#1"));
        let c = parse("done").unwrap();
        assert_eq!((c.verb, c.task), (Verb::Done, None));
    }

    #[test]
    fn public_refs() {
        assert_eq!(public_ref("#12 la vi ayer"), Some((TaskId(12), "la vi ayer".into())));
        assert_eq!(public_ref("yo también #3"), Some((TaskId(3), "yo también".into())));
        assert_eq!(public_ref("me too, #3"), Some((TaskId(3), "me too".into())));
        assert_eq!(public_ref("la farola de la calle Real 3"), None);
        assert_eq!(public_ref("#1.5 algo"), None);
        assert_eq!(public_ref("hola"), None);
    }

    #[test]
    fn not_commands() {
        assert_eq!(parse("la farola está apagada"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("#1"), None);
        let c = parse("hecho polvo el banco").unwrap();
        assert_eq!(c.task, None);
        assert_eq!(task_ref("12abc"), None);
        assert_eq!(task_ref("#99999999999999"), None);
        assert_eq!(task_ref("#1.5"), None);
        assert_eq!(parse("tomo #1.5").map(|c| c.task), Some(None));
        assert_eq!(task_ref("#1. ok"), Some((TaskId(1), "ok")));
    }
}
