//! `tessera`: operate session stores (list, inspect, count, delete, clear expired sessions,
//! migrate between stores and formats), make keys, and decode and encode session cookies and
//! stored records in tessera's own formats and Flask's and Django's.

mod codec;
mod keygen;
mod out;
mod store;

use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

/// Operate on tessera, Flask and Django sessions.
///
/// Store commands read the library's settings from the environment (SESSION_URL,
/// SESSION_CACHE_URL, SECRET_KEY, SECRET_KEY_FALLBACKS, SESSION_PROFILE, SESSION_KEY_PREFIX,
/// SESSION_STORE_TIMEOUT_MS, ...); flags override them.
///
/// Exit codes: 0 success; 1 the store failed; 2 bad usage or configuration; 3 the command
/// ran but some sessions could not be handled (migrate).
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the sessions a store holds (ids shown hashed).
    List(store::ListArgs),
    /// Show one stored session: deadline and keys (values with --show-values).
    Inspect(store::InspectArgs),
    /// Count a store's sessions: sizes, a size histogram, what expires soon.
    Stats(store::StatsArgs),
    /// Delete sessions by id.
    Delete(store::DeleteArgs),
    /// Remove expired sessions (Django's clearsessions), in batches.
    ClearExpired(store::ClearArgs),
    /// Copy live sessions to another store or format, keeping ids and deadlines.
    Migrate(store::MigrateArgs),
    /// Print a new secret key.
    Keygen(keygen::KeygenArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  tessera completions bash > /etc/bash_completion.d/tessera"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Session cookies: the whole session (cookie sessions) in the cookie.
    #[command(subcommand)]
    Cookie(CookieCommand),
    /// Stored records: Django's `session_data`, Flask-Session's msgpack.
    #[command(subcommand)]
    Record(RecordCommand),
}

#[derive(Debug, Subcommand)]
enum CookieCommand {
    /// Print the session in a cookie value as JSON.
    #[command(
        after_help = "Example:\n  tessera cookie decode --profile flask --secret-key \"$SECRET_KEY\" 'eyJ1c2VyIjoiYWRhIn0.ZVPxAA.…'"
    )]
    Decode {
        #[command(flatten)]
        keys: Keys,
        #[command(flatten)]
        cookie: CookieArgs,
        /// Judge expiry as of this Unix time instead of now.
        #[arg(long, value_name = "UNIX_SECONDS")]
        now: Option<i64>,
        /// The cookie's value (without `name=`).
        cookie_value: String,
    },
    /// Print the cookie value for a session given as JSON.
    #[command(
        after_help = "Example:\n  tessera cookie encode --profile django --secret-key \"$SECRET_KEY\" --timestamp 1700000000 '{\"user\": \"ada\"}'"
    )]
    Encode {
        #[command(flatten)]
        keys: Keys,
        #[command(flatten)]
        cookie: CookieArgs,
        /// Sign at this Unix time (the output is then deterministic for flask and django).
        #[arg(long, value_name = "UNIX_SECONDS")]
        timestamp: Option<i64>,
        /// Native profile only: encrypt instead of sign.
        #[arg(long)]
        encrypted: bool,
        /// Native profile only: deflate the payload when that makes it shorter.
        #[arg(long)]
        compress: bool,
        /// The session as a JSON object, as the framework holds it (Flask's `_permanent`,
        /// Django's `_session_expiry` included).
        json: String,
    },
}

#[derive(Debug, Subcommand)]
enum RecordCommand {
    /// Print a stored record as JSON.
    #[command(
        after_help = "Examples:\n  tessera record decode --profile django --secret-key \"$SECRET_KEY\" '.eJxVjTsOg…:1r31eq:…'\n  tessera record decode --profile flask-session 'gqR1c2VyomFk…'   # base64 of the msgpack\n  tessera record decode --profile native 'AYKhZIGkdXNlcqNhZGGheM5w29iA'   # base64 of tessera's record"
    )]
    Decode {
        /// The record's format.
        #[arg(long, value_enum)]
        profile: RecordProfile,
        #[command(flatten)]
        keys: OptionalKeys,
        /// Django's `session_data`, or base64 of Flask-Session's msgpack value or of tessera's
        /// own record (binary, or the JSON of earlier releases); tessera's prints the whole
        /// record (`d` data, `e` expiry, `x` deadline, …), the others the session dict.
        value: String,
    },
    /// Print the stored record for a session given as JSON.
    #[command(
        after_help = "Examples:\n  tessera record encode --profile flask-session '{\"_permanent\": true, \"user\": \"ada\"}'\n  tessera record encode --profile native '{\"d\": {\"user\": \"ada\"}, \"x\": 1893456000}'"
    )]
    Encode {
        /// The record's format.
        #[arg(long, value_enum)]
        profile: RecordProfile,
        #[command(flatten)]
        keys: OptionalKeys,
        /// Django only: sign at this Unix time.
        #[arg(long, value_name = "UNIX_SECONDS")]
        timestamp: Option<i64>,
        /// The session as a JSON object; for `native`, the whole record as `record decode`
        /// prints it. Prints base64 of the bytes, except Django's (text already).
        json: String,
    },
}

/// The secret keys that sign cookies.
#[derive(Debug, Args)]
struct Keys {
    /// Which framework's format.
    #[arg(long, value_enum)]
    profile: CookieProfile,
    /// The secret key (at least 32 bytes); defaults to $SECRET_KEY.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    /// An older key still accepted; repeat for several.
    #[arg(long = "fallback-key", value_name = "KEY")]
    fallback_keys: Vec<String>,
}

/// Secret keys for record formats that need them (Django's).
#[derive(Debug, Args)]
struct OptionalKeys {
    /// The secret key (Django's records are signed); defaults to $SECRET_KEY.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// An older key still accepted; repeat for several.
    #[arg(long = "fallback-key", value_name = "KEY")]
    fallback_keys: Vec<String>,
}

#[derive(Debug, Args)]
struct CookieArgs {
    /// The session lifetime in seconds: Flask's PERMANENT_SESSION_LIFETIME (default 31
    /// days), Django's SESSION_COOKIE_AGE (default 2 weeks), tessera's lifetime (31 days).
    #[arg(long, value_name = "SECONDS")]
    max_age: Option<i64>,
    /// The cookie's name; tessera binds it into the signature.
    #[arg(long, default_value = "session")]
    cookie_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CookieProfile {
    /// tessera's own signed or encrypted cookie.
    Native,
    /// Flask's built-in cookie session.
    Flask,
    /// Django's `signed_cookies` session engine.
    Django,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RecordProfile {
    /// Django's `session_data` (db, cached_db and file engines).
    Django,
    /// Flask-Session 0.8's msgpack records.
    FlaskSession,
    /// tessera's own record, as its server-side stores keep it.
    Native,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ran = match cli.command {
        Command::List(args) => store::block_on(store::list(args)),
        Command::Inspect(args) => store::block_on(store::inspect(args)),
        Command::Stats(args) => store::block_on(store::stats(args)),
        Command::Delete(args) => store::block_on(store::delete(args)),
        Command::ClearExpired(args) => store::block_on(store::clear_expired(args)),
        Command::Migrate(args) => store::block_on(store::migrate(args)),
        Command::Keygen(args) => {
            return keygen::run(&args);
        }
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics if its writer fails.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tessera", &mut script);
            let written = std::io::Write::write_all(&mut std::io::stdout().lock(), &script);
            return match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("tessera: cannot write the script: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            };
        }
        command => return codecs(command),
    };
    match ran.and_then(|done| done) {
        Ok(()) | Err(store::Failure::Closed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tessera: {failure}");
            failure.exit_code()
        }
    }
}

fn codecs(command: Command) -> ExitCode {
    match codec::run(command) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("tessera: {reason}");
            ExitCode::FAILURE
        }
    }
}
