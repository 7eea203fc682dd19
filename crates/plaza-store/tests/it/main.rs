//! The store's tests: one conformance suite written against `dyn Store` (run here on
//! SQLite; a PostgreSQL backend runs the same functions), and the engine on SQLite.

mod conformance;
mod engine;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plaza_core::Store;
use plaza_store::SqliteStore;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("plaza.db")).await.expect("open sqlite"))
}
