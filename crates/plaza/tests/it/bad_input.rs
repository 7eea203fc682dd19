//! Input no transcript file can hold: 100 KB messages, control characters, invalid UTF-8.

use crate::{console, jun_config};

#[test]
fn huge_control_and_invalid_input_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plaza.db");
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice("ana: La farola de la calle Alemania 5 está apagada\n".as_bytes());
    input.extend_from_slice(b"ana: ");
    input.extend(std::iter::repeat_n(b'a', 100_000));
    input.push(b'\n');
    input.extend_from_slice(b"ana: \x07\x00\x1b \x08\n");
    input.extend_from_slice("bea: La farola\x07 de la calle\x00 Sol 3 está\u{200B} apagada\x1b\n".as_bytes());
    input.extend_from_slice(b"carlos: hay un bache en la calle Real 1 \xff\xfe\n");
    input.extend_from_slice("ana: estado #1\n".as_bytes());
    let out = console(&jun_config(), &db, &input);
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("> ")).collect();

    // The 100 KB message gets an answer that says why, and creates nothing.
    assert!(
        lines.contains(&"@ana <- Tu mensaje es demasiado largo (100000 caracteres; el máximo es 4000). ¿Puedes resumirlo en unas líneas?"),
        "{out}"
    );
    // Only control characters: treated as empty.
    assert!(lines.contains(&"@ana <- No he recibido ningún texto. Cuéntame qué problema has visto y dónde."), "{out}");
    // Control characters are removed from a real report, which goes through.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("public <- 📢 #2 ") && l.contains("«La farola de la calle Sol 3 está apagada»")),
        "{out}"
    );
    // Invalid UTF-8 is replaced, not fatal.
    assert!(lines.iter().any(|l| l.starts_with("roads <- 🆕 #3 · Calzada y aceras · calle Real 1")), "{out}");
    // The bytes that were not UTF-8 reach nobody as "��" (issue 9).
    assert!(lines.iter().all(|l| !l.contains('\u{FFFD}')), "{out}");
    assert!(lines.contains(&"@ana <- Aviso #1 (Alumbrado público, calle Alemania 5): abierto."), "{out}");
    // No line of output is longer than what a message may be (the echo aside).
    assert!(lines.iter().all(|l| l.len() < 5_000), "an answer repeated the huge message");

    // Nothing was lost: a second run on the same file still has all three.
    let out = console(&jun_config(), &db, "ana: estado #1\nbea: estado #2\ncarlos: estado #3\n".as_bytes());
    assert!(out.contains("@ana <- Aviso #1 (Alumbrado público, calle Alemania 5): abierto."), "{out}");
    assert!(out.contains("@bea <- Aviso #2 (Alumbrado público, calle Sol 3): abierto."), "{out}");
    assert!(out.contains("@carlos <- Aviso #3 (Calzada y aceras, calle Real 1): abierto."), "{out}");
}

#[test]
fn the_same_report_again_is_collapsed_into_the_first() {
    // The console gives each line its own id; the engine's redelivery dedupe is tested
    // through the store in plaza-store's tests. Here: the same words sent again by the
    // same resident (issue 9: 50 times) make no new task, no crew message and no edit.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plaza.db");
    let line = "ana: La farola de la calle Alemania 5 está apagada\n";
    let out = console(&jun_config(), &db, line.repeat(50).as_bytes());
    let bot: Vec<&str> = out.lines().filter(|l| !l.starts_with("> ")).collect();
    assert_eq!(bot.len(), 3, "one acknowledgement, one card, one post:\n{out}");
    assert!(!out.contains("#2"), "{out}");
}

/// Flood control at the DEFAULT limit (20 reports an hour): the 21st and later get a
/// polite answer, the dispatchers are told once, by task numbers; another resident is
/// not affected.
#[test]
fn a_flood_of_reports_is_held_at_the_default_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plaza.db");
    let mut input = String::new();
    for i in 1..=25 {
        input.push_str(&format!("pep: hay un bache en la calle Nueva {i}\n"));
    }
    input.push_str("ana: La farola de la calle Alemania 5 está apagada\n");
    let out = console(&jun_config(), &db, input.as_bytes());
    let acks = out.lines().filter(|l| l.starts_with("@pep <- Gracias. Tu aviso #")).count();
    let held = out.lines().filter(|l| l.starts_with("@pep <- Has enviado muchos avisos")).count();
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("triage <- ⚠")).collect();
    assert_eq!((acks, held), (20, 5), "{out}");
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(warnings[0].contains("#1, #2") && !warnings[0].contains("pep"), "{}", warnings[0]);
    assert!(out.contains("@ana <- Gracias. Tu aviso #21 (Alumbrado público)"), "{out}");
}

/// Issue 9: logs written to a file or a pipe carry no colour codes; `--log-format json`
/// writes one JSON object a line for log collectors.
#[test]
fn logs_to_a_pipe_are_plain_text_or_json() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |format: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"))
            .args(["--log-format", format, "console", "--config"])
            .arg(jun_config())
            .arg("--db")
            .arg(dir.path().join(format!("{format}.db")))
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plaza");
        child.stdin.take().expect("stdin").write_all(b"ana: hola\n").expect("write");
        let out = child.wait_with_output().expect("ran");
        assert!(out.status.success());
        String::from_utf8(out.stderr).expect("utf-8")
    };
    let text = run("text");
    assert!(text.contains("engine state loaded") && !text.contains('\u{1b}'), "{text:?}");
    let json = run("json");
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
}
