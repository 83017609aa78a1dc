//! Service availability and SLA credits (contract.md §4).
//!
//! Availability = (minutes of the month − downtime outside excused events) /
//! minutes of the month × 100, per service (a trunk) and Paris calendar month. The
//! month is measured in real elapsed time (44,700 minutes in October); downtime is
//! measured to the second, incidents crossing a month boundary are clipped to each
//! month, and overlapping incidents count once. A tier applies strictly below its
//! bound and the credit is a percentage of the service's subscription for the
//! month (not usage), capped; tiers and cap are settings.
//!
//! Incidents are a CSV file in the provisioning directory (`rating/incidents.csv`
//! by default, setting `sla.incidents_file`):
//!
//! ```text
//! service,start,end,excused,reference
//! acme-multisite,2026-10-07T09:00:00+02:00,2026-10-07T10:07:03+02:00,,INC-1
//! *,2026-10-20T02:00:00+02:00,2026-10-20T04:00:00+02:00,planned_maintenance,CHG-7
//! ```
//!
//! `service` is a trunk id, or `*` for every trunk (a platform incident);
//! `excused` is empty (counted) or one of the contract's excused events:
//! `customer_equipment`, `customer_act`, `planned_maintenance`, `over_capacity`,
//! `other_operator`, `customer_not_cooperating`.

use std::path::Path;

use chrono::{DateTime, Utc};
use provisioning::{ErrorKind, Provisioning, ProvisioningError};
use rust_decimal::Decimal;

use crate::month::BillingMonth;

/// The excused events of contract §8 (not counted as downtime).
pub const EXCUSED_REASONS: [&str; 6] = [
    "customer_equipment",
    "customer_act",
    "planned_maintenance",
    "over_capacity",
    "other_operator",
    "customer_not_cooperating",
];

/// One service incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The trunk, or `*` for all.
    pub service: String,
    /// Start, ms since the epoch.
    pub start_ms: u64,
    /// End (exclusive), ms since the epoch.
    pub end_ms: u64,
    /// The excused reason, if excused.
    pub excused: Option<String>,
    /// The incident's reference.
    pub reference: String,
}

/// Every incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incidents {
    /// In file order.
    pub incidents: Vec<Incident>,
}

/// A service's availability over a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Seconds in the month.
    pub month_secs: u64,
    /// Downtime seconds counted (excused events removed, overlaps merged).
    pub downtime_secs: u64,
    /// Seconds of excused incidents (information).
    pub excused_secs: u64,
    /// Availability in percent, exact.
    pub percent: Decimal,
    /// The references of the counted incidents.
    pub references: Vec<String>,
}

impl Incidents {
    /// Loads the incidents file; an absent file holds no incident.
    ///
    /// # Errors
    /// Every bad row, in the provisioning error format.
    pub fn load(
        dir: &Path,
        file: &str,
        provisioning: &Provisioning,
    ) -> Result<Self, Vec<ProvisioningError>> {
        let bytes = match std::fs::read(dir.join(file)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Incidents::default()),
            Err(e) => {
                return Err(vec![ProvisioningError::new(
                    ErrorKind::Io,
                    file,
                    None,
                    "",
                    "",
                    format!("cannot read the file: {e}"),
                )])
            }
        };
        let mut errors = Vec::new();
        let mut incidents = Vec::new();
        let columns = ["service", "start", "end", "excused", "reference"];
        for row in crate::inputs::read_csv(file, &bytes, &columns, &mut errors) {
            let bad = |field: &str, message: String| {
                ProvisioningError::new(
                    ErrorKind::InvalidValue,
                    file,
                    Some(row.line),
                    "",
                    field,
                    message,
                )
            };
            let service = row.get("service");
            if service != "*" && provisioning.trunk(service).is_none() {
                errors.push(ProvisioningError::new(
                    ErrorKind::UnknownReference,
                    file,
                    Some(row.line),
                    "",
                    "service",
                    format!(
                        "trunk {service:?} is not in trunks.toml (use a trunk id or * for all)"
                    ),
                ));
                continue;
            }
            let time = |field: &str| -> Result<u64, ProvisioningError> {
                DateTime::parse_from_rfc3339(row.get(field))
                    .ok()
                    .and_then(|t| u64::try_from(t.with_timezone(&Utc).timestamp()).ok())
                    .map(|secs| secs * 1000)
                    .ok_or_else(|| {
                        bad(
                            field,
                            format!(
                                "{:?} is not a date-time with offset (e.g. 2026-10-07T09:00:00+02:00)",
                                row.get(field)
                            ),
                        )
                    })
            };
            let (start, end) = match (time("start"), time("end")) {
                (Ok(s), Ok(e)) => (s, e),
                (s, e) => {
                    errors.extend(s.err());
                    errors.extend(e.err());
                    continue;
                }
            };
            if end <= start {
                errors.push(bad(
                    "end",
                    format!("{:?} is not after the start", row.get("end")),
                ));
                continue;
            }
            let excused = match row.get("excused") {
                "" => None,
                reason if EXCUSED_REASONS.contains(&reason) => Some(reason.to_owned()),
                other => {
                    errors.push(bad(
                        "excused",
                        format!(
                            "{other:?} is not an excused event (leave empty or use one of: {})",
                            EXCUSED_REASONS.join(", ")
                        ),
                    ));
                    continue;
                }
            };
            incidents.push(Incident {
                service: service.to_owned(),
                start_ms: start,
                end_ms: end,
                excused,
                reference: row.get("reference").to_owned(),
            });
        }
        if errors.is_empty() {
            Ok(Incidents { incidents })
        } else {
            Err(errors)
        }
    }

    /// The availability of a trunk's service over a month.
    pub fn availability(&self, trunk: &str, month: BillingMonth) -> Availability {
        let (from, to) = (month.start_ms(), month.end_ms());
        let clip = |i: &Incident| -> Option<(u64, u64)> {
            let (s, e) = (i.start_ms.max(from), i.end_ms.min(to));
            (s < e).then_some((s, e))
        };
        let relevant: Vec<&Incident> = self
            .incidents
            .iter()
            .filter(|i| i.service == "*" || i.service == trunk)
            .collect();
        let counted: Vec<(u64, u64)> = relevant
            .iter()
            .filter(|i| i.excused.is_none())
            .filter_map(|i| clip(i))
            .collect();
        let excused: Vec<(u64, u64)> = relevant
            .iter()
            .filter(|i| i.excused.is_some())
            .filter_map(|i| clip(i))
            .collect();
        let month_secs = (to - from) / 1000;
        let downtime_secs = union_ms(counted) / 1000;
        let percent = if month_secs == 0 {
            Decimal::from(100)
        } else {
            Decimal::from(month_secs - downtime_secs.min(month_secs)) * Decimal::from(100)
                / Decimal::from(month_secs)
        };
        Availability {
            month_secs,
            downtime_secs,
            excused_secs: union_ms(excused) / 1000,
            percent,
            references: relevant
                .iter()
                .filter(|i| i.excused.is_none() && clip(i).is_some())
                .map(|i| i.reference.clone())
                .collect(),
        }
    }
}

/// Total length of a union of intervals.
fn union_ms(mut intervals: Vec<(u64, u64)>) -> u64 {
    intervals.sort();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (s, e) in intervals {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ms;

    fn incident(service: &str, start: &str, end: &str, excused: Option<&str>) -> Incident {
        Incident {
            service: service.into(),
            start_ms: ms(start),
            end_ms: ms(end),
            excused: excused.map(str::to_owned),
            reference: start.to_owned(),
        }
    }

    #[test]
    fn october_is_44700_minutes_and_99_85_percent_is_4023_seconds_down() {
        let october: BillingMonth = "2026-10".parse().unwrap();
        // 0.15 % of 2,682,000 s = 4,023 s exactly (67 min 3 s).
        let at_bound = Incidents {
            incidents: vec![incident(
                "t",
                "2026-10-07T09:00:00+02:00",
                "2026-10-07T10:07:03+02:00",
                None,
            )],
        };
        let a = at_bound.availability("t", october);
        assert_eq!(a.month_secs, 44_700 * 60);
        assert_eq!(a.downtime_secs, 4023);
        assert_eq!(a.percent, "99.85".parse::<Decimal>().unwrap());
        assert_eq!(at_bound.availability("other", october).downtime_secs, 0);
    }

    #[test]
    fn excused_overlapping_and_cross_month_incidents() {
        let october: BillingMonth = "2026-10".parse().unwrap();
        let incidents = Incidents {
            incidents: vec![
                // Crosses into October: only the October part counts (1 h).
                incident(
                    "t",
                    "2026-09-30T23:00:00+02:00",
                    "2026-10-01T01:00:00+02:00",
                    None,
                ),
                // Overlaps the next one: 10:00-10:30 and 10:15-11:00 count 1 h.
                incident(
                    "t",
                    "2026-10-02T10:00:00+02:00",
                    "2026-10-02T10:30:00+02:00",
                    None,
                ),
                incident(
                    "*",
                    "2026-10-02T10:15:00+02:00",
                    "2026-10-02T11:00:00+02:00",
                    None,
                ),
                // Excused: not downtime.
                incident(
                    "t",
                    "2026-10-03T10:00:00+02:00",
                    "2026-10-03T20:00:00+02:00",
                    Some("planned_maintenance"),
                ),
                // Crosses into November: 23:00 to 00:00 Paris on 31 October counts.
                incident(
                    "t",
                    "2026-10-31T23:00:00+01:00",
                    "2026-11-01T02:00:00+01:00",
                    None,
                ),
            ],
        };
        let a = incidents.availability("t", october);
        assert_eq!(a.downtime_secs, 3 * 3600);
        assert_eq!(a.excused_secs, 10 * 3600);
        assert_eq!(a.references.len(), 4);
    }

    #[test]
    fn union_merges_overlaps_and_touching_intervals() {
        assert_eq!(union_ms(vec![(0, 10), (5, 20), (20, 30), (40, 50)]), 40);
        assert_eq!(union_ms(vec![]), 0);
    }
}
