//! Where the call records live: the ClickHouse connection settings, the client built
//! from them, and how ClickHouse errors are sorted into "retry later" and "this data
//! will never be accepted".

use serde::Deserialize;
use std::time::Duration;

/// Connection settings for the ClickHouse server or cluster holding the records.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// HTTP(S) endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding the fairtrunk tables (created by `migrate`).
    #[serde(default = "default_database")]
    pub database: String,
    /// User name; the server's `default` user when absent.
    #[serde(default)]
    pub user: Option<String>,
    /// Password for `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// Cluster name: when set, migrations run their DDL `ON CLUSTER` it.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// The database name used when none is configured.
pub const DEFAULT_DATABASE: &str = "fairtrunk";

fn default_database() -> String {
    DEFAULT_DATABASE.to_string()
}

impl ClickhouseConfig {
    /// Settings for `url` with the default database and user.
    pub fn new(url: impl Into<String>) -> Self {
        ClickhouseConfig {
            url: url.into(),
            database: default_database(),
            user: None,
            password: None,
            cluster: None,
        }
    }

    /// The same server with another database.
    pub fn with_database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// A client bound to the configured database. Schema validation is off because
    /// ClickHouse 18.16 lacks `RowBinaryWithNamesAndTypes`; the `calls` table's shape is
    /// checked by the integration tests instead.
    pub fn client(&self) -> clickhouse::Client {
        self.client_without_database().with_database(&self.database)
    }

    /// A client on the server's default database (to create ours).
    pub fn client_without_database(&self) -> clickhouse::Client {
        let mut client = clickhouse::Client::default()
            .with_url(&self.url)
            .with_validation(false);
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password);
        }
        client
    }

    /// Checks that the server answers a trivial query within `timeout`.
    ///
    /// # Errors
    /// The client's error, or a timeout.
    pub async fn healthcheck(&self, timeout: Duration) -> Result<(), String> {
        let query = self.client_without_database().query("SELECT 1");
        match tokio::time::timeout(timeout, query.fetch_one::<u8>()).await {
            Ok(Ok(1)) => Ok(()),
            Ok(Ok(other)) => Err(format!("SELECT 1 answered {other}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer from {} within {timeout:?}", self.url)),
        }
    }
}

/// What to do with data ClickHouse did not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server is down, slow, overloaded or misconfigured: keep the data, retry.
    Transient,
    /// The server understood the data and refuses it: retrying cannot succeed.
    Permanent,
}

/// ClickHouse error codes that mean the data itself is bad (from ClickHouse's
/// `src/Common/ErrorCodes.cpp`): CANNOT_PARSE_TEXT 6, CANNOT_PARSE_ESCAPE_SEQUENCE 25,
/// CANNOT_PARSE_QUOTED_STRING 26, CANNOT_PARSE_INPUT_ASSERTION_FAILED 27,
/// CANNOT_PARSE_DATE 38, CANNOT_PARSE_DATETIME 41, TYPE_MISMATCH 53,
/// ARGUMENT_OUT_OF_BOUND 69, CANNOT_CONVERT_TYPE 70, CANNOT_PARSE_NUMBER 72,
/// INCORRECT_DATA 117, TOO_LARGE_STRING_SIZE 131. Anything else (unknown table or
/// column before a migration, memory limits, timeouts) is worth retrying: the spool
/// keeps the records until an operator has fixed the server.
const PERMANENT_CODES: [u32; 12] = [6, 25, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131];

/// Sorts a client error into [`Failure::Transient`] or [`Failure::Permanent`].
pub fn classify(error: &clickhouse::error::Error) -> Failure {
    use clickhouse::error::Error;
    match error {
        Error::BadResponse(body) => match exception_code(body) {
            Some(code) if PERMANENT_CODES.contains(&code) => Failure::Permanent,
            _ => Failure::Transient,
        },
        // Our own rows failed to serialise: the same bytes would fail again.
        Error::Custom(_) | Error::InvalidUtf8Encoding(_) | Error::SequenceMustHaveLength => {
            Failure::Permanent
        }
        _ => Failure::Transient,
    }
}

/// The `Code: N` of a ClickHouse exception text, if any.
pub fn exception_code(body: &str) -> Option<u32> {
    let rest = &body[body.find("Code: ")? + "Code: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error;

    #[test]
    fn data_errors_are_permanent() {
        let e = Error::BadResponse(
            "Code: 117, e.displayText() = DB::Exception: Unexpected NULL value".into(),
        );
        assert_eq!(classify(&e), Failure::Permanent);
        let e = Error::BadResponse("Code: 53. DB::Exception: Type mismatch".into());
        assert_eq!(classify(&e), Failure::Permanent);
    }

    #[test]
    fn server_trouble_is_transient() {
        let e =
            Error::BadResponse("Code: 60, e.displayText() = Table x.calls doesn't exist".into());
        assert_eq!(classify(&e), Failure::Transient);
        assert_eq!(classify(&Error::TimedOut), Failure::Transient);
        let e = Error::BadResponse("502 Bad Gateway".into());
        assert_eq!(classify(&e), Failure::Transient);
    }

    #[test]
    fn exception_code_reads_both_message_styles() {
        assert_eq!(
            exception_code("Code: 241, e.displayText() = ..."),
            Some(241)
        );
        assert_eq!(exception_code("Code: 117. DB::Exception"), Some(117));
        assert_eq!(exception_code("no code here"), None);
    }

    #[test]
    fn config_file_fields_are_checked() {
        let config: ClickhouseConfig =
            serde_json::from_str(r#"{"url":"http://127.0.0.1:8123"}"#).unwrap();
        assert_eq!(config.database, DEFAULT_DATABASE);
        let err =
            serde_json::from_str::<ClickhouseConfig>(r#"{"url":"x","databse":"y"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `databse`"), "{err}");
    }
}
