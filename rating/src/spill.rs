//! The counted calls kept between the two passes of a run, on disk.
//!
//! Pass 1 streams the month in any order and cannot know yet whether a trunk
//! breaches; the compact form of each counted call ([`CountedCall`]) is appended to
//! one of [`BUCKETS`] files chosen by the trunk's index, so memory does not grow
//! with the number of calls. Pass 2 reads one bucket at a time and keeps only the
//! calls of the trunks that need the ordered fair-use pass: peak memory is one
//! bucket's breaching trunks, not the month.
//!
//! Record layout (little-endian): trunk index `u32`, INVITE ms `u64`, billable ms
//! `u64`, packed number `u64`, call key length `u16` and bytes, forwarding user
//! length `u16` and bytes. The files live in a temporary folder removed when the
//! spill is dropped.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::engine::CountedCall;

/// How many bucket files the counted calls are spread over.
pub const BUCKETS: usize = 64;

/// Counted calls spilled to disk by trunk.
pub struct Spill {
    dir: tempfile::TempDir,
    writers: Vec<BufWriter<File>>,
    written: u64,
}

impl Spill {
    /// A new spill in a temporary folder under `parent` (the system's temporary
    /// folder when `None`).
    ///
    /// # Errors
    /// When the folder or its files cannot be created.
    pub fn new(parent: Option<&Path>) -> io::Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("rating-spill-");
        let dir = match parent {
            Some(p) => builder.tempdir_in(p)?,
            None => builder.tempdir()?,
        };
        let writers = (0..BUCKETS)
            .map(|i| {
                File::create(dir.path().join(format!("{i:02}.bin")))
                    .map(|f| BufWriter::with_capacity(64 * 1024, f))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Spill {
            dir,
            writers,
            written: 0,
        })
    }

    /// Appends a counted call of the trunk with index `trunk`.
    ///
    /// # Errors
    /// Disk errors.
    pub fn push(&mut self, trunk: u32, call: &CountedCall) -> io::Result<()> {
        self.push_parts(
            trunk,
            call.invite_ms,
            call.billable_ms,
            call.number,
            &call.call_key,
            &call.forwarding_party,
        )
    }

    /// Appends a counted call given by its parts (no intermediate copy).
    ///
    /// # Errors
    /// Disk errors.
    pub fn push_parts(
        &mut self,
        trunk: u32,
        invite_ms: u64,
        billable_ms: u64,
        number: u64,
        call_key: &str,
        forwarding_party: &str,
    ) -> io::Result<()> {
        let w = &mut self.writers[trunk as usize % BUCKETS];
        let mut head = [0u8; 28];
        head[..4].copy_from_slice(&trunk.to_le_bytes());
        head[4..12].copy_from_slice(&invite_ms.to_le_bytes());
        head[12..20].copy_from_slice(&billable_ms.to_le_bytes());
        head[20..28].copy_from_slice(&number.to_le_bytes());
        w.write_all(&head)?;
        write_str(w, call_key)?;
        write_str(w, forwarding_party)?;
        self.written += 1;
        Ok(())
    }

    /// Calls written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Flushes every bucket; call once after the last [`push`](Self::push).
    ///
    /// # Errors
    /// Disk errors.
    pub fn finish_writing(&mut self) -> io::Result<()> {
        for w in &mut self.writers {
            w.flush()?;
        }
        Ok(())
    }

    /// The buckets holding at least one of the `wanted` trunks, in order.
    pub fn buckets_of(&self, wanted: &HashSet<u32>) -> Vec<usize> {
        (0..BUCKETS)
            .filter(|b| wanted.iter().any(|t| *t as usize % BUCKETS == *b))
            .collect()
    }

    /// Reads one bucket, keeping the counted calls of the `wanted` trunks, by trunk
    /// index.
    ///
    /// # Errors
    /// Disk errors.
    pub fn read_bucket(
        &self,
        bucket: usize,
        wanted: &HashSet<u32>,
    ) -> io::Result<BTreeMap<u32, Vec<CountedCall>>> {
        let file = File::open(self.dir.path().join(format!("{bucket:02}.bin")))?;
        let mut r = BufReader::with_capacity(64 * 1024, file);
        let mut calls: BTreeMap<u32, Vec<CountedCall>> = BTreeMap::new();
        while let Some((trunk, call)) = read_record(&mut r)? {
            if wanted.contains(&trunk) {
                calls.entry(trunk).or_default().push(call);
            }
        }
        Ok(calls)
    }
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    let len = u16::try_from(s.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("text of {} bytes is too long to spill", s.len()),
        )
    })?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn read_record(r: &mut impl Read) -> io::Result<Option<(u32, CountedCall)>> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut nums = [0u8; 24];
    r.read_exact(&mut nums)?;
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&nums[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let call_key = read_str(r)?;
    let forwarding_party = read_str(r)?;
    Ok(Some((
        u32::from_le_bytes(head),
        CountedCall {
            call_key,
            invite_ms: u64_at(0),
            billable_ms: u64_at(8),
            number: u64_at(16),
            forwarding_party,
        },
    )))
}

fn read_str(r: &mut impl Read) -> io::Result<String> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let mut bytes = vec![0u8; usize::from(u16::from_le_bytes(len))];
    r.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(key: &str, t: u64, fwd: &str) -> CountedCall {
        CountedCall {
            call_key: key.into(),
            invite_ms: t,
            billable_ms: t * 2,
            number: t * 3,
            forwarding_party: fwd.into(),
        }
    }

    #[test]
    fn round_trips_only_the_wanted_trunks() {
        let mut spill = Spill::new(None).unwrap();
        spill.push(1, &counted("a", 1, "")).unwrap();
        spill.push(65, &counted("b", 2, "+33140000000")).unwrap();
        spill.push(1, &counted("c", 3, "")).unwrap();
        spill.push(2, &counted("d", 4, "")).unwrap();
        spill.finish_writing().unwrap();
        assert_eq!(spill.len(), 4);
        let wanted = HashSet::from([1, 65]);
        assert_eq!(spill.buckets_of(&wanted), [1]);
        let seen: Vec<(u32, Vec<CountedCall>)> =
            spill.read_bucket(1, &wanted).unwrap().into_iter().collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 1);
        assert_eq!(seen[0].1, [counted("a", 1, ""), counted("c", 3, "")]);
        assert_eq!(seen[1].1, [counted("b", 2, "+33140000000")]);
    }
}
