//! Configuration from environment variables (SPEC §6), mirrored by flags.

use std::fmt::Write as _;

/// Server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// TCP port (`PORT`, `--port`), default 3050.
    pub port: u16,
    /// `DATABASE_URL` (`--database-url`): a SQLite URL or file path (default
    /// `sqlite://fieldsync.sqlite` in the working directory), or
    /// `postgres://…`.
    pub database_url: String,
    /// `JWT_SECRET`: HS256 secret.
    pub jwt_secret: Option<String>,
    /// `JWKS_URL`: a JWKS for EdDSA, ES256 and RS256 tokens.
    pub jwks_url: Option<String>,
    /// `JWT_AUDIENCE`: required `aud`, when set.
    pub jwt_audience: Option<String>,
    /// `JWT_ISSUER`: required `iss`, when set.
    pub jwt_issuer: Option<String>,
    /// `CORS_ORIGINS`: comma-separated allowed origins; unset or `*`: any
    /// (tokens travel in headers, never cookies).
    pub cors_origins: Option<Vec<String>>,
    /// `FIELDSYNC_DEV=1` (`--dev`): mint tokens for any user name at
    /// `POST /dev/token`. Never in production.
    pub dev_mode: bool,
    /// `FIELDSYNC_STATIC_DIR` (`--static-dir`): in development mode, serve the
    /// files of this directory at `/` (the demo app). Refused without `--dev`.
    pub static_dir: Option<std::path::PathBuf>,
    /// Largest request body (bytes).
    pub max_body_bytes: usize,
    /// Most WebSockets one user may hold open per app.
    pub max_sockets_per_user: usize,
    /// Largest WebSocket message accepted (bytes).
    pub max_ws_message_bytes: usize,
    /// Largest pull page.
    pub max_page: u32,
    /// How far ahead of the server's clock a device stamp may be (ms).
    pub max_clock_drift_ms: u64,
    /// How long a new WebSocket has to send its `auth` message.
    pub ws_auth_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 3050,
            database_url: "sqlite://fieldsync.sqlite".into(),
            jwt_secret: None,
            jwks_url: None,
            jwt_audience: None,
            jwt_issuer: None,
            cors_origins: None,
            dev_mode: false,
            static_dir: None,
            max_body_bytes: 10 * 1024 * 1024,
            max_sockets_per_user: 32,
            max_ws_message_bytes: 64 * 1024,
            max_page: 1000,
            max_clock_drift_ms: fieldsync_core::hlc::DEFAULT_MAX_DRIFT_MS,
            ws_auth_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<Config>),
    /// Print this text and exit.
    Help(String),
}

/// A configuration error: what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

const VARS: &[(&str, &str, &str)] = &[
    ("PORT", "--port", "TCP port (default 3050)"),
    (
        "DATABASE_URL",
        "--database-url",
        "sqlite://file.sqlite (default sqlite://fieldsync.sqlite) or postgres://user:pass@host/db",
    ),
    (
        "JWT_SECRET",
        "--jwt-secret",
        "HS256 secret that signs bearer tokens",
    ),
    (
        "JWKS_URL",
        "--jwks-url",
        "JWKS endpoint for EdDSA/ES256/RS256 tokens",
    ),
    (
        "JWT_AUDIENCE",
        "--jwt-audience",
        "required `aud` claim, when set",
    ),
    (
        "JWT_ISSUER",
        "--jwt-issuer",
        "required `iss` claim, when set",
    ),
    (
        "CORS_ORIGINS",
        "--cors-origins",
        "comma-separated allowed origins (default: any)",
    ),
    (
        "FIELDSYNC_DEV",
        "--dev",
        "1: development mode, mints tokens at POST /dev/token (never in production)",
    ),
    (
        "FIELDSYNC_STATIC_DIR",
        "--static-dir",
        "development mode only: serve this directory's files at / (the demo app)",
    ),
];

/// The `--help` text.
pub fn help() -> String {
    let mut out = String::from(
        "fieldsync-server: the fieldsync sync server (SPEC §2 protocol).\n\n\
         Usage: fieldsync-server [--flag value]...\n\nSettings (environment variable, flag):\n",
    );
    for (var, flag, what) in VARS {
        let _ = writeln!(out, "  {var:<14} {flag:<16} {what}");
    }
    out
}

impl Config {
    /// Reads `args` (without the program name) over the environment `env`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Command, ConfigError> {
        let mut values: Vec<(&str, String)> = VARS
            .iter()
            .filter_map(|(var, _, _)| env(var).map(|v| (*var, v)))
            .collect();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(Command::Help(help()));
            }
            if arg == "--dev" {
                values.push(("FIELDSYNC_DEV", "1".into()));
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let var = VARS
                .iter()
                .find(|(_, f, _)| *f == flag)
                .map(|(v, _, _)| *v)
                .ok_or_else(|| ConfigError(format!("unknown argument {arg:?}; see --help")))?;
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| ConfigError(format!("{flag} needs a value; see --help")))?,
            };
            values.push((var, value));
        }
        let mut config = Config::default();
        for (var, value) in values {
            match var {
                "PORT" => {
                    config.port = value.parse().map_err(|_| {
                        ConfigError(format!("PORT={value:?} is not a port number (1-65535)"))
                    })?
                }
                "DATABASE_URL" => config.database_url = value,
                "JWT_SECRET" => config.jwt_secret = Some(value).filter(|v| !v.is_empty()),
                "JWKS_URL" => config.jwks_url = Some(value).filter(|v| !v.is_empty()),
                "JWT_AUDIENCE" => config.jwt_audience = Some(value).filter(|v| !v.is_empty()),
                "JWT_ISSUER" => config.jwt_issuer = Some(value).filter(|v| !v.is_empty()),
                "CORS_ORIGINS" => {
                    let origins: Vec<String> = value
                        .split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect();
                    config.cors_origins = (!origins.iter().any(|o| o == "*")
                        && !origins.is_empty())
                    .then_some(origins);
                }
                "FIELDSYNC_DEV" => config.dev_mode = matches!(value.as_str(), "1" | "true" | "yes"),
                "FIELDSYNC_STATIC_DIR" => {
                    config.static_dir = Some(value.into())
                        .filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty())
                }
                _ => {}
            }
        }
        if let Some(dir) = &config.static_dir {
            if !config.dev_mode {
                return Err(ConfigError(format!(
                    "--static-dir {} serves files only in development mode; add --dev (FIELDSYNC_DEV=1), or serve your app with a web server of its own",
                    dir.display()
                )));
            }
            if !dir.is_dir() {
                return Err(ConfigError(format!(
                    "--static-dir {}: no such directory (build the demo with scripts/demo, or give the path to your built app)",
                    dir.display()
                )));
            }
        }
        Ok(Command::Serve(Box::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Command, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(args.iter().map(|s| s.to_string()), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_env_and_flags() {
        let Command::Serve(c) = parse(&[], &[]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.port, c.database_url.as_str(), c.dev_mode),
            (3050, "sqlite://fieldsync.sqlite", false)
        );
        let Command::Serve(c) = parse(
            &["--port", "4000", "--dev"],
            &[("PORT", "1"), ("CORS_ORIGINS", "http://a, http://b")],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.port, 4000, "flags override the environment");
        assert!(c.dev_mode);
        assert_eq!(c.cors_origins.unwrap(), ["http://a", "http://b"]);
        assert!(
            matches!(parse(&["--help"], &[]).unwrap(), Command::Help(h) if h.contains("JWT_SECRET"))
        );
        assert!(
            parse(&["--nope"], &[])
                .unwrap_err()
                .0
                .contains("unknown argument")
        );
        assert!(parse(&[], &[("PORT", "x")]).unwrap_err().0.contains("PORT"));
        let dir = std::env::temp_dir();
        let dir = dir.to_str().unwrap();
        assert!(
            parse(&["--static-dir", dir], &[])
                .unwrap_err()
                .0
                .contains("--dev"),
            "static files only in development mode"
        );
        assert!(
            parse(&["--dev", "--static-dir", "/no/such/dir"], &[])
                .unwrap_err()
                .0
                .contains("no such directory")
        );
        let Command::Serve(c) = parse(&["--dev"], &[("FIELDSYNC_STATIC_DIR", dir)]).unwrap() else {
            panic!()
        };
        assert_eq!(c.static_dir.as_deref(), Some(std::path::Path::new(dir)));
    }
}
