//! Configuration (SPEC §6): every setting is a flag and an environment
//! variable, both listed by `--help`; a flag wins over its variable.
//!
//! Each default is defined once, here, and read by both the command line
//! and [`Config::default`] (which tests and benchmarks start from).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, CommandFactory, Parser};

const DEFAULT_PORT: u16 = 3050;
const DEFAULT_DATABASE_URL: &str = "sqlite://fieldsync.sqlite";
const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
const DEFAULT_MAX_SOCKETS_PER_USER: usize = 32;
/// Seconds (text, as the flag takes it; `Default` reads the same text).
const DEFAULT_WS_AUTH_TIMEOUT_SECS: &str = "10";
const DEFAULT_MAX_PAGE: u32 = 1000;
const DEFAULT_MAX_CLOCK_DRIFT_MS: u64 = fieldsync_core::hlc::DEFAULT_MAX_DRIFT_MS;

/// Server configuration.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "fieldsync-server",
    version,
    about = "The fieldsync sync server: field-level last-write-wins sync over HTTP and WebSocket (SPEC §2).",
    after_help = "Every setting can be given as a flag or as the environment variable shown; the flag wins."
)]
pub struct Config {
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The database: a SQLite URL or file path (created if missing), or
    /// postgres://user:pass@host/db.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// HS256 secret that signs bearer tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JWKS endpoint for EdDSA/ES256/RS256 tokens.
    #[arg(long, env = "JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Required `aud` claim (the token's `aud`, a string or an array, must
    /// name it); tokens without `aud` are refused.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required `iss` claim; tokens without `iss` are refused.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Comma-separated allowed origins; unset or `*`: any (tokens travel in
    /// headers, never cookies).
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Development mode: mints tokens for any user name at POST /dev/token.
    /// Never in production. The variable takes 1/true/yes or 0/false/no.
    #[arg(long = "dev", env = "FIELDSYNC_DEV", action = clap::ArgAction::SetTrue, value_parser = Switch)]
    pub dev_mode: bool,
    /// Development mode only: serve this directory's files at / (the demo
    /// app).
    #[arg(long, env = "FIELDSYNC_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Largest request body, in bytes; a larger push is answered 413.
    #[arg(
        long,
        env = "FIELDSYNC_MAX_BODY_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES,
        value_parser = Number::<usize>::new(1, 1 << 40, "a number of bytes"),
    )]
    pub max_body_bytes: usize,
    /// Most WebSockets one user may hold open per app.
    #[arg(
        long,
        env = "FIELDSYNC_MAX_SOCKETS_PER_USER",
        value_name = "N",
        default_value_t = DEFAULT_MAX_SOCKETS_PER_USER,
        value_parser = Number::<usize>::new(1, 1_000_000, "a number of sockets"),
    )]
    pub max_sockets_per_user: usize,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(
        long,
        env = "FIELDSYNC_MAX_WS_MESSAGE_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_WS_MESSAGE_BYTES,
        value_parser = Number::<usize>::new(256, 1 << 30, "a number of bytes"),
    )]
    pub max_ws_message_bytes: usize,
    /// Largest pull page (records); a pull asking for more gets this many.
    #[arg(
        long,
        env = "FIELDSYNC_MAX_PAGE",
        value_name = "N",
        default_value_t = DEFAULT_MAX_PAGE,
        value_parser = Number::<u32>::new(1, 100_000, "a number of records"),
    )]
    pub max_page: u32,
    /// How far ahead of the server's clock a device's stamp may be, in
    /// milliseconds; later stamps are re-stamped (SPEC §3).
    #[arg(
        long,
        env = "FIELDSYNC_MAX_CLOCK_DRIFT_MS",
        value_name = "MS",
        default_value_t = DEFAULT_MAX_CLOCK_DRIFT_MS,
        value_parser = Number::<u64>::new(0, 365 * 86_400_000, "a number of milliseconds"),
    )]
    pub max_clock_drift_ms: u64,
    /// How long a new WebSocket has to send its `auth` message, in seconds
    /// (decimals allowed).
    #[arg(
        long = "ws-auth-timeout-secs",
        env = "FIELDSYNC_WS_AUTH_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = DEFAULT_WS_AUTH_TIMEOUT_SECS,
        value_parser = Seconds,
    )]
    pub ws_auth_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            database_url: DEFAULT_DATABASE_URL.into(),
            jwt_secret: None,
            jwks_url: None,
            jwt_audience: None,
            jwt_issuer: None,
            cors_origins: None,
            dev_mode: false,
            static_dir: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_sockets_per_user: DEFAULT_MAX_SOCKETS_PER_USER,
            max_ws_message_bytes: DEFAULT_MAX_WS_MESSAGE_BYTES,
            max_page: DEFAULT_MAX_PAGE,
            max_clock_drift_ms: DEFAULT_MAX_CLOCK_DRIFT_MS,
            ws_auth_timeout: Duration::from_secs_f64(
                DEFAULT_WS_AUTH_TIMEOUT_SECS.parse().unwrap_or_default(),
            ),
        }
    }
}

impl Config {
    /// Reads the command line (`args`, the program name first) over the
    /// process environment. `--help` and `--version` come back as errors
    /// whose [`clap::Error::exit`] prints them and exits 0.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Config::try_parse_from(args)?.checked()
    }

    /// What the flags cannot say on their own: empty values mean unset (as
    /// `JWT_SECRET=` in an env file does), `*` among the origins means any,
    /// and static files only in development mode.
    fn checked(mut self) -> Result<Config, clap::Error> {
        for value in [
            &mut self.jwt_secret,
            &mut self.jwks_url,
            &mut self.jwt_audience,
            &mut self.jwt_issuer,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        self.cors_origins = self.cors_origins.and_then(|origins| {
            let origins: Vec<String> = origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            (!origins.is_empty() && !origins.iter().any(|o| o == "*")).then_some(origins)
        });
        self.static_dir = self.static_dir.filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = &self.static_dir {
            if !self.dev_mode {
                return Err(Config::command().error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "--static-dir (FIELDSYNC_STATIC_DIR) {} serves files only in development mode; add --dev (FIELDSYNC_DEV=1), or serve your app with a web server of its own",
                        dir.display()
                    ),
                ));
            }
            if !dir.is_dir() {
                return Err(Config::command().error(
                    ErrorKind::ValueValidation,
                    format!(
                        "--static-dir (FIELDSYNC_STATIC_DIR) {}: no such directory (build the demo with scripts/demo, or give the path to your built app)",
                        dir.display()
                    ),
                ));
            }
        }
        Ok(self)
    }
}

/// `--flag (VARIABLE)`, as error messages name a setting.
fn setting(arg: Option<&Arg>) -> String {
    let Some(arg) = arg else {
        return "a setting".into();
    };
    let flag = arg
        .get_long()
        .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
    match arg.get_env() {
        Some(env) => format!("{flag} ({})", env.to_string_lossy()),
        None => flag,
    }
}

fn invalid(cmd: &clap::Command, arg: Option<&Arg>, value: &OsStr, expected: &str) -> clap::Error {
    cmd.clone().error(
        ErrorKind::ValueValidation,
        format!(
            "invalid value {:?} for {}: expected {expected}",
            value.to_string_lossy(),
            setting(arg)
        ),
    )
}

/// A whole number within bounds.
#[derive(Clone, Copy)]
struct Number<T> {
    min: u64,
    max: u64,
    what: &'static str,
    kind: std::marker::PhantomData<T>,
}

impl<T> Number<T> {
    const fn new(min: u64, max: u64, what: &'static str) -> Self {
        Number {
            min,
            max,
            what,
            kind: std::marker::PhantomData,
        }
    }
}

impl<T> TypedValueParser for Number<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        value
            .to_str()
            .and_then(|v| v.trim().replace('_', "").parse::<u64>().ok())
            .filter(|n| (self.min..=self.max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                let expected = format!(
                    "{}, a whole number from {} to {}",
                    self.what, self.min, self.max
                );
                invalid(cmd, arg, value, &expected)
            })
    }
}

/// Seconds, decimals allowed, more than 0 and at most an hour.
#[derive(Clone, Copy)]
struct Seconds;

impl TypedValueParser for Seconds {
    type Value = Duration;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Duration, clap::Error> {
        value
            .to_str()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                invalid(
                    cmd,
                    arg,
                    value,
                    "a number of seconds above 0 and at most 3600, e.g. 10 or 2.5",
                )
            })
    }
}

/// An on/off switch as environment files write it.
#[derive(Clone, Copy)]
struct Switch;

impl TypedValueParser for Switch {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<bool, clap::Error> {
        match value
            .to_str()
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("" | "0" | "false" | "no" | "off") => Ok(false),
            _ => Err(invalid(
                cmd,
                arg,
                value,
                "1, true or yes (on); 0, false or no (off)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    /// Flags only: the process environment must not leak in (a developer's
    /// `PORT`…). The variables are tested on the binary, with an environment
    /// of the test's own (tests/config.rs).
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let command = Config::command().mut_args(|arg| arg.env(None::<&str>));
        let args = std::iter::once("fieldsync-server").chain(args.iter().copied());
        Config::from_arg_matches(&command.try_get_matches_from(args)?)?.checked()
    }

    #[test]
    fn the_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_command_line_defaults() {
        let (parsed, default) = (parse(&[]).unwrap(), Config::default());
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn flags_set_every_limit() {
        let c = parse(&[
            "--port=4000",
            "--max-body-bytes",
            "2048",
            "--max-ws-message-bytes",
            "4096",
            "--max-sockets-per-user",
            "3",
            "--ws-auth-timeout-secs",
            "2.5",
            "--max-page",
            "7",
            "--max-clock-drift-ms",
            "0",
            "--cors-origins",
            "http://a, http://b",
        ])
        .unwrap();
        assert_eq!(c.port, 4000);
        assert_eq!(
            (
                c.max_body_bytes,
                c.max_ws_message_bytes,
                c.max_sockets_per_user,
                c.ws_auth_timeout,
                c.max_page,
                c.max_clock_drift_ms
            ),
            (2048, 4096, 3, Duration::from_millis(2500), 7, 0)
        );
        assert_eq!(c.cors_origins.unwrap(), ["http://a", "http://b"]);
        assert_eq!(
            parse(&["--cors-origins", "http://a,*"])
                .unwrap()
                .cors_origins,
            None,
            "`*` means any origin"
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, names) in [
            (&["--max-page", "0"][..], "--max-page"),
            (&["--max-body-bytes", "ten"][..], "--max-body-bytes"),
            (&["--ws-auth-timeout-secs=-1"][..], "--ws-auth-timeout-secs"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(names), "{err}");
            assert!(err.contains("expected"), "{err}");
        }
        let err = parse(&["--nope"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn static_files_only_in_development_mode() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().unwrap();
        let err = parse(&["--static-dir", dir]).unwrap_err().to_string();
        assert!(err.contains("--dev"), "{err}");
        let err = parse(&["--dev", "--static-dir", "/no/such/dir"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such directory"), "{err}");
        let c = parse(&["--dev", "--static-dir", dir]).unwrap();
        assert!(c.dev_mode);
        assert_eq!(c.static_dir.as_deref(), Some(std::path::Path::new(dir)));
    }
}
