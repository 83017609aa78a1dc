//! The first stage of the month's stream, on a task of its own: read the rows
//! out of the HTTP chunks, digest them, find each row's trunk and settle the rows
//! there is nothing to learn from; hand the others over to the rating.
//!
//! Most of a month's rows (inbound calls, unanswered attempts) are only counted.
//! This stage counts them per trunk itself and passes on, a few thousand at a
//! time, the rows the engine must see with their trunk and their text fields
//! copied out ([`RowBatch`]). The two
//! stages run on two threads, so rating a row overlaps reading the next ones while
//! ClickHouse streams on its own core.

use std::sync::Arc;

use cdr::{Direction, Disposition};

use crate::destination::{Destination, DestinationCache};
use crate::inventory::CustomerNumbers;
use crate::stream::{MonthStream, RowRef};

/// Rows the engine must see, their text fields copied out of the stream.
///
/// The first stage copies the text of each row it hands over while the row is
/// still in its cache, one field after the other into [`text`](Self::text): the
/// rating then reads a batch front to back and checks it as UTF-8 in one go
/// ([`BatchText`]), instead of parsing each row again out of chunks another core
/// read long before.
#[derive(Default)]
pub struct RowBatch {
    /// The text fields of the rows, back to back, in [`TEXT_FIELDS`] order.
    pub text: Vec<u8>,
    /// The rows, in stream order.
    pub rows: Vec<HandedOver>,
}

/// Rows per batch handed over.
const HANDOVER_ROWS: usize = 4_096;

/// The text fields a handed-over row carries, in order.
pub const TEXT_FIELDS: [&str; 8] = [
    "call_key",
    "trunk_id",
    "caller",
    "callee",
    "forwarding_party",
    "teams_user",
    "teams_call_type",
    "teams_sbc_fqdn",
];

/// A row handed over to the rating.
pub struct HandedOver {
    /// The trunk index, [`UNKNOWN_TRUNK`] for a trunk provisioning does not know.
    pub trunk: u32,
    /// Where the row's first text field starts in [`RowBatch::text`].
    pub start: u32,
    /// Where each text field ends in [`RowBatch::text`] (each starts where the one
    /// before ends).
    pub ends: [u32; TEXT_FIELDS.len()],
    /// `direction`.
    pub direction: Direction,
    /// `disposition`.
    pub disposition: Disposition,
    /// `emergency`.
    pub emergency: bool,
    /// `invite_ms`.
    pub invite_ms: u64,
    /// `billable_ms`.
    pub billable_ms: u64,
    /// The callee, classified here for an answered outbound call (the engine
    /// classifies only those).
    pub destination: Option<Destination>,
}

impl RowBatch {
    /// Adds `row` (of the trunk with index `trunk`) with its text.
    fn hand_over(
        &mut self,
        row: &RowRef<'_>,
        trunk: u32,
        (direction, disposition): (Direction, Disposition),
        destination: Option<Destination>,
    ) -> Result<(), String> {
        let (start, ends) = self.copy_text(row)?;
        self.rows.push(HandedOver {
            trunk,
            start,
            ends,
            direction,
            disposition,
            emergency: row.emergency != 0,
            invite_ms: row.invite_ms,
            billable_ms: row.billable_ms,
            destination,
        });
        Ok(())
    }

    /// Appends `row`'s text fields to [`text`](Self::text); the row's start and
    /// field ends.
    fn copy_text(&mut self, row: &RowRef<'_>) -> Result<(u32, [u32; TEXT_FIELDS.len()]), String> {
        let offset = |len: usize| {
            u32::try_from(len).map_err(|_| {
                record_error(
                    row.call_key,
                    "the batch's text passes 4 GiB: a text field is far too long",
                )
            })
        };
        let start = offset(self.text.len())?;
        let mut ends = [0u32; TEXT_FIELDS.len()];
        let fields = [
            row.call_key,
            row.trunk_id,
            row.caller,
            row.callee,
            row.forwarding_party,
            row.teams_user,
            row.teams_call_type,
            row.teams_sbc_fqdn,
        ];
        for (end, field) in ends.iter_mut().zip(fields) {
            self.text.extend_from_slice(field);
            *end = offset(self.text.len())?;
        }
        Ok((start, ends))
    }

    /// The batch's text, checked as UTF-8.
    pub fn text(&self) -> BatchText<'_> {
        BatchText {
            bytes: &self.text,
            checked: std::str::from_utf8(&self.text).ok(),
        }
    }
}

/// A batch's text, checked as UTF-8 as a whole; a row's fields are then slices
/// of it. When the whole is not UTF-8 (some field is not), each field is checked
/// on its own, so that the error names the row and the field.
pub struct BatchText<'a> {
    bytes: &'a [u8],
    checked: Option<&'a str>,
}

impl<'a> BatchText<'a> {
    /// The text fields of `row`, in [`TEXT_FIELDS`] order.
    ///
    /// # Errors
    /// A field is not UTF-8 (or the row's offsets are not in the batch), with the
    /// call key and the field's name.
    pub fn fields(&self, row: &HandedOver) -> Result<[&'a str; TEXT_FIELDS.len()], String> {
        let mut fields = [""; TEXT_FIELDS.len()];
        let mut start = row.start as usize;
        for (i, end) in row.ends.iter().enumerate() {
            let end = *end as usize;
            // A slice of checked text is UTF-8 when it starts and ends on
            // character boundaries; a field that is not UTF-8 ends inside a
            // character, or made the whole check fail.
            let field = self
                .checked
                .and_then(|text| text.get(start..end))
                .or_else(|| std::str::from_utf8(self.bytes.get(start..end)?).ok());
            fields[i] = field.ok_or_else(|| {
                let key_end = (row.ends[0] as usize).min(self.bytes.len());
                let key = self.bytes.get(row.start as usize..key_end).unwrap_or(&[]);
                record_error(key, &format!("{} is not UTF-8", TEXT_FIELDS[i]))
            })?;
            start = end;
        }
        Ok(fields)
    }
}

/// The caller check of the first stage: each trunk's customer and the caller
/// numbers (as recorded, packed) already found in its inventory.
pub struct CallerCheck {
    numbers: Arc<CustomerNumbers>,
    /// Per trunk index: its customer when its callers are checked.
    customers: Vec<Option<String>>,
    own: Vec<OwnCallers>,
}

/// A trunk's first own caller numbers, in one cache line; a trunk presenting
/// more has them looked up in the inventory each time.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct OwnCallers {
    numbers: [u64; 7],
    len: u64,
}

impl CallerCheck {
    /// The check for trunks whose customers are `customers[index]` (`None`: not
    /// checked).
    pub fn new(numbers: Arc<CustomerNumbers>, customers: Vec<Option<String>>) -> Self {
        let own = vec![OwnCallers::default(); customers.len()];
        CallerCheck {
            numbers,
            customers,
            own,
        }
    }

    /// `None` when the trunk's callers are not checked, else whether `caller`
    /// is the customer's (an empty caller counts as checked: nothing to check).
    fn is_own(&mut self, trunk: u32, caller: &[u8]) -> Option<bool> {
        let customer = self.customers.get(trunk as usize)?.as_deref()?;
        if caller.is_empty() {
            return Some(true);
        }
        let Ok(text) = std::str::from_utf8(caller) else {
            return Some(false);
        };
        let packed = crate::destination::pack_number(text);
        let own = self.own.get_mut(trunk as usize)?;
        let known = &own.numbers[..own.len as usize];
        if packed.is_some_and(|p| known.contains(&p)) {
            return Some(true);
        }
        if !self.numbers.holds(customer, text) {
            return Some(false);
        }
        if let Some(p) = packed.filter(|_| (own.len as usize) < own.numbers.len()) {
            own.numbers[own.len as usize] = p;
            own.len += 1;
        }
        Some(true)
    }
}

/// The trunk index of a row whose trunk provisioning does not know.
pub const UNKNOWN_TRUNK: u32 = u32::MAX;

/// What the first stage counted over the whole month.
#[derive(Debug, Default)]
pub struct Triage {
    /// Rows read.
    pub calls_read: u64,
    /// Chunks of the HTTP body read.
    pub chunks: u64,
    /// Order-independent digest of the keys and revisions read: wrapping sum and
    /// xor of [`key_hash`]es.
    pub digest_sum: u64,
    /// See `digest_sum`.
    pub digest_xor: u64,
    /// Per trunk index: rows settled here as not billed (inbound, emergency or
    /// unanswered, carrying no evidence).
    pub not_billed: Vec<u64>,
}

/// Trunk ids to rater indexes: an open-addressed table (linear probing, at
/// most a quarter full) of each id's hash and index, with the id itself inline
/// when short (else where it sits in one buffer) to check a match, so that
/// looking up the trunk of each of millions of rows touches one entry, whose
/// address is known from the hash alone ([`touch`](Self::touch)).
pub struct TrunkIds {
    text: Vec<u8>,
    /// (start in `text`, length, index), in insertion order.
    spans: Vec<(u32, u32, u32)>,
    slots: Vec<Option<TrunkSlot>>,
}

/// Ids up to this length are kept in the table entry.
const INLINE_ID: usize = 22;

#[derive(Clone, Copy)]
struct TrunkSlot {
    hash: u64,
    index: u32,
    span: u32,
    len: u8,
    inline: [u8; INLINE_ID],
}

impl Default for TrunkIds {
    fn default() -> Self {
        TrunkIds {
            text: Vec::new(),
            spans: Vec::new(),
            slots: vec![None; 16],
        }
    }
}

impl TrunkIds {
    fn hash(id: &[u8]) -> u64 {
        use std::hash::Hasher;
        let mut h = crate::hashing::FastHasher::default();
        h.write(id);
        h.finish()
    }

    fn first_slot(&self, hash: u64) -> usize {
        // The table's length is a power of two.
        (hash as usize) & (self.slots.len() - 1)
    }

    /// Adds a trunk id with its index (an id added twice keeps its first index).
    pub fn insert(&mut self, id: &str, index: u32) {
        if self.get(id.as_bytes()).is_some() {
            return;
        }
        if (self.spans.len() + 1) * 4 > self.slots.len() {
            // Twice the room: every id is placed again, in the same order (so
            // that the spans keep their positions).
            self.slots = vec![None; self.slots.len() * 2];
            for (start, len, index) in std::mem::take(&mut self.spans) {
                let id = self.text[start as usize..(start + len) as usize].to_vec();
                self.place(&id, index, start);
            }
        }
        let start = self.text.len() as u32;
        self.text.extend_from_slice(id.as_bytes());
        self.place(id.as_bytes(), index, start);
    }

    /// Puts an id whose text is at `start` in `text` in the table.
    fn place(&mut self, id: &[u8], index: u32, start: u32) {
        let hash = Self::hash(id);
        let mut slot = TrunkSlot {
            hash,
            index,
            span: self.spans.len() as u32,
            len: u8::MAX,
            inline: [0; INLINE_ID],
        };
        if id.len() <= INLINE_ID {
            slot.len = id.len() as u8;
            slot.inline[..id.len()].copy_from_slice(id);
        }
        self.spans.push((start, id.len() as u32, index));
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(hash);
        while self.slots[at].is_some() {
            at = (at + 1) & mask;
        }
        self.slots[at] = Some(slot);
    }

    fn matches(&self, slot: &TrunkSlot, id: &[u8]) -> bool {
        if usize::from(slot.len) <= INLINE_ID {
            slot.inline.get(..usize::from(slot.len)) == Some(id)
        } else {
            self.spans
                .get(slot.span as usize)
                .is_some_and(|(start, len, _)| {
                    self.text.get(*start as usize..(*start + *len) as usize) == Some(id)
                })
        }
    }

    /// The index of a trunk id.
    pub fn get(&self, id: &[u8]) -> Option<u32> {
        let hash = Self::hash(id);
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(hash);
        // At most a quarter full: an empty slot always ends the probe.
        while let Some(slot) = &self.slots[at] {
            if slot.hash == hash && self.matches(slot, id) {
                return Some(slot.index);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The entry `id` is looked up at first.
    pub fn slot_index(&self, id: &[u8]) -> usize {
        self.first_slot(Self::hash(id))
    }

    /// Reads the entries at `indexes` ([`slot_index`](Self::slot_index)), so
    /// that they are in the CPU cache when [`get`](Self::get) looks (see
    /// [`DestinationCache::touch`]).
    pub fn touch(&self, indexes: &[usize]) -> usize {
        // An entry may straddle two cache lines: read both ends.
        indexes
            .iter()
            .filter_map(|&i| self.slots.get(i)?.as_ref())
            .map(|slot| usize::from(slot.len) + usize::from(slot.inline[INLINE_ID - 1]))
            .sum()
    }
}

/// The direction column's Enum8 value.
pub fn direction_of(code: i8) -> Result<Direction, String> {
    match code {
        1 => Ok(Direction::Inbound),
        2 => Ok(Direction::Outbound),
        other => Err(format!("direction value {other} is not known")),
    }
}

/// The disposition column's Enum8 value.
pub fn disposition_of(code: i8) -> Result<Disposition, String> {
    usize::try_from(code - 1)
        .ok()
        .and_then(|i| Disposition::ALL.get(i).copied())
        .ok_or_else(|| format!("disposition value {code} is not known"))
}

/// A stable 64-bit hash of a call key for the calls digest: 8 bytes at a time,
/// each word mixed with a multiply and a rotation (a fixed algorithm, so digests
/// stay comparable across releases).
pub fn key_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 32)
}

/// Batches handed over between the stages.
const BATCHES_IN_FLIGHT: usize = 16;

/// An error about a stored record, naming its key.
pub fn record_error(key: &[u8], message: &str) -> String {
    format!("call {}: {message}", String::from_utf8_lossy(key))
}

/// Sorts a row out: counts it here, or hands it over in `batch`.
fn sort_out(
    row: &RowRef<'_>,
    trunks: &TrunkIds,
    callers: &mut CallerCheck,
    destinations: &mut DestinationCache,
    not_billed: &mut [u64],
    batch: &mut RowBatch,
) -> Result<(), String> {
    let direction = direction_of(row.direction).map_err(|e| record_error(row.call_key, &e))?;
    let disposition =
        disposition_of(row.disposition).map_err(|e| record_error(row.call_key, &e))?;
    let Some(index) = trunks.get(row.trunk_id) else {
        return batch.hand_over(row, UNKNOWN_TRUNK, (direction, disposition), None);
    };
    let settled = direction == Direction::Inbound
        || row.emergency != 0
        || disposition != Disposition::Answered;
    let no_teams = row.teams_user.is_empty()
        && row.teams_call_type.is_empty()
        && row.teams_sbc_fqdn.is_empty();
    if settled && no_teams {
        // Outbound callers are checked against the inventory (shared-service
        // evidence); a foreign one goes to the engine, which records it. The
        // engine checks the callers of the rows it is handed anyway, in the
        // rater's lines it reads for them.
        let own_caller = if direction == Direction::Outbound {
            callers.is_own(index, row.caller)
        } else {
            None
        };
        if own_caller != Some(false) {
            // Nothing to learn from this call: count it and move on.
            if let Some(n) = not_billed.get_mut(index as usize) {
                *n += 1;
            }
            return Ok(());
        }
    }
    // Text that is not UTF-8 is left for the rating to report.
    let destination = (!settled)
        .then(|| {
            std::str::from_utf8(row.callee)
                .ok()
                .map(|callee| destinations.classify(callee))
        })
        .flatten();
    batch.hand_over(row, index, (direction, disposition), destination)
}

/// Where the rating gives back the batches it is done with, so that the first
/// stage refills them instead of allocating (and the allocator zeroing fresh
/// pages for) new ones.
pub type Recycle = tokio::sync::mpsc::UnboundedSender<RowBatch>;

/// Starts the first stage on `stream`: the batches for the rating, where to give
/// them back, and the month's totals when the stream ends.
pub fn spawn(
    mut stream: MonthStream,
    trunks: TrunkIds,
    mut callers: CallerCheck,
) -> (
    tokio::sync::mpsc::Receiver<Result<RowBatch, String>>,
    Recycle,
    tokio::task::JoinHandle<Triage>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
    let (recycle, mut recycled) = tokio::sync::mpsc::unbounded_channel::<RowBatch>();
    let task = tokio::spawn(async move {
        let mut next_batch = || match recycled.try_recv() {
            Ok(mut batch) => {
                batch.text.clear();
                batch.rows.clear();
                batch
            }
            Err(_) => RowBatch {
                text: Vec::with_capacity(HANDOVER_ROWS * 128),
                rows: Vec::with_capacity(HANDOVER_ROWS + 1_024),
            },
        };
        let mut triage = Triage {
            not_billed: vec![0; callers.customers.len()],
            ..Triage::default()
        };
        let mut batch = next_batch();
        let mut destinations = DestinationCache::new();
        let (mut trunk_slots, mut destination_slots) = (Vec::new(), Vec::new());
        loop {
            match stream.fill().await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return triage;
                }
            }
            triage.chunks += 1;
            // Gather the table entries the chunk's rows will look up, then read
            // them in one go: these reads do not depend on each other, so the CPU
            // waits for memory once for many of them, instead of once per row and
            // table.
            trunk_slots.clear();
            destination_slots.clear();
            stream.look_ahead(|row| {
                trunk_slots.push(trunks.slot_index(row.trunk_id));
                if row.direction == 2 && row.disposition == 1 {
                    destination_slots.extend(DestinationCache::slot_index(row.callee));
                }
            });
            std::hint::black_box(
                trunks.touch(&trunk_slots) + destinations.touch(&destination_slots),
            );
            let mut failed = None;
            while let Some(row) = stream.next_row() {
                triage.calls_read += 1;
                let h = key_hash(row.call_key)
                    ^ u64::from(row.revision).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                triage.digest_sum = triage.digest_sum.wrapping_add(h);
                triage.digest_xor ^= h.rotate_left(17);
                if let Err(e) = sort_out(
                    &row,
                    &trunks,
                    &mut callers,
                    &mut destinations,
                    &mut triage.not_billed,
                    &mut batch,
                ) {
                    failed = Some(e);
                    break;
                }
            }
            let full = batch.rows.len() >= HANDOVER_ROWS;
            if (full || failed.is_some())
                && tx
                    .send(Ok(std::mem::replace(&mut batch, next_batch())))
                    .await
                    .is_err()
            {
                return triage;
            }
            if let Some(e) = failed {
                let _ = tx.send(Err(e)).await;
                return triage;
            }
        }
        if !batch.rows.is_empty() {
            let _ = tx.send(Ok(batch)).await;
        }
        triage
    });
    (rx, recycle, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_ids_find_their_index() {
        let mut ids = TrunkIds::default();
        for (i, id) in [
            "acme",
            "t1",
            "t10",
            "boulangerie-martin-nantes",
            "a-trunk-id-longer-than-twenty-two-bytes",
        ]
        .iter()
        .enumerate()
        {
            ids.insert(id, i as u32 * 10);
        }
        assert_eq!(ids.get(b"t10"), Some(20));
        assert_eq!(ids.get(b"boulangerie-martin-nantes"), Some(30));
        assert_eq!(
            ids.get(b"a-trunk-id-longer-than-twenty-two-bytes"),
            Some(40)
        );
        assert_eq!(ids.get(b"a-trunk-id-longer-than-twenty-two-bytez"), None);
        assert_eq!(ids.get(b"acme"), Some(0));
        assert_eq!(ids.get(b"t100"), None);
        assert_eq!(ids.get(b""), None);
    }

    #[test]
    fn trunk_ids_grow_and_keep_the_first_index_of_an_id() {
        let mut ids = TrunkIds::default();
        let names: Vec<String> = (0..5_000)
            .map(|i| {
                if i % 3 == 0 {
                    format!("a-long-trunk-identifier-number-{i}")
                } else {
                    format!("t{i}")
                }
            })
            .collect();
        for (i, name) in names.iter().enumerate() {
            ids.insert(name, i as u32);
        }
        ids.insert("t1", 99_999);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(ids.get(name.as_bytes()), Some(i as u32), "{name}");
        }
        assert_eq!(ids.get(b"t5000"), None);
        // Touching the entries of known ids reads them (lengths add up).
        let slots: Vec<usize> = ["t1", "t2"].map(|n| ids.slot_index(n.as_bytes())).into();
        assert!(ids.touch(&slots) >= 4);
    }

    fn row_ref<'a>(call_key: &'a [u8], caller: &'a [u8], callee: &'a [u8]) -> RowRef<'a> {
        RowRef {
            call_key,
            trunk_id: b"t1",
            direction: 2,
            caller,
            callee,
            forwarding_party: b"",
            disposition: 1,
            emergency: 0,
            invite_ms: 1,
            billable_ms: 2,
            revision: 1,
            teams_user: b"",
            teams_call_type: b"",
            teams_sbc_fqdn: b"",
        }
    }

    fn handed(batch: &mut RowBatch, row: &RowRef<'_>) -> HandedOver {
        let (start, ends) = batch.copy_text(row).unwrap();
        HandedOver {
            trunk: 0,
            start,
            ends,
            direction: Direction::Outbound,
            disposition: Disposition::Answered,
            emergency: false,
            invite_ms: row.invite_ms,
            billable_ms: row.billable_ms,
            destination: None,
        }
    }

    #[test]
    fn batch_text_gives_each_row_its_fields_and_names_a_field_that_is_not_utf8() {
        let mut batch = RowBatch::default();
        let first = handed(
            &mut batch,
            &row_ref(b"k1", "+33140000000".as_bytes(), "Zoé".as_bytes()),
        );
        // "é" cut in two between caller and callee: the batch as a whole is UTF-8,
        // the two fields are not.
        let cut = "é".as_bytes();
        let split = handed(&mut batch, &row_ref(b"k2", &cut[..1], &cut[1..]));
        let last = handed(&mut batch, &row_ref(b"k3", b"", b"3949"));
        assert!(std::str::from_utf8(&batch.text).is_ok());
        let text = batch.text();
        let fields = text.fields(&first).unwrap();
        assert_eq!(fields[..4], ["k1", "t1", "+33140000000", "Zoé"]);
        assert_eq!(fields[4..], ["", "", "", ""]);
        assert_eq!(
            text.fields(&split).unwrap_err(),
            "call k2: caller is not UTF-8"
        );
        assert_eq!(text.fields(&last).unwrap()[3], "3949");

        // A byte that is never UTF-8 fails the whole batch: each field is then
        // checked on its own, and only its row fails.
        let mut batch = RowBatch::default();
        let good = handed(&mut batch, &row_ref(b"k4", b"+33140000000", b"0612345678"));
        let bad = handed(&mut batch, &row_ref(b"k5", b"+33140000000", b"06\xff"));
        assert!(std::str::from_utf8(&batch.text).is_err());
        let text = batch.text();
        assert_eq!(text.fields(&good).unwrap()[3], "0612345678");
        assert_eq!(
            text.fields(&bad).unwrap_err(),
            "call k5: callee is not UTF-8"
        );
    }

    #[test]
    fn enum_values_are_checked() {
        assert_eq!(direction_of(2), Ok(Direction::Outbound));
        assert!(direction_of(3).unwrap_err().contains("direction value 3"));
        assert_eq!(disposition_of(1), Ok(Disposition::Answered));
        assert!(disposition_of(0).is_err());
        assert!(disposition_of(100).is_err());
    }

    #[test]
    fn key_hash_is_fixed() {
        // The digest recorded with each run must not change across releases.
        assert_ne!(key_hash(b"a"), key_hash(b"b"));
        assert_ne!(key_hash(b"12345678a"), key_hash(b"12345678b"));
        assert_eq!(key_hash(b"0123456789abcdef"), 0x6541_10dd_3cec_6d15);
    }
}
