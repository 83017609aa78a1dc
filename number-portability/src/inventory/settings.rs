//! The provider's numbering policy: `numbers/settings.toml`.
//!
//! Business choices the contract leaves to the provider are settings with a
//! default (contract.md §2); the file is optional and every key has a default:
//!
//! ```toml
//! operator_mnemonics = ["FAIR"]  # ARCEP mnemonic(s) of the provider's blocks (MAJNUM
//!                                #   "Mnémo"): numbers added to the stock must be in
//!                                #   one when ARCEP data is given. Default: none
//! rio_operator_code = "FA"       # the provider's RIO operator code (MAJRIO): first 2
//!                                #   characters of the RIOs it issues; port-out RIOs
//!                                #   must start with it. Default: not checked
//! quarantine_days = 90           # 45..=120 (ARCEP): days a released number waits
//!                                #   before another customer may get it. Default 90
//! metropolitan_zne_check = false # check the ZNE of metropolitan geographic numbers
//!                                #   (01-05) against the site's commune; off since
//!                                #   ARCEP decision 2019-0954. Overseas numbers are
//!                                #   always checked. Default false
//! max_port_working_days = 7      # latest port date: this many working days after the
//!                                #   request (3, or 7 for business lines until
//!                                #   mid-2027), unless the customer asked for a later
//!                                #   date. Default 7
//! arcep_dir = "arcep"            # ARCEP files (MAJNUM, MAJRIO, ZNE...) the commands
//!                                #   check against, relative to numbers/. Default none
//! extra_holidays = [2026-12-24]  # days off added to the French public holidays in
//!                                #   the porting calendar. Default none
//! ```

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use provisioning::{ErrorKind, ProvisioningError};

/// The settings file, relative to the provisioning directory.
pub const SETTINGS_FILE: &str = "numbers/settings.toml";

/// The shortest quarantine ARCEP allows, in days.
pub const MIN_QUARANTINE_DAYS: u32 = 45;
/// The longest quarantine ARCEP allows, in days.
pub const MAX_QUARANTINE_DAYS: u32 = 120;
/// The quarantine when the settings do not give one.
pub const DEFAULT_QUARANTINE_DAYS: u32 = 90;
/// The port deadline in working days when the settings do not give one: 7 for
/// business lines until mid-2027 (contract.md §2).
pub const DEFAULT_MAX_PORT_WORKING_DAYS: u32 = 7;

const KEYS: [&str; 7] = [
    "operator_mnemonics",
    "rio_operator_code",
    "quarantine_days",
    "metropolitan_zne_check",
    "max_port_working_days",
    "arcep_dir",
    "extra_holidays",
];

/// The numbering policy (`numbers/settings.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSettings {
    /// ARCEP mnemonics of the blocks the provider holds.
    pub operator_mnemonics: Vec<String>,
    /// The provider's 2-character RIO operator code.
    pub rio_operator_code: Option<String>,
    /// Quarantine of released numbers, 45 to 120 days.
    pub quarantine_days: u32,
    /// Whether metropolitan geographic numbers must be used in their ZNE.
    pub metropolitan_zne_check: bool,
    /// Latest port date, in working days after the request was sent or received.
    pub max_port_working_days: u32,
    /// ARCEP data directory, resolved against `numbers/`.
    pub arcep_dir: Option<PathBuf>,
    /// Days off beyond the French public holidays.
    pub extra_holidays: Vec<NaiveDate>,
}

impl Default for NumberSettings {
    fn default() -> Self {
        NumberSettings {
            operator_mnemonics: Vec::new(),
            rio_operator_code: None,
            quarantine_days: DEFAULT_QUARANTINE_DAYS,
            metropolitan_zne_check: false,
            max_port_working_days: DEFAULT_MAX_PORT_WORKING_DAYS,
            arcep_dir: None,
            extra_holidays: Vec::new(),
        }
    }
}

impl NumberSettings {
    /// True when `mnemonic` is one of the provider's.
    pub fn is_ours(&self, mnemonic: &str) -> bool {
        self.operator_mnemonics
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mnemonic))
    }

    /// Parses the text of `numbers/settings.toml`; `numbers_dir` resolves
    /// `arcep_dir`. Every problem is pushed to `errors` with its line.
    pub(crate) fn parse(
        text: &str,
        numbers_dir: &Path,
        errors: &mut Vec<ProvisioningError>,
    ) -> NumberSettings {
        let mut s = NumberSettings::default();
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map(|r| line_of_offset(text, r.start));
                errors.push(error(
                    ErrorKind::Syntax,
                    line,
                    "",
                    format!("not valid TOML: {}", e.message()),
                ));
                return s;
            }
        };
        let mut push = |key: &str, kind: ErrorKind, message: String| {
            errors.push(error(kind, line_of_key(text, key), key, message));
        };
        for (key, value) in &table {
            match key.as_str() {
                "operator_mnemonics" => match string_list(value) {
                    Some(list) if list.iter().all(|m| is_mnemonic(m)) => {
                        s.operator_mnemonics = list
                    }
                    _ => push(
                        key,
                        ErrorKind::InvalidValue,
                        format!("{value} is not a list of ARCEP mnemonics (e.g. [\"FAIR\"]: 1 to 8 letters and digits)"),
                    ),
                },
                "rio_operator_code" => match value.as_str() {
                    Some(code) if is_rio_operator_code(code) => {
                        s.rio_operator_code = Some(code.to_owned())
                    }
                    _ => push(
                        key,
                        ErrorKind::InvalidValue,
                        format!("{value} is not a RIO operator code (2 uppercase letters or digits, as in MAJRIO)"),
                    ),
                },
                "quarantine_days" => match value.as_integer() {
                    Some(d)
                        if (i64::from(MIN_QUARANTINE_DAYS)..=i64::from(MAX_QUARANTINE_DAYS))
                            .contains(&d) =>
                    {
                        s.quarantine_days = d as u32
                    }
                    _ => push(
                        key,
                        ErrorKind::InvalidValue,
                        format!("{value} is outside {MIN_QUARANTINE_DAYS}..={MAX_QUARANTINE_DAYS} days (ARCEP: a released number is quarantined 45 to 120 days)"),
                    ),
                },
                "metropolitan_zne_check" => match value.as_bool() {
                    Some(b) => s.metropolitan_zne_check = b,
                    None => push(key, ErrorKind::InvalidValue, format!("{value} is not true or false")),
                },
                "max_port_working_days" => match value.as_integer() {
                    Some(d) if (1..=30).contains(&d) => s.max_port_working_days = d as u32,
                    _ => push(
                        key,
                        ErrorKind::InvalidValue,
                        format!("{value} is outside 1..=30 working days"),
                    ),
                },
                "arcep_dir" => match value.as_str() {
                    Some(dir) if !dir.is_empty() => s.arcep_dir = Some(numbers_dir.join(dir)),
                    _ => push(key, ErrorKind::InvalidValue, format!("{value} is not a directory path")),
                },
                "extra_holidays" => match holiday_list(value) {
                    Some(days) => s.extra_holidays = days,
                    None => push(
                        key,
                        ErrorKind::InvalidValue,
                        format!("{value} is not a list of dates (e.g. [2026-12-24])"),
                    ),
                },
                other => push(
                    other,
                    ErrorKind::UnknownField,
                    format!("unknown setting {other:?} (expected one of: {})", KEYS.join(", ")),
                ),
            }
        }
        s
    }
}

fn error(kind: ErrorKind, line: Option<usize>, field: &str, message: String) -> ProvisioningError {
    ProvisioningError::new(kind, SETTINGS_FILE, line, "", field, message)
}

fn string_list(value: &toml::Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn holiday_list(value: &toml::Value) -> Option<Vec<NaiveDate>> {
    value
        .as_array()?
        .iter()
        .map(|v| match v {
            toml::Value::Datetime(d) => {
                let date = d.date.filter(|_| d.time.is_none())?;
                NaiveDate::from_ymd_opt(i32::from(date.year), date.month.into(), date.day.into())
            }
            toml::Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        })
        .collect()
}

/// An ARCEP operator mnemonic: 1 to 8 ASCII letters and digits.
fn is_mnemonic(text: &str) -> bool {
    (1..=8).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A RIO operator code: 2 uppercase ASCII letters or digits.
pub(crate) fn is_rio_operator_code(text: &str) -> bool {
    text.len() == 2
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line where `key` is set at the start of a line (the file is flat).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (NumberSettings, Vec<String>) {
        let mut errors = Vec::new();
        let s = NumberSettings::parse(text, Path::new("/p/numbers"), &mut errors);
        let errors = provisioning::ProvisioningErrors::new(errors);
        (s, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_when_empty() {
        let (s, errors) = parse("");
        assert!(errors.is_empty());
        assert_eq!(s, NumberSettings::default());
        assert_eq!(s.quarantine_days, 90);
        assert!(!s.metropolitan_zne_check);
    }

    #[test]
    fn reads_every_key() {
        let (s, errors) = parse(
            "operator_mnemonics = [\"FAIR\"]\nrio_operator_code = \"FA\"\nquarantine_days = 45\n\
             metropolitan_zne_check = true\nmax_port_working_days = 3\narcep_dir = \"arcep\"\n\
             extra_holidays = [2026-12-24, \"2026-12-31\"]\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(s.is_ours("fair"));
        assert_eq!(s.rio_operator_code.as_deref(), Some("FA"));
        assert_eq!(s.quarantine_days, 45);
        assert!(s.metropolitan_zne_check);
        assert_eq!(s.max_port_working_days, 3);
        assert_eq!(s.arcep_dir, Some(PathBuf::from("/p/numbers/arcep")));
        assert_eq!(s.extra_holidays.len(), 2);
    }

    #[test]
    fn every_problem_with_its_line() {
        let (_, errors) = parse(
            "quarantine_days = 30\nrio_operator_code = \"fa\"\n\nquarantine = 90\nmetropolitan_zne_check = \"yes\"\n",
        );
        assert_eq!(
            errors,
            [
                "numbers/settings.toml:1: quarantine_days: 30 is outside 45..=120 days (ARCEP: a released number is quarantined 45 to 120 days)",
                "numbers/settings.toml:2: rio_operator_code: \"fa\" is not a RIO operator code (2 uppercase letters or digits, as in MAJRIO)",
                "numbers/settings.toml:4: quarantine: unknown setting \"quarantine\" (expected one of: operator_mnemonics, rio_operator_code, quarantine_days, metropolitan_zne_check, max_port_working_days, arcep_dir, extra_holidays)",
                "numbers/settings.toml:5: metropolitan_zne_check: \"yes\" is not true or false",
            ]
        );
        let (_, errors) = parse("a = [\n");
        assert!(
            errors[0].starts_with("numbers/settings.toml:"),
            "{errors:?}"
        );
        assert!(errors[0].contains("not valid TOML"), "{errors:?}");
    }
}
