//! The store's tests: one conformance suite written against `dyn Store`, run on SQLite
//! and on a real PostgreSQL server, and the engine on SQLite.

mod conformance;
mod engine;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plaza_core::Store;
use plaza_store::{PgStore, SqliteStore};
use sqlx::Connection;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("plaza.db")).await.expect("open sqlite"))
}

/// A PostgreSQL server started by `scripts/postgres` for one test, stopped when dropped
/// (None: the test suite's shared server, `PLAZA_TEST_POSTGRES`, started by scripts/test).
pub struct PgServer(Option<tempfile::TempDir>);

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::process::Command::new(repo().join("scripts/postgres")).arg("--stop").arg(dir.path()).status();
        }
    }
}

/// A store on a fresh database of a real PostgreSQL server: the suite's shared one, or
/// one started for this test (never skipped: no server is a failure).
pub async fn postgres() -> (Arc<dyn Store>, PgServer) {
    let (admin, server) = match std::env::var("PLAZA_TEST_POSTGRES") {
        Ok(url) => (url, PgServer(None)),
        Err(_) => {
            let dir = tempfile::tempdir().expect("tempdir");
            let out = std::process::Command::new(repo().join("scripts/postgres"))
                .arg("--start")
                .arg(dir.path().join("pg"))
                .output()
                .expect("run scripts/postgres");
            assert!(out.status.success(), "scripts/postgres --start: {}", String::from_utf8_lossy(&out.stderr));
            (String::from_utf8(out.stdout).expect("url").trim().to_owned(), PgServer(Some(dir)))
        }
    };
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "plaza_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create db");
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("a PostgreSQL URL ends with a database name: {admin}"),
    };
    (Arc::new(PgStore::open(&url).await.expect("open postgres")), server)
}
