//! `plaza`: loads a town's config, wires the engine, the store and the channels, and runs
//! the sub-commands. Only wiring lives here.
//!
//! A town's own binary with another messenger is three lines (see docs/ADAPTERS.md):
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     plaza::main(plaza::Registry::standard() /* .channel(my_irc::Kind) */)
//! }
//! ```

mod bench;
pub mod conformance;
mod console;
mod registry;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

pub use registry::Registry;
pub use wiring::{check_config, serve_until};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "plaza", version, about = "Plaza: town-service bots. Residents report, crews fix, everybody sees.")]
struct Cli {
    /// How log lines are written (on standard error): `text` for people (coloured only
    /// on a terminal), `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to the bot from this terminal (or a script on standard input), no account needed.
    Console {
        /// The town's config file.
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        /// The SQLite database file; a second run with the same file continues where the first stopped.
        #[arg(long, default_value = "data/plaza.db")]
        db: PathBuf,
        /// Repeat each input line (as `> LINE`) before the bot's answers: a full transcript.
        #[arg(long)]
        echo: bool,
        /// Start the clock at this time (`2030-01-07T09:00:00Z`) instead of now: a script
        /// whose days matter (a morning digest) gives the same answers whenever it runs.
        #[arg(long)]
        clock: Option<String>,
    },
    /// Measure reports per second through the engine and the store (no messenger).
    Bench {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        /// `sqlite`, or a postgres:// URL of an empty database.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// With SQLite: a new database file (default: one in a temporary folder).
        #[arg(long)]
        db: Option<PathBuf>,
        #[arg(long, default_value_t = 20_000)]
        reports: usize,
        /// How many different residents write (default: one per report).
        #[arg(long)]
        residents: Option<usize>,
        /// How many reports are handled at the same time.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Reports offered per second (default: as fast as they are taken).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Run the town's bot on the messengers its config names (Telegram, Matrix) and its
    /// public board and Open311 API (`[web]`, `--listen`), until Ctrl-C.
    Serve {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        #[arg(long, default_value = "data/plaza.db")]
        db: PathBuf,
        /// Where the public board and Open311 API listen (overrides `[web] listen`),
        /// e.g. 127.0.0.1:8080; port 0 picks a free one.
        #[arg(long)]
        listen: Option<String>,
        /// With `[store]` on PostgreSQL: wait as a standby and take over when the running
        /// Plaza stops (or dies); without it a second Plaza on the database is refused.
        #[arg(long)]
        standby: bool,
    },
    /// A web-only process for a city on PostgreSQL: the public board and the Open311 API,
    /// beside the leading `plaza serve` (run as many as the load needs); what is posted
    /// goes to the leader through the database.
    Web {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        /// Where to listen (overrides `[web] listen`); port 0 picks a free one.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Fill a NEW database with made-up tasks spread over three years (for measuring
    /// the board, the stats and the Open311 API at a city's size; never a town's data).
    BenchSeed {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        /// A new database file (it must not exist).
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        tasks: usize,
    },
    /// Show what the classifier learned from the town's dispatchers, or test a sentence:
    /// `plaza classify "hay cristales rotos en el parque"`.
    Classify {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
        #[arg(long, default_value = "data/plaza.db")]
        db: PathBuf,
        /// A sentence to classify; without it, a summary of what was learned.
        text: Option<String>,
    },
    /// Check a config file and its locale files; every problem is reported with its key and line.
    Check {
        #[arg(long, default_value = "config/jun.toml")]
        config: PathBuf,
    },
}

/// Runs the `plaza` command line with the messengers and plugins `registry` knows.
pub fn main(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    // matrix-sdk logs every sync at info and logs expected 404s (a room without
    // encryption) as errors: keep it to its warnings unless RUST_LOG says otherwise.
    let default_level = match cli.command {
        Command::Console { .. } | Command::Bench { .. } | Command::BenchSeed { .. } | Command::Classify { .. } => {
            "warn"
        }
        _ => {
            "info,matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk_crypto=warn,matrix_sdk_crypto::backups=error,matrix_sdk::http_client=off"
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level))
        // matrix-sdk warns at every new room key while no server-side key backup is set
        // up (Plaza keeps its keys in its store folder instead; see README): not news.
        .add_directive("matrix_sdk_crypto::backups=error".parse().expect("a valid directive"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        // Colour codes only where a person reads them: not in a file or a pipe.
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plaza: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Console { config, db, echo, clock } => {
                wiring::console(&registry, &config, &db, echo, clock.as_deref()).await
            }
            Command::Check { config } => wiring::check(&registry, &config),
            Command::Classify { config, db, text } => wiring::classify(&registry, &config, &db, text.as_deref()).await,
            Command::Serve { config, db, listen, standby } => {
                wiring::serve_until(&registry, &config, &db, listen.as_deref(), standby, wiring::shutdown_signal())
                    .await
            }
            Command::Web { config, listen } => wiring::web_only(&registry, &config, listen.as_deref()).await,
            Command::BenchSeed { config, db, tasks } => {
                bench::seed(&registry, &config, &db, tasks).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Bench { config, backend, db, reports, residents, concurrency, rate } => {
                let o = bench::Options { config, backend, db, reports, residents, concurrency, rate };
                println!("{}", bench::run(&registry, o).await?);
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("plaza: {e:#}");
            ExitCode::FAILURE
        }
    }
}
