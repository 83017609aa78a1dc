//! The durable on-disk spool that holds call records ClickHouse has not acknowledged.
//!
//! # Layout
//! ```text
//! <spool_dir>/segments/<id, 20 digits>.seg   frames, appended in order
//! <spool_dir>/position                       "<segment id> <byte offset>" of the oldest
//!                                            frame not yet acknowledged by ClickHouse
//! <spool_dir>/rejected.jsonl                 records ClickHouse refused for good, each
//!                                            with the error (never dropped silently)
//! <spool_dir>/corrupt/                       bytes that failed their checksum
//! ```
//!
//! # Frames
//! A frame is one batch: the magic `FTS1`, the payload length (u32 little-endian), the
//! CRC-32 of the payload (u32 little-endian), then the payload, a JSON array of
//! [`CallRecord`]s. One frame is written and fsync'd per batch (group commit): a batch
//! counts as durable when [`Spool::append`] returns, and not before.
//!
//! # Invariants and recovery
//! - Frames are only appended, to the newest segment; a segment is rotated when it
//!   passes its size limit, and deleted once every frame in it is acknowledged.
//! - The position advances only after ClickHouse acknowledged the frame. It is written
//!   without fsync: after a crash it may lag, and the frames replayed twice are
//!   collapsed by ClickHouse on their stable keys.
//! - On open, every frame after the position is read back and checked. A frame cut
//!   short at the end of the newest segment is a write the crash interrupted: it was
//!   never acknowledged to anyone, so it is truncated away. Any other bad frame is
//!   corruption: the bytes from it to the end of its segment are moved to `corrupt/`
//!   and reported, never silently dropped.

use crate::record::CallRecord;
use serde::Serialize;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"FTS1";
const HEADER_LEN: u64 = 12;
/// A length above this is a corrupted header, not a batch.
const MAX_FRAME_BYTES: u32 = 512 * 1024 * 1024;

/// Where a spooled batch lies, to acknowledge it with [`Spool::commit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPosition {
    segment: u64,
    offset: u64,
    len: u64,
    records: usize,
}

/// A batch read back from the spool.
#[derive(Debug)]
pub struct SpooledBatch {
    /// Where it lies.
    pub position: BatchPosition,
    /// Its records, in the order they were written.
    pub records: Vec<CallRecord>,
}

/// What [`Spool::open`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Batches waiting for ClickHouse.
    pub pending_batches: usize,
    /// Records in those batches.
    pub pending_records: usize,
    /// Bytes of an interrupted, never acknowledged write cut from the newest segment.
    pub torn_bytes: u64,
    /// Files written to `corrupt/` for bytes that failed their checksum.
    pub corrupt_files: Vec<PathBuf>,
}

/// The spool. Not thread-safe by itself: the writer keeps it behind a mutex.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    segment_max_bytes: u64,
    active: Option<(u64, File, u64)>,
    pending: VecDeque<BatchPosition>,
    pending_records: usize,
    next_segment: u64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and recovers what a previous
    /// process left in it.
    ///
    /// # Errors
    /// I/O errors on the folder or its files.
    pub fn open(dir: &Path, segment_max_bytes: u64) -> io::Result<(Spool, RecoveryReport)> {
        fs::create_dir_all(dir.join("segments"))?;
        let (start_segment, start_offset) = read_position(&dir.join("position"));
        let mut ids = segment_ids(&dir.join("segments"))?;
        ids.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            segment_max_bytes: segment_max_bytes.max(HEADER_LEN + 1),
            active: None,
            pending: VecDeque::new(),
            pending_records: 0,
            next_segment: ids.last().copied().unwrap_or(0).max(start_segment) + 1,
        };
        let mut report = RecoveryReport::default();
        let newest = ids.last().copied();
        for id in ids {
            let path = spool.segment_path(id);
            if id < start_segment {
                fs::remove_file(&path)?;
                continue;
            }
            let from = if id == start_segment { start_offset } else { 0 };
            spool.recover_segment(id, from, Some(id) == newest, &mut report)?;
        }
        report.pending_batches = spool.pending.len();
        report.pending_records = spool.pending_records;
        if spool.pending.is_empty() {
            spool.clear_segments()?;
        }
        Ok((spool, report))
    }

    fn recover_segment(
        &mut self,
        id: u64,
        from: u64,
        newest: bool,
        report: &mut RecoveryReport,
    ) -> io::Result<()> {
        let path = self.segment_path(id);
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        let file_len = file.metadata()?.len();
        let mut offset = from.min(file_len);
        while offset < file_len {
            match read_frame(&mut file, offset, file_len) {
                Ok(Frame::Complete { len, records }) => {
                    self.pending.push_back(BatchPosition {
                        segment: id,
                        offset,
                        len,
                        records,
                    });
                    self.pending_records += records;
                    offset += len;
                }
                Ok(Frame::Truncated) if newest => {
                    report.torn_bytes += file_len - offset;
                    break;
                }
                Ok(Frame::Truncated) | Err(_) => {
                    let corrupt_dir = self.dir.join("corrupt");
                    fs::create_dir_all(&corrupt_dir)?;
                    let aside = corrupt_dir.join(format!("{id:020}-{offset}.bin"));
                    let mut rest = Vec::new();
                    file.seek(SeekFrom::Start(offset))?;
                    file.read_to_end(&mut rest)?;
                    fs::write(&aside, rest)?;
                    report.corrupt_files.push(aside);
                    break;
                }
            }
        }
        if offset < file_len {
            file.set_len(offset)?;
            file.sync_all()?;
        }
        if newest {
            // Appends continue at the end of the last good frame.
            file.seek(SeekFrom::Start(offset))?;
            self.active = Some((id, file, offset));
        }
        Ok(())
    }

    /// Appends one batch as one frame and fsyncs it. When this returns `Ok`, the
    /// records survive a crash.
    ///
    /// # Errors
    /// I/O errors (disk full, permissions): the batch is then NOT durable.
    pub fn append(&mut self, records: &[CallRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let payload = serde_json::to_vec(records).map_err(io::Error::other)?;
        let payload_len = u32::try_from(payload.len())
            .ok()
            .filter(|len| *len <= MAX_FRAME_BYTES)
            .ok_or_else(|| io::Error::other("batch too large for one spool frame"))?;
        let mut frame = Vec::with_capacity(payload.len() + HEADER_LEN as usize);
        frame.extend_from_slice(MAGIC);
        frame.extend_from_slice(&payload_len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);

        let rotate = match &self.active {
            Some((_, _, len)) => *len > 0 && *len + frame.len() as u64 > self.segment_max_bytes,
            None => true,
        };
        if rotate {
            self.open_new_segment()?;
        }
        let Some((id, file, len)) = self.active.as_mut() else {
            return Err(io::Error::other("no active spool segment"));
        };
        let offset = *len;
        if let Err(e) = file.write_all(&frame).and_then(|()| file.sync_data()) {
            // Leave no partial frame behind for the next append to follow.
            let _ = file.set_len(offset);
            return Err(e);
        }
        *len += frame.len() as u64;
        self.pending.push_back(BatchPosition {
            segment: *id,
            offset,
            len: frame.len() as u64,
            records: records.len(),
        });
        self.pending_records += records.len();
        Ok(())
    }

    fn open_new_segment(&mut self) -> io::Result<()> {
        let id = self.next_segment;
        self.next_segment += 1;
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(self.segment_path(id))?;
        // The new file's directory entry must be durable too.
        File::open(self.dir.join("segments"))?.sync_all()?;
        self.active = Some((id, file, 0));
        Ok(())
    }

    /// Reads back the oldest batch not yet acknowledged, if any.
    ///
    /// # Errors
    /// I/O errors, or a frame that no longer passes its checksum.
    pub fn oldest(&self) -> io::Result<Option<SpooledBatch>> {
        let Some(position) = self.pending.front().copied() else {
            return Ok(None);
        };
        let mut file = File::open(self.segment_path(position.segment))?;
        let file_len = file.metadata()?.len();
        let payload = read_payload(&mut file, position.offset, file_len)?
            .ok_or_else(|| io::Error::other("spooled frame is cut short"))?;
        let records = serde_json::from_slice(&payload).map_err(io::Error::other)?;
        Ok(Some(SpooledBatch { position, records }))
    }

    /// Acknowledges the oldest batch: ClickHouse has it. Deletes segments that hold
    /// nothing pending any more.
    ///
    /// # Errors
    /// When `position` is not the oldest pending batch, or on I/O errors.
    pub fn commit(&mut self, position: BatchPosition) -> io::Result<()> {
        if self.pending.front() != Some(&position) {
            return Err(io::Error::other(
                "spool commit out of order: only the oldest batch can be acknowledged",
            ));
        }
        self.pending.pop_front();
        self.pending_records -= position.records;
        let next = match self.pending.front() {
            Some(p) => (p.segment, p.offset),
            None => (position.segment, position.offset + position.len),
        };
        write_position(&self.dir, next)?;
        for id in segment_ids(&self.dir.join("segments"))? {
            let is_active = self.active.as_ref().is_some_and(|(a, _, _)| *a == id);
            if id < next.0 && !is_active {
                fs::remove_file(self.segment_path(id))?;
            }
        }
        if self.pending.is_empty() {
            self.clear_segments()?;
        }
        Ok(())
    }

    /// Deletes every segment once nothing is pending; the next append starts a new one.
    fn clear_segments(&mut self) -> io::Result<()> {
        self.active = None;
        for id in segment_ids(&self.dir.join("segments"))? {
            fs::remove_file(self.segment_path(id))?;
        }
        write_position(&self.dir, (self.next_segment, 0))
    }

    /// Records ClickHouse refused for good, or that failed their own checks, go here
    /// with the reason, one JSON line each, fsync'd before this returns.
    ///
    /// # Errors
    /// I/O errors: the record is then not set aside.
    pub fn set_aside(&self, rejected: &[(CallRecord, String)], now_ms: u64) -> io::Result<()> {
        #[derive(Serialize)]
        struct Rejected<'a> {
            rejected_at_ms: u64,
            error: &'a str,
            record: &'a CallRecord,
        }
        let mut lines = Vec::new();
        for (record, error) in rejected {
            serde_json::to_writer(
                &mut lines,
                &Rejected {
                    rejected_at_ms: now_ms,
                    error,
                    record,
                },
            )
            .map_err(io::Error::other)?;
            lines.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.rejected_path())?;
        file.write_all(&lines)?;
        file.sync_data()
    }

    /// Path of the file holding records set aside.
    pub fn rejected_path(&self) -> PathBuf {
        self.dir.join("rejected.jsonl")
    }

    /// Records waiting for ClickHouse.
    pub fn pending_records(&self) -> usize {
        self.pending_records
    }

    /// Nothing is waiting for ClickHouse.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join("segments").join(format!("{id:020}.seg"))
    }
}

enum Frame {
    Complete { len: u64, records: usize },
    Truncated,
}

fn read_frame(file: &mut File, offset: u64, file_len: u64) -> io::Result<Frame> {
    match read_payload(file, offset, file_len)? {
        None => Ok(Frame::Truncated),
        Some(payload) => {
            let records: Vec<serde_json::Value> =
                serde_json::from_slice(&payload).map_err(io::Error::other)?;
            Ok(Frame::Complete {
                len: HEADER_LEN + payload.len() as u64,
                records: records.len(),
            })
        }
    }
}

/// The checked payload of the frame at `offset`; `None` when the file ends inside it.
fn read_payload(file: &mut File, offset: u64, file_len: u64) -> io::Result<Option<Vec<u8>>> {
    if offset + HEADER_LEN > file_len {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut header = [0u8; HEADER_LEN as usize];
    file.read_exact(&mut header)?;
    if &header[..4] != MAGIC {
        return Err(io::Error::other(format!(
            "no frame magic at offset {offset}"
        )));
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::other(format!(
            "frame length {len} at offset {offset} is not plausible"
        )));
    }
    if offset + HEADER_LEN + u64::from(len) > file_len {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Err(io::Error::other(format!(
            "checksum mismatch in the frame at offset {offset}"
        )));
    }
    Ok(Some(payload))
}

fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".seg").and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// A missing or unreadable position means "from the start": at worst batches are
/// replayed again, and ClickHouse collapses them on their keys.
fn read_position(path: &Path) -> (u64, u64) {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace();
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .unwrap_or((0, 0))
}

fn write_position(dir: &Path, (segment, offset): (u64, u64)) -> io::Result<()> {
    let tmp = dir.join("position.tmp");
    fs::write(&tmp, format!("{segment} {offset}\n"))?;
    fs::rename(tmp, dir.join("position"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    fn batch(range: std::ops::Range<u64>) -> Vec<CallRecord> {
        range.map(sample).collect()
    }

    fn drain(spool: &mut Spool) -> Vec<CallRecord> {
        let mut out = Vec::new();
        while let Some(b) = spool.oldest().unwrap() {
            out.extend(b.records);
            spool.commit(b.position).unwrap();
        }
        out
    }

    #[test]
    fn batches_come_back_in_order_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report, RecoveryReport::default());
        spool.append(&batch(0..3)).unwrap();
        spool.append(&batch(3..5)).unwrap();
        assert_eq!(spool.pending_records(), 5);
        drop(spool);

        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((report.pending_batches, report.pending_records), (2, 5));
        assert_eq!(drain(&mut spool), batch(0..5));
        assert!(spool.is_empty());
        drop(spool);
        let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.pending_records, 0);
        assert!(spool.is_empty());
    }

    #[test]
    fn acknowledged_batches_are_not_replayed_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&batch(0..2)).unwrap();
        spool.append(&batch(2..4)).unwrap();
        let first = spool.oldest().unwrap().unwrap();
        spool.commit(first.position).unwrap();
        drop(spool);
        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.pending_records, 2);
        assert_eq!(drain(&mut spool), batch(2..4));
    }

    #[test]
    fn segments_rotate_and_are_deleted_once_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 2000).unwrap();
        for i in 0..10 {
            spool.append(&batch(i * 2..i * 2 + 2)).unwrap();
        }
        let segments = segment_ids(&dir.path().join("segments")).unwrap().len();
        assert!(segments > 3, "expected rotation, got {segments} segment(s)");
        assert_eq!(drain(&mut spool), batch(0..20));
        assert_eq!(segment_ids(&dir.path().join("segments")).unwrap().len(), 0);
        spool.append(&batch(20..21)).unwrap();
        drop(spool);
        let (mut spool, _) = Spool::open(dir.path(), 2000).unwrap();
        assert_eq!(drain(&mut spool), batch(20..21));
    }

    #[test]
    fn an_interrupted_write_is_cut_and_earlier_batches_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&batch(0..3)).unwrap();
        drop(spool);
        let seg = dir.path().join("segments").join(format!("{:020}.seg", 1));
        let mut file = OpenOptions::new().append(true).open(&seg).unwrap();
        file.write_all(b"FTS1\x40\x00\x00\x00\x01\x02\x03\x04{\"par")
            .unwrap();
        drop(file);
        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.torn_bytes, 17);
        assert!(report.corrupt_files.is_empty());
        spool.append(&batch(3..4)).unwrap();
        assert_eq!(drain(&mut spool), batch(0..4));
    }

    #[test]
    fn a_corrupted_frame_is_moved_aside_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&batch(0..1)).unwrap();
        spool.append(&batch(1..2)).unwrap();
        let second = spool.pending[1];
        drop(spool);
        let seg = dir.path().join("segments").join(format!("{:020}.seg", 1));
        let mut bytes = fs::read(&seg).unwrap();
        let flip = (second.offset + HEADER_LEN + 5) as usize;
        bytes[flip] ^= 0xff;
        fs::write(&seg, &bytes).unwrap();
        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.pending_records, 1);
        assert_eq!(report.corrupt_files.len(), 1);
        let aside = fs::read(&report.corrupt_files[0]).unwrap();
        assert_eq!(aside.len() as u64, second.len);
        assert_eq!(drain(&mut spool), batch(0..1));
    }

    #[test]
    fn commit_refuses_anything_but_the_oldest_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&batch(0..1)).unwrap();
        spool.append(&batch(1..2)).unwrap();
        let second = spool.pending[1];
        assert!(spool.commit(second).is_err());
        assert_eq!(spool.pending_records(), 2);
    }

    #[test]
    fn set_aside_records_keep_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool
            .set_aside(&[(sample(1), "Code: 117 bad data".into())], 42)
            .unwrap();
        let text = fs::read_to_string(spool.rejected_path()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["error"], "Code: 117 bad data");
        assert_eq!(line["rejected_at_ms"], 42);
        let record: CallRecord = serde_json::from_value(line["record"].clone()).unwrap();
        assert_eq!(record, sample(1));
    }
}
