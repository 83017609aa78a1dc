//! Loading `numbers/` (settings, inventory, port requests) with every check, and
//! saving changes back.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use chrono::NaiveDate;
use provisioning::{ErrorKind, Provisioning, ProvisioningError, ProvisioningErrors};

use super::block::NumberBlock;
use super::entry::{Entry, NumberState, Origin};
use super::files::{append_csv, csv_bytes, read_csv, write_atomic, Row};
use super::journal::{JOURNAL_COLUMNS, JOURNAL_FILE};
use super::rules::{check_category, Rules};
use super::settings::{NumberSettings, SETTINGS_FILE};
use super::{Inventory, INVENTORY_FILE, NUMBERS_DIR, REQUESTS_FILE};
use crate::porting::{Direction, PortRequest, PortState, RejectReason};

/// The columns of `inventory.csv`, in the order written.
pub const INVENTORY_COLUMNS: [&str; 9] = [
    "number", "state", "origin", "customer", "trunk", "site", "since", "until", "request",
];

/// The columns of `port_requests.csv`, in the order written.
pub const REQUEST_COLUMNS: [&str; 14] = [
    "id",
    "direction",
    "state",
    "customer",
    "trunk",
    "site",
    "numbers",
    "rio",
    "operator",
    "requested_date",
    "submitted_on",
    "port_date",
    "rejection",
    "note",
];

/// Collects errors about one row of one file.
struct RowErrors<'e> {
    file: &'static str,
    line: usize,
    entry: String,
    errors: &'e mut Vec<ProvisioningError>,
}

impl RowErrors<'_> {
    fn push(&mut self, kind: ErrorKind, field: &str, message: impl Into<String>) {
        self.errors.push(ProvisioningError::new(
            kind,
            self.file,
            Some(self.line),
            self.entry.clone(),
            field,
            message,
        ));
    }

    fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.push(ErrorKind::InvalidValue, field, message);
    }

    fn date(&mut self, field: &str, text: &str) -> Result<Option<NaiveDate>, ()> {
        if text.is_empty() {
            return Ok(None);
        }
        match parse_date(text) {
            Some(d) => Ok(Some(d)),
            None => {
                self.invalid(
                    field,
                    format!("{text:?} is not a date (expected YYYY-MM-DD)"),
                );
                Err(())
            }
        }
    }
}

/// `YYYY-MM-DD` exactly.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    (text.len() == 10)
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

fn opt(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Reads a file of the provisioning directory; `None` when absent.
fn read_optional(dir: &Path, file: &str, errors: &mut Vec<ProvisioningError>) -> Option<Vec<u8>> {
    let path = dir.join(file);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(ProvisioningError::new(
                ErrorKind::Io,
                file,
                None,
                "",
                "",
                format!("cannot read {}: {e}", path.display()),
            ));
            None
        }
    }
}

impl Inventory {
    /// Loads `<provisioning_dir>/numbers/` after loading and checking the
    /// provisioning directory itself. A directory without `numbers/` gives an empty
    /// inventory.
    ///
    /// # Errors
    ///
    /// Every problem of the provisioning files, or of the numbers files, at once.
    pub fn load(provisioning_dir: &Path) -> Result<Inventory, ProvisioningErrors> {
        let provisioning = Provisioning::load(provisioning_dir)?;
        Inventory::load_with(provisioning_dir, &provisioning)
    }

    /// Loads `<provisioning_dir>/numbers/`, checking references against an
    /// already loaded provisioning (of the same directory).
    ///
    /// # Errors
    ///
    /// Every problem found, each with its file (relative to the provisioning
    /// directory), line, entry and column: bad values, rows that break their
    /// state's requirements, unknown customers, trunks or sites, numbers used out
    /// of their territory, overlapping rows, port requests and numbers that do not
    /// match.
    pub fn load_with(
        provisioning_dir: &Path,
        provisioning: &Provisioning,
    ) -> Result<Inventory, ProvisioningErrors> {
        let mut errors = Vec::new();
        let numbers_dir = provisioning_dir.join(NUMBERS_DIR);
        let settings = match read_optional(provisioning_dir, SETTINGS_FILE, &mut errors) {
            Some(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => NumberSettings::parse(text, &numbers_dir, &mut errors),
                Err(_) => {
                    errors.push(ProvisioningError::new(
                        ErrorKind::Syntax,
                        SETTINGS_FILE,
                        None,
                        "",
                        "",
                        "the file is not UTF-8 text (save it as UTF-8)",
                    ));
                    NumberSettings::default()
                }
            },
            None => NumberSettings::default(),
        };
        let mut inventory = Inventory {
            settings,
            ..Inventory::default()
        };
        let request_rows = read_optional(provisioning_dir, REQUESTS_FILE, &mut errors)
            .map(|b| {
                read_csv(
                    REQUESTS_FILE,
                    &b,
                    &REQUEST_COLUMNS,
                    &["id", "direction", "state", "numbers"],
                    &mut errors,
                )
            })
            .unwrap_or_default();
        let entry_rows = read_optional(provisioning_dir, INVENTORY_FILE, &mut errors)
            .map(|b| {
                read_csv(
                    INVENTORY_FILE,
                    &b,
                    &INVENTORY_COLUMNS,
                    &["number", "state", "since"],
                    &mut errors,
                )
            })
            .unwrap_or_default();

        let rules = Rules {
            provisioning,
            arcep: None,
            settings: &inventory.settings,
        };
        let mut request_lines = HashMap::new();
        let mut requests = Vec::new();
        for row in &request_rows {
            if let Some(r) = parse_request(row, &rules, &mut request_lines, &mut errors) {
                requests.push((row.line, r));
            }
        }
        let mut entries = Vec::new();
        for row in &entry_rows {
            if let Some(e) = parse_entry(row, &rules, &mut errors) {
                entries.push((row.line, e));
            }
        }
        check_overlaps(&mut entries, &mut errors);
        check_requests(&entries, &requests, &mut errors);

        if !errors.is_empty() {
            return Err(ProvisioningErrors::new(errors));
        }
        inventory.entries = entries.into_iter().map(|(_, e)| e).collect();
        inventory.requests = requests.into_iter().map(|(_, r)| r).collect();
        inventory.reindex();
        Ok(inventory)
    }

    /// Writes the changes made since loading: appends their journal rows (flushed
    /// to disk first), then replaces `inventory.csv` and `port_requests.csv`
    /// atomically. Hold a [`super::NumbersLock`] from loading to saving.
    ///
    /// # Errors
    ///
    /// The file operation that failed, naming the file.
    pub fn save(&mut self, provisioning_dir: &Path) -> io::Result<()> {
        let with_path = |file: &str| {
            let path = provisioning_dir.join(file);
            move |e: io::Error| {
                io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
            }
        };
        std::fs::create_dir_all(provisioning_dir.join(NUMBERS_DIR))
            .map_err(with_path(NUMBERS_DIR))?;
        let rows: Vec<Vec<String>> = self.pending.iter().map(|r| r.to_row()).collect();
        append_csv(
            &provisioning_dir.join(JOURNAL_FILE),
            &JOURNAL_COLUMNS,
            &rows,
        )
        .map_err(with_path(JOURNAL_FILE))?;

        let inventory_path = provisioning_dir.join(INVENTORY_FILE);
        if !self.entries.is_empty() || inventory_path.exists() {
            let rows: Vec<Vec<String>> = self.entries.iter().map(Entry::to_row).collect();
            let bytes = csv_bytes(&INVENTORY_COLUMNS, &rows)?;
            write_atomic(&inventory_path, &bytes).map_err(with_path(INVENTORY_FILE))?;
        }
        let requests_path = provisioning_dir.join(REQUESTS_FILE);
        if !self.requests.is_empty() || requests_path.exists() {
            let rows: Vec<Vec<String>> = self.requests.iter().map(PortRequest::to_row).collect();
            let bytes = csv_bytes(&REQUEST_COLUMNS, &rows)?;
            write_atomic(&requests_path, &bytes).map_err(with_path(REQUESTS_FILE))?;
        }
        self.pending.clear();
        Ok(())
    }
}

fn date_text(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// One `inventory.csv` row, checked on its own.
fn parse_entry(row: &Row, rules: &Rules<'_>, errors: &mut Vec<ProvisioningError>) -> Option<Entry> {
    let number_text = row.get(0);
    let mut e = RowErrors {
        file: INVENTORY_FILE,
        line: row.line,
        entry: format!("number {number_text:?}"),
        errors,
    };
    let block = NumberBlock::parse(number_text)
        .map_err(|m| e.invalid("number", m))
        .ok();
    let state = row
        .get(1)
        .parse::<NumberState>()
        .map_err(|m| e.invalid("state", m))
        .ok();
    let origin = match row.get(2) {
        "" => Some(Origin::Own),
        text => text
            .parse::<Origin>()
            .map_err(|m| e.invalid("origin", m))
            .ok(),
    };
    let since = match e.date("since", row.get(6)) {
        Ok(Some(d)) => Some(d),
        Ok(None) => {
            e.push(
                ErrorKind::MissingField,
                "since",
                "empty (the date the state began, YYYY-MM-DD)",
            );
            None
        }
        Err(()) => None,
    };
    let until = e.date("until", row.get(7)).ok()?;
    let (block, state, origin, since) = (block?, state?, origin?, since?);
    let customer = opt(row.get(3));
    let trunk = opt(row.get(4));
    let site = opt(row.get(5));
    let request = opt(row.get(8));

    let mut ok = true;
    use NumberState as S;
    {
        let mut require = |present: bool, field: &str, why: &str| {
            if !present {
                e.push(
                    ErrorKind::MissingField,
                    field,
                    format!("required for a {state} number ({why})"),
                );
                ok = false;
            }
        };
        match state {
            S::Reserved => require(customer.is_some(), "customer", "who it is reserved for"),
            S::Assigned => {
                require(customer.is_some(), "customer", "who holds it");
                require(trunk.is_some(), "trunk", "where its calls go");
            }
            S::PortingIn => {
                require(customer.is_some(), "customer", "who it is ported for");
                require(trunk.is_some(), "trunk", "where its calls will go");
                require(request.is_some(), "request", "the port-in request");
            }
            S::PortingOut => {
                require(customer.is_some(), "customer", "who holds it");
                require(request.is_some(), "request", "the port-out request");
                if until.is_none() {
                    require(
                        trunk.is_some(),
                        "trunk",
                        "an assigned number being ported out is still in service",
                    );
                }
            }
            S::Quarantined => {
                require(customer.is_some(), "customer", "its former holder");
                require(until.is_some(), "until", "the end of the quarantine");
            }
            S::Available | S::Released => {}
        }
    }
    let forbidden: &[(&str, bool)] = match state {
        S::Available => &[
            ("customer", customer.is_some()),
            ("trunk", trunk.is_some()),
            ("site", site.is_some()),
            ("until", until.is_some()),
            ("request", request.is_some()),
        ],
        S::Reserved | S::Assigned => &[("until", until.is_some()), ("request", request.is_some())],
        S::PortingIn => &[("until", until.is_some())],
        S::Quarantined => &[("request", request.is_some())],
        S::PortingOut | S::Released => &[],
    };
    for (field, present) in forbidden {
        if *present {
            e.invalid(field, format!("must be empty for a {state} number"));
            ok = false;
        }
    }
    if state == S::PortingIn && origin != Origin::Ported {
        e.invalid("origin", "a porting_in number is ported (origin ported)");
        ok = false;
    }
    if state == S::Quarantined && until.is_some_and(|u| u <= since) {
        e.invalid(
            "until",
            format!("{} is not after since ({since})", date_text(until)),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    if state != S::Released {
        if let Err(k) = check_category(&block) {
            e.invalid("number", k.to_string());
            return None;
        }
    }
    // Numbers in service or promised must point at existing customers, trunks and
    // sites; quarantined and released rows are history and may name ones that are
    // gone.
    let (trunk, site) = if matches!(state, S::Reserved | S::Assigned | S::PortingIn)
        || (state == S::PortingOut && until.is_none())
    {
        let need_site = state != S::Reserved;
        match rules.place(
            customer.as_deref().unwrap_or(""),
            trunk.as_deref(),
            site.as_deref(),
            need_site,
        ) {
            Ok(place) => {
                if let Some(s) = rules.site_of(place.trunk.as_deref(), place.site.as_deref()) {
                    if let Err(k) = rules.check_site(&block, s, false) {
                        e.invalid("site", k.to_string());
                        return None;
                    }
                }
                (place.trunk, place.site)
            }
            Err((field, k)) => {
                e.push(ErrorKind::UnknownReference, field, k.to_string());
                return None;
            }
        }
    } else {
        (trunk, site)
    };
    Some(Entry {
        block,
        state,
        origin,
        customer,
        trunk,
        site,
        since,
        until,
        request,
    })
}

/// One `port_requests.csv` row, checked on its own.
fn parse_request(
    row: &Row,
    rules: &Rules<'_>,
    seen: &mut HashMap<String, usize>,
    errors: &mut Vec<ProvisioningError>,
) -> Option<PortRequest> {
    let id = row.get(0).to_owned();
    let mut e = RowErrors {
        file: REQUESTS_FILE,
        line: row.line,
        entry: format!("request {id:?}"),
        errors,
    };
    let mut ok = true;
    if !is_request_id(&id) {
        e.invalid(
            "id",
            format!("{id:?} is not a request id (letters, digits and '-', e.g. PI-2026-0001)"),
        );
        ok = false;
    } else if let Some(first) = seen.get(&id) {
        e.push(
            ErrorKind::Conflict,
            "id",
            format!("duplicate request id (first at line {first})"),
        );
        ok = false;
    } else {
        seen.insert(id.clone(), row.line);
    }
    let direction = row
        .get(1)
        .parse::<Direction>()
        .map_err(|m| e.invalid("direction", m))
        .ok();
    let state = row
        .get(2)
        .parse::<PortState>()
        .map_err(|m| e.invalid("state", m))
        .ok();
    let mut numbers = Vec::new();
    for text in row.get(6).split_whitespace() {
        match NumberBlock::parse(text) {
            Ok(b) if numbers.iter().any(|n: &NumberBlock| n.overlaps(&b)) => {
                e.invalid("numbers", format!("{b} is given twice"));
                ok = false;
            }
            Ok(b) => numbers.push(b),
            Err(m) => {
                e.invalid("numbers", m);
                ok = false;
            }
        }
    }
    if numbers.is_empty() && ok {
        e.push(
            ErrorKind::MissingField,
            "numbers",
            "empty (the numbers or blocks to port, space separated)",
        );
        ok = false;
    }
    let requested_date = e.date("requested_date", row.get(9));
    let submitted_on = e.date("submitted_on", row.get(10));
    let port_date = e.date("port_date", row.get(11));
    let rejection = match row.get(12) {
        "" => None,
        text => match text.parse::<RejectReason>() {
            Ok(r) => Some(r),
            Err(m) => {
                e.invalid("rejection", m);
                ok = false;
                None
            }
        },
    };
    let (Some(direction), Some(state), Ok(requested_date), Ok(submitted_on), Ok(port_date)) =
        (direction, state, requested_date, submitted_on, port_date)
    else {
        return None;
    };
    if direction == Direction::Out && state == PortState::Draft {
        e.invalid(
            "state",
            "a port-out request arrives submitted, it is never a draft",
        );
        ok = false;
    }
    if matches!(state, PortState::Scheduled | PortState::Completed) && port_date.is_none() {
        e.push(
            ErrorKind::MissingField,
            "port_date",
            format!("required for a {state} request"),
        );
        ok = false;
    }
    if state == PortState::Rejected && rejection.is_none() {
        e.push(
            ErrorKind::MissingField,
            "rejection",
            "required for a rejected request (the reason code)",
        );
        ok = false;
    }
    if state != PortState::Rejected && rejection.is_some() {
        e.invalid("rejection", format!("must be empty for a {state} request"));
        ok = false;
    }
    if state.holds_numbers() && submitted_on.is_none() {
        e.push(
            ErrorKind::MissingField,
            "submitted_on",
            format!("required for a {state} request"),
        );
        ok = false;
    }
    let customer = opt(row.get(3));
    let mut trunk = opt(row.get(4));
    let mut site = opt(row.get(5));
    if direction == Direction::In && state.is_open() {
        match rules.place(
            customer.as_deref().unwrap_or(""),
            trunk.as_deref(),
            site.as_deref(),
            true,
        ) {
            Ok(place) => {
                trunk = place.trunk;
                site = place.site;
            }
            Err((field, k)) => {
                e.push(ErrorKind::UnknownReference, field, k.to_string());
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    Some(PortRequest {
        id,
        direction,
        state,
        customer,
        trunk,
        site,
        numbers,
        rio: opt(row.get(7)),
        operator: opt(row.get(8)),
        requested_date,
        submitted_on,
        port_date,
        rejection,
        note: row.get(13).to_owned(),
    })
}

/// Request ids: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 40 characters.
pub(crate) fn is_request_id(id: &str) -> bool {
    let mut b = id.bytes();
    id.len() <= 40
        && b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A number is on one row only.
fn check_overlaps(entries: &mut [(usize, Entry)], errors: &mut Vec<ProvisioningError>) {
    entries.sort_by_key(|(_, e)| e.block);
    let mut by_first: [HashMap<crate::E164, usize>; 4] = Default::default();
    for (line, e) in entries.iter() {
        let slot = &mut by_first[usize::from(e.block.exp())];
        if let Some(first) = slot.get(&e.block.first()) {
            errors.push(ProvisioningError::new(
                ErrorKind::Conflict,
                INVENTORY_FILE,
                Some(*line),
                format!("number {:?}", e.block.to_string()),
                "number",
                format!("duplicate row (first at line {first}); a number is on one row only"),
            ));
        } else {
            slot.insert(e.block.first(), *line);
        }
    }
    for (line, e) in entries.iter() {
        for exp in e.block.exp() + 1..=super::block::MAX_BLOCK_EXP {
            let Some(outer) = NumberBlock::around(&e.block.first(), exp) else {
                break;
            };
            if let Some(outer_line) = by_first[usize::from(exp)].get(&outer.first()) {
                errors.push(ProvisioningError::new(
                    ErrorKind::Conflict,
                    INVENTORY_FILE,
                    Some(*line),
                    format!("number {:?}", e.block.to_string()),
                    "number",
                    format!(
                        "inside block {outer} of line {outer_line}; a number is on one row only"
                    ),
                ));
            }
        }
    }
}

/// Port requests and the numbers they move agree both ways.
fn check_requests(
    entries: &[(usize, Entry)],
    requests: &[(usize, PortRequest)],
    errors: &mut Vec<ProvisioningError>,
) {
    let by_id: HashMap<&str, &PortRequest> =
        requests.iter().map(|(_, r)| (r.id.as_str(), r)).collect();
    for (line, e) in entries {
        let expected = match e.state {
            NumberState::PortingIn => Direction::In,
            NumberState::PortingOut => Direction::Out,
            _ => continue,
        };
        let Some(id) = e.request.as_deref() else {
            continue;
        };
        let problem = match by_id.get(id) {
            None => Some(format!("unknown port request {id:?} ({REQUESTS_FILE})")),
            Some(r) if r.direction != expected => Some(format!(
                "request {id:?} is a port-{}, not a port-{expected}",
                r.direction
            )),
            Some(r) if !r.state.holds_numbers() => Some(format!(
                "request {id:?} is {}: its numbers are no longer {}",
                r.state, e.state
            )),
            Some(r) if !r.covers(&e.block) => {
                Some(format!("request {id:?} does not include {}", e.block))
            }
            Some(_) => None,
        };
        if let Some(message) = problem {
            errors.push(ProvisioningError::new(
                ErrorKind::UnknownReference,
                INVENTORY_FILE,
                Some(*line),
                format!("number {:?}", e.block.to_string()),
                "request",
                message,
            ));
        }
    }
    for (i, (line, r)) in requests.iter().enumerate() {
        let entry = format!("request {:?}", r.id);
        if r.state.holds_numbers() {
            let state = match r.direction {
                Direction::In => NumberState::PortingIn,
                Direction::Out => NumberState::PortingOut,
            };
            for b in &r.numbers {
                let covered: u32 = entries
                    .iter()
                    .filter(|(_, e)| {
                        b.contains_block(&e.block)
                            && e.state == state
                            && e.request.as_deref() == Some(r.id.as_str())
                    })
                    .map(|(_, e)| e.block.size())
                    .sum();
                let in_larger = entries.iter().any(|(_, e)| {
                    e.block != *b
                        && e.block.contains_block(b)
                        && e.state == state
                        && e.request.as_deref() == Some(r.id.as_str())
                });
                if covered != b.size() && !in_larger {
                    errors.push(ProvisioningError::new(
                        ErrorKind::UnknownReference,
                        REQUESTS_FILE,
                        Some(*line),
                        entry.clone(),
                        "numbers",
                        format!("{b} is not {state} for this request in {INVENTORY_FILE}"),
                    ));
                }
            }
        }
        if r.state.is_open() {
            for (other_line, other) in &requests[i + 1..] {
                if other.state.is_open() && r.numbers.iter().any(|b| other.overlaps(b)) {
                    errors.push(ProvisioningError::new(
                        ErrorKind::Conflict,
                        REQUESTS_FILE,
                        Some(*other_line),
                        format!("request {:?}", other.id),
                        "numbers",
                        format!("shares numbers with open request {:?} of line {line} (one port at a time)", r.id),
                    ));
                }
            }
        }
    }
}
