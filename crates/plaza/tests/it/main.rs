#![recursion_limit = "256"]
//! End-to-end tests of the `plaza` binary: scripted conversations through the real
//! engine, the SQLite store on disk and the console channel; bad input; `plaza check`.

mod bad_input;
mod bench;
mod check;
mod conformance;
mod conversations;
mod corpus;
mod disk;
mod email;
mod harness;
mod matrix;
mod memory;
mod postgres;
mod privacy;
mod registry;
mod telegram;
mod web;
mod web_chat;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn jun_config() -> PathBuf {
    repo().join("config/jun.toml")
}

/// Runs `plaza console --echo` on `input` with the database `db`; returns stdout.
pub fn console(config: &Path, db: &Path, input: &[u8]) -> String {
    console_at(config, db, input, None)
}

/// The same with the clock started at `start` (`2030-01-07T09:00:00Z`).
pub fn console_at(config: &Path, db: &Path, input: &[u8], start: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"));
    child.args(["console", "--echo"]);
    if let Some(s) = start {
        child.args(["--clock", s]);
    }
    let mut child = child
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start plaza");
    child.stdin.take().expect("stdin").write_all(input).expect("write input");
    let out = child.wait_with_output().expect("plaza ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plaza console failed: {}\n{stderr}", out.status);
    String::from_utf8(out.stdout).expect("plaza writes UTF-8")
}

/// A child process killed when the test ends, however it ends.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts one of the project's scripts and waits for the line it prints that starts
/// with `prefix` (e.g. "READY "); returns the process and the rest of that line.
pub fn start_script(mut cmd: Command, prefix: &'static str, what: &str) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e} (scripts/test installs what it needs)"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let proc = Proc(child);
    let rest = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{what} did not start (see its output above)"));
    (proc, rest)
}
