//! Mapping files: how to read another switch's CSV export (TOML, `--format
//! mapping:FILE`). The full reference is in the crate documentation; in short:
//!
//! ```toml
//! name = "generic"                # records' source is `mapping:generic`; key namespace too
//! delimiter = ";"                 # one character, "\t" for tabs (default ",")
//! quote = "\""                    # "" when fields are never quoted
//! header = true                   # columns named by the header; false: 1-based indexes
//! encoding = "latin-1"            # or "utf-8" (default)
//!
//! [time]
//! format = "%d/%m/%Y %H:%M:%S"    # chrono pattern, or rfc3339, unix, unix_ms
//! zone = "Europe/Paris"           # zone of wall-clock times (default Europe/Paris); "none": offsets only
//! offset_column = "utc_offset"    # optional: the invite's offset (+02:00, CEST...); with zone "none", every time's
//! ambiguous = "reject"            # repeated-hour policy: reject (default), earlier, later
//!
//! [columns]                       # field = column; only id, invite, caller, callee required
//! id = "call_id"                  # or a list of columns whose values together identify the row
//! invite = "start"
//! answer = "answer"
//! end = "end"
//! duration = "billsec"
//! caller = "from"
//! callee = "to"
//! trunk = "trunk"
//! direction = "dir"
//! status = "sip_code"             # final SIP status: gives the disposition...
//! disposition = "result"          # ...or a disposition column with [disposition] values
//!
//! [duration]
//! unit = "seconds"                # seconds (decimals allowed), milliseconds, minutes
//!
//! [numbers]
//! format = "auto"                 # auto: +E.164, 00..., national, URIs; e164_digits: 33... without +
//!
//! [trunk]
//! by = "id"                       # id, source_address, digest_user, tls_fqdn; or constant = "trunk-id"
//!
//! [direction]
//! inbound = ["entrant"]           # values, compared case-insensitively; or constant = "outbound"
//! outbound = ["sortant"]
//!
//! [disposition]
//! answered = ["répondu"]
//! busy = ["occupé"]
//! ```
//!
//! Mapping files are checked whole when loaded: every error is reported with the
//! file and, for TOML syntax and unknown keys, the line.

use crate::draft::{disposition_for_status, Draft, Reason, RowError, TrunkRef};
use crate::time::{self, Ambiguous, TimeFormat};
use cdr::{Direction, Disposition};
use chrono_tz::Tz;
use serde::Deserialize;
use std::borrow::Cow;
use std::path::Path;

/// A column: by header name, or by 1-based position when the file has no header.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ColumnRef {
    /// Header name.
    Name(String),
    /// 1-based position.
    Index(usize),
}

/// One column or several (for the row id).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Columns {
    /// One column.
    One(ColumnRef),
    /// Several columns, values joined.
    Many(Vec<ColumnRef>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "default_delimiter")]
    delimiter: String,
    #[serde(default = "default_quote")]
    quote: String,
    #[serde(default = "yes")]
    header: bool,
    #[serde(default = "default_encoding")]
    encoding: String,
    #[serde(default)]
    time: RawTime,
    columns: RawColumns,
    #[serde(default)]
    duration: RawDuration,
    #[serde(default)]
    numbers: RawNumbers,
    #[serde(default)]
    trunk: RawTrunk,
    #[serde(default)]
    direction: RawDirection,
    #[serde(default)]
    disposition: RawDisposition,
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn yes() -> bool {
    true
}
fn default_encoding() -> String {
    "utf-8".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    #[serde(default = "default_time_format")]
    format: String,
    #[serde(default = "default_zone")]
    zone: String,
    #[serde(default)]
    offset_column: Option<ColumnRef>,
    #[serde(default = "default_ambiguous")]
    ambiguous: Ambiguous,
}

impl Default for RawTime {
    fn default() -> Self {
        RawTime {
            format: default_time_format(),
            zone: default_zone(),
            offset_column: None,
            ambiguous: default_ambiguous(),
        }
    }
}

fn default_time_format() -> String {
    "%Y-%m-%d %H:%M:%S".into()
}
fn default_zone() -> String {
    "Europe/Paris".into()
}
fn default_ambiguous() -> Ambiguous {
    Ambiguous::Reject
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumns {
    id: Option<Columns>,
    invite: Option<ColumnRef>,
    answer: Option<ColumnRef>,
    end: Option<ColumnRef>,
    duration: Option<ColumnRef>,
    caller: Option<ColumnRef>,
    callee: Option<ColumnRef>,
    original_called: Option<ColumnRef>,
    forwarding_party: Option<ColumnRef>,
    trunk: Option<ColumnRef>,
    site: Option<ColumnRef>,
    direction: Option<ColumnRef>,
    status: Option<ColumnRef>,
    disposition: Option<ColumnRef>,
    call_id: Option<ColumnRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuration {
    #[serde(default)]
    unit: DurationUnit,
}

/// Unit of a duration column.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    /// Seconds, decimals allowed (the default).
    #[default]
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Minutes, decimals allowed.
    Minutes,
}

/// How numbers are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// Whatever `number-portability` reads: `+33...`, `0033...`, `01...`, URIs.
    #[default]
    Auto,
    /// International digits without `+` (`33123456789`); short codes stay national.
    E164Digits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumbers {
    #[serde(default)]
    format: NumberFormat,
}

/// How the trunk column identifies the trunk.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrunkBy {
    /// The provisioning id (the default).
    #[default]
    Id,
    /// The PBX's source IP address.
    SourceAddress,
    /// The digest user name.
    DigestUser,
    /// The SBC's TLS name.
    TlsFqdn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrunk {
    #[serde(default)]
    by: TrunkBy,
    #[serde(default)]
    constant: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirection {
    #[serde(default)]
    inbound: Vec<String>,
    #[serde(default)]
    outbound: Vec<String>,
    #[serde(default)]
    constant: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisposition {
    #[serde(default)]
    answered: Vec<String>,
    #[serde(default)]
    busy: Vec<String>,
    #[serde(default)]
    no_answer: Vec<String>,
    #[serde(default)]
    cancelled: Vec<String>,
    #[serde(default)]
    failed: Vec<String>,
}

/// Text encoding of a mapped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8.
    Utf8,
    /// ISO-8859-1 (read as Windows-1252, its superset, as browsers do).
    Latin1,
}

impl Encoding {
    /// Decodes a field.
    ///
    /// # Errors
    /// Invalid UTF-8, naming the field's position.
    pub fn decode(self, bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
        match self {
            Encoding::Utf8 => std::str::from_utf8(bytes).map(std::borrow::Cow::Borrowed).map_err(|_| {
                format!(
                    "{:?} is not valid UTF-8 (if the file is Latin-1, set encoding = \"latin-1\" in the mapping)",
                    String::from_utf8_lossy(bytes)
                )
            }),
            Encoding::Latin1 => Ok(encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0),
        }
    }

    /// Encodes text for a reject file in the input's encoding (characters outside
    /// Latin-1 become `?`).
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Latin1 => text
                .chars()
                .map(|c| {
                    let mut buf = [0; 4];
                    let (bytes, _, unmappable) =
                        encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut buf));
                    if unmappable || bytes.len() != 1 {
                        b'?'
                    } else {
                        bytes[0]
                    }
                })
                .collect(),
        }
    }
}

/// The value listed for `text` (listed values are lower case; the comparison ignores
/// case, without allocating for ASCII text).
fn find_value<T: Copy>(values: &[(String, T)], text: &str) -> Option<T> {
    if text.is_ascii() {
        values
            .iter()
            .find(|(v, _)| v.eq_ignore_ascii_case(text))
            .map(|(_, d)| *d)
    } else {
        let lower = text.to_lowercase();
        values.iter().find(|(v, _)| *v == lower).map(|(_, d)| *d)
    }
}

/// A checked mapping.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// Its name (`mapping:NAME` is the records' source and key namespace).
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Field delimiter.
    pub delimiter: u8,
    /// Quote character, if fields may be quoted.
    pub quote: Option<u8>,
    /// Whether the first line names the columns.
    pub header: bool,
    /// Text encoding.
    pub encoding: Encoding,
    /// `mapping:NAME`, built once: every record carries it.
    key_namespace: std::sync::Arc<str>,
    time_format: TimeFormat,
    /// Zone of wall-clock times; `None` (`zone = "none"`): each row's offset column
    /// places all its times.
    zone: Option<Tz>,
    offset_column: Option<ColumnRef>,
    ambiguous: Ambiguous,
    columns: RawColumns,
    duration_unit: DurationUnit,
    number_format: NumberFormat,
    trunk_by: TrunkBy,
    trunk_constant: Option<String>,
    direction_values: Vec<(String, Direction)>,
    direction_constant: Option<Direction>,
    disposition_values: Vec<(String, Disposition)>,
}

/// A mapping's columns resolved against a file's header: positions (0-based).
#[derive(Clone, Debug)]
pub struct Layout {
    id: Vec<usize>,
    invite: usize,
    answer: Option<usize>,
    end: Option<usize>,
    duration: Option<usize>,
    caller: usize,
    callee: usize,
    original_called: Option<usize>,
    forwarding_party: Option<usize>,
    trunk: Option<usize>,
    site: Option<usize>,
    direction: Option<usize>,
    status: Option<usize>,
    disposition: Option<usize>,
    call_id: Option<usize>,
    offset: Option<usize>,
}

impl Layout {
    /// Each field read and its 0-based column (`usize::MAX`: not found).
    fn positions(&self) -> Vec<(&'static str, usize)> {
        let mut all: Vec<(&'static str, usize)> = self.id.iter().map(|&at| ("id", at)).collect();
        all.extend([
            ("invite", self.invite),
            ("caller", self.caller),
            ("callee", self.callee),
        ]);
        let optional = [
            ("answer", self.answer),
            ("end", self.end),
            ("duration", self.duration),
            ("original_called", self.original_called),
            ("forwarding_party", self.forwarding_party),
            ("trunk", self.trunk),
            ("site", self.site),
            ("direction", self.direction),
            ("status", self.status),
            ("disposition", self.disposition),
            ("call_id", self.call_id),
            ("offset_column", self.offset),
        ];
        all.extend(
            optional
                .into_iter()
                .filter_map(|(field, at)| at.map(|at| (field, at))),
        );
        all
    }
}

impl Mapping {
    /// Loads and checks a mapping file.
    ///
    /// # Errors
    /// Every problem found, one per line, each starting with the file name.
    pub fn load(path: &Path) -> Result<Mapping, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read mapping {}: {e}", path.display()))?;
        Mapping::parse(&text).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}{e}", path.display()))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Parses and checks a mapping's text. Errors start with `:LINE: ` when a line
    /// is known, `: ` otherwise, ready to follow a file name.
    ///
    /// # Errors
    /// Every problem found.
    pub fn parse(text: &str) -> Result<Mapping, Vec<String>> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            vec![match line {
                Some(l) => format!(":{l}: {message}"),
                None => format!(": {message}"),
            }]
        })?;
        let mut errors = Vec::new();
        let single_byte = |name: &str, value: &str, errors: &mut Vec<String>| -> Option<u8> {
            let value = if value == "\\t" { "\t" } else { value };
            match value.as_bytes() {
                [b] if b.is_ascii() => Some(*b),
                _ => {
                    errors.push(format!(": {name} {value:?} must be one ASCII character"));
                    None
                }
            }
        };
        let delimiter = single_byte("delimiter", &raw.delimiter, &mut errors).unwrap_or(b',');
        let quote = if raw.quote.is_empty() {
            None
        } else {
            single_byte("quote", &raw.quote, &mut errors)
        };
        let encoding = match raw.encoding.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "windows-1252" | "cp1252" => {
                Encoding::Latin1
            }
            other => {
                errors.push(format!(
                    ": encoding {other:?} is not supported (use \"utf-8\" or \"latin-1\")"
                ));
                Encoding::Utf8
            }
        };
        let zone: Option<Tz> = if raw.time.zone.eq_ignore_ascii_case("none") {
            None
        } else {
            Some(raw.time.zone.parse().unwrap_or_else(|_| {
                errors.push(format!(
                    ": time.zone {:?} is not an IANA time zone (e.g. \"Europe/Paris\", \"UTC\") nor \"none\"",
                    raw.time.zone
                ));
                chrono_tz::Europe::Paris
            }))
        };
        let time_format = match TimeFormat::from_setting(&raw.time.format) {
            Ok(TimeFormat::Pattern(p)) if !p.as_str().contains('%') => {
                errors.push(format!(
                    ": time.format {:?} is neither a chrono pattern (%Y-%m-%d %H:%M:%S) nor rfc3339, unix or unix_ms",
                    p.as_str()
                ));
                TimeFormat::Rfc3339
            }
            Ok(format) => format,
            Err(e) => {
                errors.push(format!(": time.format {e}"));
                TimeFormat::Rfc3339
            }
        };
        if zone.is_none() && raw.time.offset_column.is_none() && time_format.is_wall_clock() {
            errors.push(
                ": time.zone = \"none\" needs time.offset_column: wall-clock times without a zone are placed by each row's UTC offset".into(),
            );
        }
        if raw.name.trim().is_empty() || raw.name.contains(char::is_whitespace) {
            errors.push(format!(": name {:?} must be a non-empty word", raw.name));
        }
        let c = &raw.columns;
        for (field, present) in [
            ("id", c.id.is_some()),
            ("invite", c.invite.is_some()),
            ("caller", c.caller.is_some()),
            ("callee", c.callee.is_some()),
        ] {
            if !present {
                errors.push(format!(": columns.{field} is required"));
            }
        }
        if c.end.is_none() && c.duration.is_none() {
            errors.push(
                ": columns.end or columns.duration is required to know when calls end".into(),
            );
        }
        match (&c.trunk, &raw.trunk.constant) {
            (None, None) => errors.push(": columns.trunk or trunk.constant is required".into()),
            (Some(_), Some(_)) => {
                errors.push(": columns.trunk and trunk.constant exclude each other".into())
            }
            _ => {}
        }
        let parse_direction = |text: &str| match text {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        };
        let direction_constant = match &raw.direction.constant {
            Some(text) => {
                let d = parse_direction(text);
                if d.is_none() {
                    errors.push(format!(
                        ": direction.constant {text:?} must be \"inbound\" or \"outbound\""
                    ));
                }
                d
            }
            None => None,
        };
        match (&c.direction, &raw.direction.constant) {
            (None, None) => {
                errors.push(": columns.direction or direction.constant is required".into())
            }
            (Some(_), None)
                if raw.direction.inbound.is_empty() && raw.direction.outbound.is_empty() =>
            {
                errors.push(
                    ": direction.inbound and direction.outbound list the direction column's values"
                        .into(),
                )
            }
            (Some(_), Some(_)) => {
                errors.push(": columns.direction and direction.constant exclude each other".into())
            }
            _ => {}
        }
        let mut direction_values = Vec::new();
        for v in &raw.direction.inbound {
            direction_values.push((v.to_lowercase(), Direction::Inbound));
        }
        for v in &raw.direction.outbound {
            direction_values.push((v.to_lowercase(), Direction::Outbound));
        }
        let d = &raw.disposition;
        let mut disposition_values = Vec::new();
        for (list, disposition) in [
            (&d.answered, Disposition::Answered),
            (&d.busy, Disposition::Busy),
            (&d.no_answer, Disposition::NoAnswer),
            (&d.cancelled, Disposition::Cancelled),
            (&d.failed, Disposition::Failed),
        ] {
            for v in list {
                disposition_values.push((v.to_lowercase(), disposition));
            }
        }
        if c.disposition.is_some() && disposition_values.is_empty() {
            errors.push(": columns.disposition needs [disposition] lists of its values (answered = [...], busy = [...])".into());
        }
        let mut refs: Vec<(&str, &ColumnRef)> = Vec::new();
        if let Some(id) = &c.id {
            match id {
                Columns::One(r) => refs.push(("id", r)),
                Columns::Many(list) => refs.extend(list.iter().map(|r| ("id", r))),
            }
        }
        for (name, r) in [
            ("invite", &c.invite),
            ("answer", &c.answer),
            ("end", &c.end),
            ("duration", &c.duration),
            ("caller", &c.caller),
            ("callee", &c.callee),
            ("original_called", &c.original_called),
            ("forwarding_party", &c.forwarding_party),
            ("trunk", &c.trunk),
            ("site", &c.site),
            ("direction", &c.direction),
            ("status", &c.status),
            ("disposition", &c.disposition),
            ("call_id", &c.call_id),
            ("time.offset_column", &raw.time.offset_column),
        ] {
            if let Some(r) = r {
                refs.push((name, r));
            }
        }
        for (name, r) in refs {
            match (r, raw.header) {
                (ColumnRef::Index(0), _) => errors.push(format!(": columns.{name}: positions start at 1")),
                (ColumnRef::Name(n), false) => errors.push(format!(
                    ": columns.{name} = {n:?} names a column but header = false: give its 1-based position"
                )),
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Mapping {
            key_namespace: format!("mapping:{}", raw.name).into(),
            name: raw.name,
            description: raw.description,
            delimiter,
            quote,
            header: raw.header,
            encoding,
            time_format,
            zone,
            offset_column: raw.time.offset_column,
            ambiguous: raw.time.ambiguous,
            columns: raw.columns,
            duration_unit: raw.duration.unit,
            number_format: raw.numbers.format,
            trunk_by: raw.trunk.by,
            trunk_constant: raw.trunk.constant,
            direction_values,
            direction_constant,
            disposition_values,
        })
    }

    /// Records' source format and key namespace: `mapping:NAME`.
    pub fn source_name(&self) -> String {
        self.key_namespace.to_string()
    }

    /// [`Mapping::source_name`] without a copy.
    pub fn key_namespace(&self) -> &str {
        &self.key_namespace
    }

    /// Resolves the columns against a file's header (or positions when it has none);
    /// `width` is the number of fields of the header, or of the first row.
    ///
    /// # Errors
    /// The columns the header lacks or has twice, positions beyond `width`.
    pub fn layout(&self, header: Option<&[String]>, width: usize) -> Result<Layout, String> {
        let mut missing = Vec::new();
        let mut twice = Vec::new();
        let header: Option<Vec<&str>> = header.map(|h| h.iter().map(String::as_str).collect());
        let mut find = |r: &ColumnRef| -> usize {
            match (r, &header) {
                (ColumnRef::Index(i), _) => i.saturating_sub(1),
                (ColumnRef::Name(n), Some(h)) => {
                    match crate::read::header_position(h, &format!("{n:?}"), |c| c == n) {
                        Ok(Some(i)) => i,
                        Ok(None) => {
                            missing.push(n.clone());
                            usize::MAX
                        }
                        Err(e) => {
                            twice.push(e);
                            usize::MAX
                        }
                    }
                }
                (ColumnRef::Name(n), None) => {
                    missing.push(n.clone());
                    usize::MAX
                }
            }
        };
        let c = &self.columns;
        let id = match &c.id {
            Some(Columns::One(r)) => vec![find(r)],
            Some(Columns::Many(list)) => list.iter().map(&mut find).collect(),
            None => vec![],
        };
        let mut opt = |r: &Option<ColumnRef>| r.as_ref().map(&mut find);
        let layout = Layout {
            id,
            invite: opt(&c.invite).unwrap_or(usize::MAX),
            answer: opt(&c.answer),
            end: opt(&c.end),
            duration: opt(&c.duration),
            caller: opt(&c.caller).unwrap_or(usize::MAX),
            callee: opt(&c.callee).unwrap_or(usize::MAX),
            original_called: opt(&c.original_called),
            forwarding_party: opt(&c.forwarding_party),
            trunk: opt(&c.trunk),
            site: opt(&c.site),
            direction: opt(&c.direction),
            status: opt(&c.status),
            disposition: opt(&c.disposition),
            call_id: opt(&c.call_id),
            offset: opt(&self.offset_column),
        };
        if !twice.is_empty() {
            return Err(twice.join("; "));
        }
        let beyond: Vec<String> = layout
            .positions()
            .into_iter()
            .filter(|&(_, at)| at != usize::MAX && at >= width)
            .map(|(field, at)| format!("{field} at column {}", at + 1))
            .collect();
        if !beyond.is_empty() {
            return Err(format!(
                "mapping {} reads {} but the {} has {width} fields",
                self.name,
                beyond.join(", "),
                if header.is_some() {
                    "header"
                } else {
                    "first row"
                }
            ));
        }
        if missing.is_empty() {
            Ok(layout)
        } else {
            Err(format!(
                "the header lacks the column{} {} that mapping {} reads",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.name
            ))
        }
    }

    /// Turns a row's decoded fields into a [`Draft`].
    ///
    /// # Errors
    /// A missing field or a value that does not read.
    pub fn draft<'a, S: AsRef<str>>(
        &'a self,
        layout: &Layout,
        fields: &'a [S],
        tolerance_ms: u64,
    ) -> Result<Draft<'a>, RowError> {
        let header_name = |i: usize| format!("column {}", i + 1);
        // NULL as `mysql -B` writes it (`NULL`), and as `SELECT ... INTO OUTFILE`,
        // mysqldump --tab and ClickHouse do (`\N`).
        let get = |i: usize| {
            fields
                .get(i)
                .map(|s| s.as_ref().trim())
                .filter(|s| !s.is_empty() && *s != "\\N" && *s != "NULL")
        };
        let required = |i: usize, field: &str| {
            get(i).ok_or_else(|| RowError::missing(&format!("{field} ({})", header_name(i))))
        };
        let source_id: Cow<'a, str> = match layout.id.as_slice() {
            [one] => get(*one).ok_or_else(|| RowError::missing("id"))?.into(),
            many => {
                let id_parts: Vec<&str> = many.iter().map(|&i| get(i).unwrap_or("")).collect();
                if id_parts.iter().all(|p| p.is_empty()) {
                    return Err(RowError::missing("id"));
                }
                // Unit separator: no field holds it, so joined ids never collide.
                id_parts.join("\u{1f}").into()
            }
        };

        let offset = match layout.offset.and_then(get) {
            Some(text) => Some(time::parse_offset(text).ok_or_else(|| {
                RowError::new(
                    Reason::BadTime,
                    format!("UTC offset {text:?} is not +HH:MM, CET or CEST"),
                )
            })?),
            None => None,
        };
        if offset.is_none() && self.zone.is_none() && self.time_format.is_wall_clock() {
            return Err(RowError::missing(
                "UTC offset (time.offset_column: the mapping has no zone)",
            ));
        }
        // The offset column is the offset of the call's start (invite): answer and
        // end, possibly on the other side of October's change, are placed in the zone
        // by order and duration like times without an offset. Without a zone, the
        // row's offset places all its times.
        let later_offset = if self.zone.is_some() { None } else { offset };
        let times = |text: &str,
                     field: &str,
                     offset: Option<chrono::FixedOffset>|
         -> Result<time::Instants, RowError> {
            time::candidates(text, &self.time_format, self.zone, offset).map_err(|e| {
                let mut e = RowError::from(e);
                e.message = format!("{field}: {}", e.message);
                e
            })
        };
        let invite_text = required(layout.invite, "invite")?;
        let invite = times(invite_text, "invite", offset)?;
        let end_text = layout.end.and_then(get);
        let end = match end_text {
            Some(text) => Some(times(text, "end", later_offset)?),
            None => None,
        };
        let answer_text = layout.answer.and_then(get);
        let duration_ms = match layout.duration.and_then(get) {
            Some(text) => Some(self.duration(text)?),
            None => None,
        };
        let status = match layout.status.and_then(get) {
            Some(text) => Some(
                text.parse::<u16>()
                    .ok()
                    .filter(|c| (100..700).contains(c))
                    .ok_or_else(|| {
                        RowError::new(
                            Reason::BadValue,
                            format!("status {text:?} is not a SIP status"),
                        )
                    })?,
            ),
            None => None,
        };
        // An empty disposition field falls back as a mapping without the column does.
        let disposition = match layout.disposition.and_then(get) {
            Some(text) => {
                let listed = find_value(&self.disposition_values, text).ok_or_else(|| {
                    RowError::new(
                        Reason::BadValue,
                        format!(
                            "disposition {text:?} is not listed in the mapping's [disposition]"
                        ),
                    )
                })?;
                check_disposition_against_status(text, listed, status)?;
                listed
            }
            None => match status {
                Some(code) => disposition_for_status(code),
                // Without a status: answered when the source gives an answer time or
                // a non-zero duration.
                None if answer_text.is_some() || duration_ms.is_some_and(|d| d > 0) => {
                    Disposition::Answered
                }
                None => Disposition::Failed,
            },
        };
        let direction = match (self.direction_constant, layout.direction) {
            (Some(d), _) => d,
            (None, Some(i)) => {
                let text = required(i, "direction")?;
                find_value(&self.direction_values, text)
                    .ok_or_else(|| {
                        RowError::new(
                            Reason::BadValue,
                            format!("direction {text:?} is not listed in the mapping's direction.inbound or direction.outbound"),
                        )
                    })?
            }
            (None, None) => Direction::Outbound,
        };
        let trunk_text: Cow<'a, str> = match (&self.trunk_constant, layout.trunk) {
            (Some(t), _) => t.as_str().into(),
            (None, Some(i)) => required(i, "trunk")?.into(),
            (None, None) => return Err(RowError::missing("trunk")),
        };
        let trunk = match self.trunk_by {
            TrunkBy::Id => TrunkRef::Id(trunk_text),
            TrunkBy::SourceAddress => TrunkRef::SourceAddress(trunk_text),
            TrunkBy::DigestUser => TrunkRef::DigestUser(trunk_text),
            TrunkBy::TlsFqdn => TrunkRef::TlsFqdn(trunk_text),
        };

        let answered = disposition == Disposition::Answered;
        // A call not answered keeps an answer time only when it is one (see
        // `is_answer_placeholder`); the record's check then refuses it.
        let answer_text =
            answer_text.filter(|text| answered || !is_answer_placeholder(text, invite_text));
        let answer = match answer_text {
            Some(text) => Some(times(text, "answer", later_offset)?),
            None => None,
        };
        // A time's reading at the row's stated offset, when it is one of its
        // candidates in the zone: preferred if order and duration leave a choice.
        let at_row_offset = |text: &str, instants: &[u64]| {
            let offset = offset.filter(|_| instants.len() > 1)?;
            let stated = time::candidates(text, &self.time_format, None, Some(offset)).ok()?;
            stated.first().copied().filter(|s| instants.contains(s))
        };
        let answer_at_row_offset = answer_text
            .zip(answer.as_deref())
            .and_then(|(text, instants)| at_row_offset(text, instants));
        let end_at_row_offset = end_text
            .zip(end.as_deref())
            .and_then(|(text, instants)| at_row_offset(text, instants));
        fn field<'t>(
            text: Option<&'t str>,
            instants: &'t Option<time::Instants>,
            at_row_offset: Option<u64>,
        ) -> Option<time::FieldTime<'t>> {
            Some(time::FieldTime {
                text: text?,
                instants: instants.as_deref()?,
                at_row_offset,
            })
        }
        let describe = || format!("invite {invite_text:?}");
        let resolved = time::resolve_row(
            time::FieldTime {
                text: invite_text,
                instants: &invite,
                at_row_offset: None,
            },
            field(answer_text, &answer, answer_at_row_offset),
            field(end_text, &end, end_at_row_offset),
            duration_ms,
            tolerance_ms,
            self.ambiguous,
            &describe,
        )?;
        // Without an answer column, an answered call's answer is its end minus its
        // duration (Kamailio's CDR start is the answer); without an end column, the
        // end is the answer (or invite) plus the duration.
        let (answer_ms, end_ms) = match (answered, resolved.answer, resolved.end, duration_ms) {
            (true, Some(a), Some(e), _) => (Some(a), e),
            (true, Some(a), None, Some(d)) => (Some(a), a + d),
            (true, None, Some(e), Some(d)) => (Some(e.saturating_sub(d).max(resolved.invite)), e),
            (true, None, None, Some(d)) => (Some(resolved.invite), resolved.invite + d),
            (true, _, _, None) => {
                return Err(RowError::missing(
                    "answer time or duration of an answered call",
                ))
            }
            // An answer time on a call not answered reaches the record's check, which
            // refuses it (`inconsistent_times`).
            (false, a, Some(e), _) => (a, e),
            (false, a, None, d) => (a, resolved.invite + d.unwrap_or(0)),
        };
        let number = |i: Option<usize>| -> Option<Cow<'a, str>> {
            i.and_then(get).map(|t| self.number_text(t))
        };
        Ok(Draft {
            key_namespace: self.key_namespace.clone(),
            source_id,
            trunk,
            site_id: layout.site.and_then(get).map(Cow::Borrowed),
            direction,
            caller: number(Some(layout.caller)).unwrap_or_default(),
            callee: number(Some(layout.callee)).unwrap_or_default(),
            original_called: number(layout.original_called),
            forwarding_party: number(layout.forwarding_party),
            sip_call_id: layout.call_id.and_then(get).unwrap_or_default().to_string(),
            final_status: status,
            disposition,
            invite_ms: resolved.invite,
            answer_ms,
            end_ms,
            duration_ms: if answered { duration_ms } else { None },
            teams: None,
        })
    }

    fn duration(&self, text: &str) -> Result<u64, RowError> {
        let bad = || {
            RowError::new(
                Reason::BadValue,
                format!(
                    "duration {text:?} is not a number of {:?}",
                    self.duration_unit
                )
                .to_lowercase(),
            )
        };
        // Whole numbers (the usual case) without the decimal path.
        let value: f64 = match text.parse::<u32>() {
            Ok(whole) => f64::from(whole),
            Err(_) => text.replace(',', ".").parse().map_err(|_| bad())?,
        };
        if !value.is_finite() || value < 0.0 {
            return Err(bad());
        }
        // Longer than any call: a wrong unit or a corrupt field, and a sum that could
        // overflow below.
        const MAX_DURATION_MS: f64 = 31.0 * 86_400_000.0;
        let ms = match self.duration_unit {
            DurationUnit::Seconds => value * 1000.0,
            DurationUnit::Milliseconds => value,
            DurationUnit::Minutes => value * 60_000.0,
        };
        if ms > MAX_DURATION_MS {
            return Err(RowError::new(
                Reason::BadValue,
                format!("duration {text:?} is longer than 31 days: is duration.unit right?"),
            ));
        }
        Ok(ms.round() as u64)
    }

    fn number_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.number_format {
            NumberFormat::E164Digits
                if text.len() > 6 && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("+{text}").into()
            }
            _ => text.into(),
        }
    }
}

/// Whether the answer field of a call its disposition says was not answered is a
/// placeholder rather than an answer time: the invite time again (Kamailio-style
/// mappings read both from one column, some switches copy it) or a zero (`0`,
/// `0000-00-00 00:00:00`). Any other answer time on such a call is refused.
fn is_answer_placeholder(answer: &str, invite: &str) -> bool {
    let digits = || answer.bytes().filter(u8::is_ascii_digit);
    answer == invite || (digits().next().is_some() && digits().all(|b| b == b'0'))
}

/// Refuses a row whose disposition column and SIP status column disagree on whether
/// the call was answered (billing depends on it; which to trust cannot be known).
/// Other disagreements (busy against 487, say) keep the disposition column's value.
fn check_disposition_against_status(
    text: &str,
    disposition: Disposition,
    status: Option<u16>,
) -> Result<(), RowError> {
    let Some(code) = status else { return Ok(()) };
    let by_status = disposition_for_status(code);
    if (by_status == Disposition::Answered) == (disposition == Disposition::Answered) {
        return Ok(());
    }
    Err(RowError::new(
        Reason::BadValue,
        format!(
            "disposition {text:?} ({}) disagrees with SIP status {code} ({}) on whether the call was answered",
            disposition.as_str(),
            by_status.as_str()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERIC: &str = r#"
name = "t"
delimiter = ";"
[columns]
id = ["a", "b"]
invite = "start"
end = "end"
caller = "from"
callee = "to"
trunk = "trunk"
direction = "dir"
[direction]
inbound = ["IN"]
outbound = ["out"]
"#;

    #[test]
    fn every_mapping_error_is_reported_at_once() {
        let errors = Mapping::parse("name = \"x y\"\ndelimiter = \"ab\"\nencoding = \"ebcdic\"\n[time]\nzone = \"Mars/Olympus\"\n[columns]\nid = 0\n").unwrap_err();
        let text = errors.join("\n");
        for phrase in [
            "name \"x y\"",
            "delimiter \"ab\"",
            "encoding \"ebcdic\"",
            "Mars/Olympus",
            "columns.invite is required",
            "columns.end or columns.duration",
            "columns.trunk or trunk.constant",
            "columns.direction or direction.constant",
            "positions start at 1",
        ] {
            assert!(text.contains(phrase), "{phrase} missing from:\n{text}");
        }
        let errors =
            Mapping::parse("name = \"x\"\n[columns]\nid = \"a\"\nbogus = 1\n").unwrap_err();
        assert!(
            errors[0].starts_with(":4: unknown field `bogus`"),
            "{errors:?}"
        );
    }

    #[test]
    fn rows_map_with_joined_ids_and_listed_values() {
        let m = Mapping::parse(GENERIC).unwrap();
        let header: Vec<String> = ["a", "b", "start", "end", "from", "to", "trunk", "dir"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let layout = m.layout(Some(&header), header.len()).unwrap();
        let row: Vec<String> = [
            "x",
            "1",
            "2026-10-05 10:00:00",
            "2026-10-05 10:00:30",
            "0140000000",
            "0612345678",
            "acme-multisite",
            "in",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = m.draft(&layout, &row, 2_000).unwrap();
        assert_eq!(d.source_id, "x\u{1f}1");
        let mut null_end = row.clone();
        null_end[3] = "\\N".into();
        let absent = m.draft(&layout, &null_end, 2_000).unwrap();
        assert_eq!(
            absent.end_ms, absent.invite_ms,
            "\\N is an absent end, not a bad time"
        );
        null_end[3] = "NULL".into();
        let absent = m.draft(&layout, &null_end, 2_000).unwrap();
        assert_eq!(absent.end_ms, absent.invite_ms, "mysql -B writes NULL");
        assert_eq!(d.direction, Direction::Inbound);
        assert_eq!(
            d.disposition,
            Disposition::Failed,
            "no status, no answer, no duration"
        );
        assert_eq!(d.end_ms - d.invite_ms, 30_000);
        assert_eq!(&*d.key_namespace, "mapping:t");
        let err = m.layout(Some(&header[1..]), header.len() - 1).unwrap_err();
        assert!(err.contains("lacks the column \"a\""), "{err}");
        let mut doubled = header.clone();
        doubled.push("from".into());
        let err = m.layout(Some(&doubled), doubled.len()).unwrap_err();
        assert_eq!(
            err,
            "the header has \"from\" twice (columns 5 and 9): which one to read is unclear"
        );
    }

    #[test]
    fn a_position_beyond_the_first_row_is_an_error_not_an_empty_field() {
        let positional = "name = \"p\"\nheader = false\ndelimiter = \"\\t\"\n[columns]\nid = 1\ninvite = 2\nduration = 3\ncaller = 4\ncallee = 5\ntrunk = 6\ndirection = 7\nstatus = 12\n[direction]\ninbound = [\"in\"]\noutbound = [\"out\"]\n";
        let m = Mapping::parse(positional).unwrap();
        assert!(m.layout(None, 12).is_ok());
        let err = m.layout(None, 9).unwrap_err();
        assert_eq!(
            err,
            "mapping p reads status at column 12 but the first row has 9 fields"
        );
    }

    #[test]
    fn absurd_durations_are_refused_not_added() {
        let m = Mapping::parse(&GENERIC.replace("end = \"end\"", "duration = \"end\"")).unwrap();
        let header: Vec<String> = ["a", "b", "start", "end", "from", "to", "trunk", "dir"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let layout = m.layout(Some(&header), header.len()).unwrap();
        let row = [
            "x",
            "1",
            "2026-10-05 10:00:00",
            "1e300",
            "0140000000",
            "0612345678",
            "acme-multisite",
            "out",
        ];
        let err = m.draft(&layout, &row, 2_000).unwrap_err();
        assert_eq!(err.reason, Reason::BadValue);
        assert!(err.message.contains("longer than 31 days"), "{err}");
        let ok = [
            "x",
            "1",
            "2026-10-05 10:00:00",
            "61,5",
            "0140000000",
            "0612345678",
            "acme-multisite",
            "out",
        ];
        let d = m.draft(&layout, &ok, 2_000).unwrap();
        assert_eq!(
            (d.answer_ms.map(|a| d.end_ms - a), d.disposition),
            (Some(61_500), Disposition::Answered)
        );
    }

    const GENERIC_HEADER: &str = "id_appel;date_debut;date_reponse;date_fin;decalage_utc;durée;appelant;appelé;sens;resultat;code_sip;trunk;site";
    const KAMAILIO_HEADER: &str =
        "id\tstart_time\tend_time\tduration\tcallid\tsrc_user\tdst_user\tpbx_ip\tdirection";

    /// Maps one row (fields separated by `separator`) and checks it into a record.
    fn record(
        mapping: &str,
        header: &str,
        separator: char,
        row: &str,
    ) -> Result<cdr::CallRecord, RowError> {
        let m = Mapping::parse(mapping).unwrap_or_else(|e| panic!("{e:?}"));
        let header: Vec<String> = header.split(separator).map(String::from).collect();
        let layout = m.layout(Some(&header), header.len()).unwrap();
        let fields: Vec<&str> = row.split(separator).collect();
        let provisioning = crate::testutil::provisioning();
        let checks = crate::draft::Checks {
            provisioning: &provisioning,
            duration_tolerance_ms: 2_000,
        };
        let source = cdr::Source::Import {
            format: m.source_name().into(),
            file: "t".into(),
            line: 2,
        };
        m.draft(&layout, &fields, 2_000)?
            .into_record(&checks, source)
            .map(|(record, _)| record)
    }

    fn generic(row: &str) -> Result<cdr::CallRecord, RowError> {
        record(
            include_str!("../mappings/generic.toml"),
            GENERIC_HEADER,
            ';',
            row,
        )
    }

    fn kamailio(mapping: &str, row: &str) -> Result<cdr::CallRecord, RowError> {
        record(mapping, KAMAILIO_HEADER, '\t', row)
    }

    const KAMAILIO: &str = include_str!("../mappings/kamailio-acc.toml");

    #[test]
    fn kamailio_calls_from_the_repeated_hour_are_placed_by_end_and_duration() {
        let utc = crate::testutil::utc;
        let r = kamailio(KAMAILIO, "2001\t2026-10-25 02:30:00\t2026-10-25 03:10:00\t2400.000\tk1@pbx\t0240000010\t0612345601\t127.0.0.11\tout").unwrap();
        assert_eq!(r.invite_ms, utc("2026-10-25T01:30:00Z"));
        assert_eq!(r.answer_ms, Some(r.invite_ms));
        assert_eq!(r.end_ms, utc("2026-10-25T02:10:00Z"));
        let r = kamailio(KAMAILIO, "2002\t2026-10-25 02:59:30\t2026-10-25 03:00:30\t60.000\tk2@pbx\t0240000010\t0612345602\t127.0.0.11\tout").unwrap();
        assert_eq!(r.invite_ms, utc("2026-10-25T01:59:30Z"));
        assert_eq!(r.answer_ms, Some(r.invite_ms));
        assert_eq!(r.billable_ms, 60_000);
        // Wholly inside the hour: refused by default; with a policy, one instant for
        // the column's two fields.
        let inside = "2003\t2026-10-25 02:10:00\t2026-10-25 02:20:00\t600.000\tk3@pbx\t0240000010\t0612345603\t127.0.0.11\tout";
        let err = kamailio(KAMAILIO, inside).unwrap_err();
        assert_eq!(err.reason, Reason::AmbiguousTime, "{err}");
        let earlier = KAMAILIO.replace("ambiguous = \"reject\"", "ambiguous = \"earlier\"");
        let r = kamailio(&earlier, inside).unwrap();
        assert_eq!(r.invite_ms, utc("2026-10-25T00:10:00Z"));
        assert_eq!(r.answer_ms, Some(r.invite_ms));
        assert_eq!(r.billable_ms, 600_000);
    }

    #[test]
    fn the_offset_column_is_the_invites_and_later_times_follow_the_zone() {
        let utc = crate::testutil::utc;
        let tail = "01 40 00 00 01;06 11 22 33 44;sortant;répondu;200;acme-multisite;paris-hq";
        // Answered in summer time, ended 80 minutes later in winter time.
        let r = generic(&format!(
            "O-1;25/10/2026 01:50:00;25/10/2026 01:50:10;25/10/2026 02:10:10;+02:00;4800;{tail}"
        ))
        .unwrap();
        assert_eq!(r.invite_ms, utc("2026-10-24T23:50:00Z"));
        assert_eq!(r.end_ms, utc("2026-10-25T01:10:10Z"));
        assert_eq!(r.billable_ms, 4_800_000);
        // Answered at the first 02:50, ended at the second 02:05.
        let r = generic(&format!(
            "O-2;25/10/2026 02:50:00;25/10/2026 02:50:05;25/10/2026 02:05:05;+02:00;900;{tail}"
        ))
        .unwrap();
        assert_eq!(r.answer_ms, Some(utc("2026-10-25T00:50:05Z")));
        assert_eq!(r.end_ms, utc("2026-10-25T01:05:05Z"));
        // Wholly inside the repeated hour: later times keep the start's offset
        // unless order and duration say the change came between.
        for (offset, start) in [
            ("+02:00", "2026-10-25T00:30:00Z"),
            ("+01:00", "2026-10-25T01:30:00Z"),
        ] {
            let r = generic(&format!("O-6;25/10/2026 02:30:00;25/10/2026 02:30:05;25/10/2026 02:40:05;{offset};600;{tail}")).unwrap();
            assert_eq!(r.invite_ms, utc(start), "{offset}");
            assert_eq!(r.answer_ms, Some(r.invite_ms + 5_000), "{offset}");
            assert_eq!(r.billable_ms, 600_000, "{offset}");
        }
        // A winter offset on a summer date.
        let err = generic(&format!(
            "O-3;12/10/2026 10:00:00;12/10/2026 10:00:05;12/10/2026 10:01:05;+01:00;60;{tail}"
        ))
        .unwrap_err();
        assert_eq!(err.reason, Reason::BadTime, "{err}");
        assert!(
            err.message
                .contains("invite: UTC offset +01:00 does not exist in Europe/Paris"),
            "{err}"
        );
        // Without a zone, the row's offset places all its times.
        let no_zone = include_str!("../mappings/generic.toml")
            .replace("zone = \"Europe/Paris\"", "zone = \"none\"");
        let r = record(
            &no_zone,
            GENERIC_HEADER,
            ';',
            &format!(
                "O-4;12/10/2026 10:00:00;12/10/2026 10:00:05;12/10/2026 10:01:05;-05:00;60;{tail}"
            ),
        )
        .unwrap();
        assert_eq!(r.invite_ms, utc("2026-10-12T15:00:00Z"));
        assert_eq!(r.end_ms, utc("2026-10-12T15:01:05Z"));
        let err = record(
            &no_zone,
            GENERIC_HEADER,
            ';',
            &format!("O-5;12/10/2026 10:00:00;12/10/2026 10:00:05;12/10/2026 10:01:05;;60;{tail}"),
        )
        .unwrap_err();
        assert_eq!(err.reason, Reason::MissingField, "{err}");
        let errors =
            Mapping::parse(&no_zone.replace("offset_column = \"decalage_utc\"", "")).unwrap_err();
        assert!(errors[0].contains("needs time.offset_column"), "{errors:?}");
    }

    #[test]
    fn an_answer_time_on_a_call_not_answered_is_refused_unless_a_placeholder() {
        let row = |id: &str, answer: &str, result: &str, status: &str| {
            generic(&format!("{id};12/10/2026 10:00:00;{answer};12/10/2026 10:10:05;;600;01 40 00 00 01;06 11 22 33 44;sortant;{result};{status};acme-multisite;paris-hq"))
        };
        for (id, result, status) in [("X-1", "occupé", "486"), ("X-2", "non répondu", "")] {
            let err = row(id, "12/10/2026 10:00:05", result, status).unwrap_err();
            assert_eq!(err.reason, Reason::InconsistentTimes, "{id}: {err}");
            assert!(err.message.contains("has an answer time"), "{id}: {err}");
        }
        // The invite repeated, or a zero, is no answer.
        for placeholder in ["12/10/2026 10:00:00", "00/00/0000 00:00:00"] {
            let r = row("X-7", placeholder, "occupé", "486").unwrap();
            assert_eq!(
                (r.disposition, r.answer_ms, r.billable_ms),
                (Disposition::Busy, None, 0),
                "{placeholder}"
            );
        }
        // Answered calls as before, whatever the case of the value.
        let r = row("X-5", "12/10/2026 10:00:05", "RÉPONDU", "200").unwrap();
        assert_eq!(r.billable_ms, 600_000);
        // A disposition and a status disagreeing on whether the call was answered.
        let err = row("X-6", "12/10/2026 10:00:05", "Répondu", "486").unwrap_err();
        assert_eq!(err.reason, Reason::BadValue, "{err}");
        assert!(
            err.message.contains("disagrees with SIP status 486"),
            "{err}"
        );
        let err = row("X-8", "", "occupé", "200").unwrap_err();
        assert_eq!(err.reason, Reason::BadValue, "{err}");
        // Disagreements among unanswered outcomes keep the disposition column's.
        let r = row("X-9", "", "occupé", "487").unwrap();
        assert_eq!(r.disposition, Disposition::Busy);
        // An empty disposition falls back to the status, else to the answer time.
        let r = row("X-10", "", "", "486").unwrap();
        assert_eq!(r.disposition, Disposition::Busy);
        let r = row("X-11", "12/10/2026 10:00:05", "", "").unwrap();
        assert_eq!(r.disposition, Disposition::Answered);
    }

    #[test]
    fn kamailio_unanswered_calls_with_a_status_drop_the_start_copied_as_answer() {
        // acc_cdrs rows have no status: every row is answered, a zero-second one too.
        let r = kamailio(KAMAILIO, "2004\t2026-10-12 10:00:00\t2026-10-12 10:00:00\t0.000\tk4@pbx\t0240000010\t0612345604\t127.0.0.11\tout").unwrap();
        assert_eq!((r.disposition, r.billable_ms), (Disposition::Answered, 0));
        // The same table with a SIP status column: start_time stands for both invite and
        // answer, so on a failed call it is the invite only.
        let with_status = KAMAILIO.replace(
            "call_id = \"callid\"",
            "call_id = \"callid\"\nstatus = \"sip_code\"",
        );
        let r = record(
            &with_status,
            &format!("{KAMAILIO_HEADER}\tsip_code"),
            '\t',
            "2005\t2026-10-12 10:00:00\t2026-10-12 10:00:04\t0.000\tk5@pbx\t0240000010\t0612345605\t127.0.0.11\tout\t486",
        )
        .unwrap();
        assert_eq!(
            (r.disposition, r.answer_ms, r.final_status),
            (Disposition::Busy, None, Some(486))
        );
    }

    #[test]
    fn latin1_round_trips_through_reject_encoding() {
        let text = Encoding::Latin1.decode(b"r\xe9pondu").unwrap();
        assert_eq!(text, "répondu");
        assert_eq!(Encoding::Latin1.encode("répondu → ok"), b"r\xe9pondu ? ok");
        let err = Encoding::Utf8.decode(b"r\xe9pondu").unwrap_err();
        assert!(err.contains("latin-1"), "{err}");
    }
}
