//! `tessera`: decode and encode session cookies and stored records, in tessera's own formats
//! and Flask's and Django's.

mod codec;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Operate on tessera, Flask and Django sessions.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        after_help = "Examples:\n  tessera record decode --profile django --secret-key \"$SECRET_KEY\" '.eJxVjTsOg…:1r31eq:…'\n  tessera record decode --profile flask-session 'gqR1c2VyomFk…'   # base64 of the msgpack"
    )]
    Decode {
        /// The record's format.
        #[arg(long, value_enum)]
        profile: RecordProfile,
        #[command(flatten)]
        keys: OptionalKeys,
        /// Django's `session_data`, or base64 of Flask-Session's msgpack value.
        value: String,
    },
    /// Print the stored record for a session given as JSON.
    #[command(
        after_help = "Example:\n  tessera record encode --profile flask-session '{\"_permanent\": true, \"user\": \"ada\"}'"
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
        /// The session as a JSON object.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match codec::run(cli.command) {
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
