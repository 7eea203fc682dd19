//! The store's tests: one conformance suite written against `dyn Store`, run on SQLite
//! and on a real PostgreSQL server, and the engine on SQLite.

mod conformance;
mod engine;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plaza_core::Store;
use plaza_store::{PgStore, SqliteStore};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("plaza.db")).await.expect("open sqlite"))
}

/// A fresh database from `scripts/postgres --database`: on the suite's server, or on one
/// started for this test and stopped when this is dropped (never skipped: no server is a
/// failure).
pub struct PgServer(tempfile::TempDir);

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(repo().join("scripts/postgres"))
            .arg("--stop")
            .arg(self.0.path().join("pg"))
            .status();
    }
}

/// A store on a fresh database of a real PostgreSQL server.
pub async fn postgres() -> (Arc<dyn Store>, PgServer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(repo().join("scripts/postgres"))
        .arg("--database")
        .arg(dir.path().join("pg"))
        .output()
        .expect("run scripts/postgres");
    assert!(out.status.success(), "scripts/postgres --database: {}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).expect("url").trim().to_owned();
    (Arc::new(PgStore::open(&url).await.expect("open postgres")), PgServer(dir))
}
