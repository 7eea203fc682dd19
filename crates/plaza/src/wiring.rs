//! Builds a running Plaza from a config file: config, locales, plugins, store, engine,
//! channels.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use plaza_core::clock::{Clock, ShiftedClock};
use plaza_core::{Channel, Config, Dispatcher, Engine, Locales, Plugin, Runtime, Store};
use plaza_store::SqliteStore;

use crate::console::ConsoleChannel;

/// Every plugin this binary knows, by the name a config enables it with.
fn plugin_registry() -> Vec<Arc<dyn Plugin>> {
    vec![Arc::new(plaza_plugin_lost_and_found::LostAndFound)]
}

/// The plugins the config enables (`[plugins.NAME]`, unless `enabled = false`).
fn enabled_plugins(cfg: &Config) -> Result<Vec<Arc<dyn Plugin>>, Vec<String>> {
    let known = plugin_registry();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, table) in &cfg.plugins {
        if table.get("enabled").and_then(|v| v.as_bool()) == Some(false) {
            continue;
        }
        match known.iter().find(|p| p.name() == name) {
            Some(p) => out.push(p.clone()),
            None => errors.push(format!(
                "plugins.{name}: unknown plugin (known: {})",
                known.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Loads and checks everything a config names. Returns the problems as lines.
/// A checked config with what it names.
type Loaded = (Arc<Config>, Arc<Locales>, Vec<Arc<dyn Plugin>>);

fn load(path: &Path) -> Result<Loaded, Vec<String>> {
    let cfg = Config::load(path).map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
    let file = path.display().to_string();
    let plugins =
        enabled_plugins(&cfg).map_err(|errs| errs.into_iter().map(|e| format!("{file}: {e}")).collect::<Vec<_>>())?;
    let extra: Vec<&str> = plugins.iter().flat_map(|p| p.messages()).collect();
    let locales = Locales::load(&cfg.locales_dir(), &cfg.town.languages, &cfg.town.default_language, &extra)
        .map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    Ok((Arc::new(cfg), Arc::new(locales), plugins))
}

/// Loads a config, or fails with every problem found.
pub fn load_or_fail(path: &Path) -> Result<Loaded> {
    load(path).map_err(|errors| anyhow::anyhow!(errors.join("\n")))
}

pub fn check(path: &Path) -> Result<ExitCode> {
    match load(path) {
        Ok((cfg, _, plugins)) => {
            println!(
                "{}: OK — {}: {} categories, {} crews, languages {}, plugins: {}",
                path.display(),
                cfg.town.name,
                cfg.categories.len(),
                cfg.crews.len(),
                cfg.town.languages.join(", "),
                if plugins.is_empty() {
                    "none".to_owned()
                } else {
                    plugins.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>().join(", ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            println!("{} problem{} found", errors.len(), if errors.len() == 1 { "" } else { "s" });
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn console(config: &Path, db: &Path, echo: bool) -> Result<ExitCode> {
    let (cfg, locales, plugins) = match load(config) {
        Ok(x) => x,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(db).await.with_context(|| format!("opening the database {}", db.display()))?);
    let clock = Arc::new(ShiftedClock::default());
    let rooms = cfg.room_names();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!(
            "Plaza console — {}. Write `NAME: message` (a resident), `NAME in ROOM: message`, `NAME in ROOM re #N: reply`, `NAME at LAT,LON`. Rooms: {}. Ctrl-D to quit.",
            cfg.town.name,
            rooms.join(", ")
        );
    }
    let input = Box::new(tokio::io::BufReader::new(tokio::io::stdin()));
    let channel: Arc<dyn Channel> =
        Arc::new(ConsoleChannel::new(rooms.clone(), input, Box::new(std::io::stdout()), echo, clock.clone()));
    let clock: Arc<dyn Clock> = clock;
    let engine = Engine::start(cfg, locales, store, clock, plugins, &[(channel.name().to_owned(), rooms)]).await?;
    let dispatcher = Arc::new(Dispatcher::new(engine.clone(), vec![channel.clone()]));
    let runtime = Arc::new(Runtime { engine, dispatcher });
    channel.run(runtime.clone()).await?;
    plaza_core::Inbox::settle(runtime.as_ref()).await;
    Ok(ExitCode::SUCCESS)
}
