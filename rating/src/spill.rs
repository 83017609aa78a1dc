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
use std::io::{self, BufWriter, Write};
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

    /// Reads one bucket: the counted calls of the `wanted` trunks, by trunk index,
    /// and for the other trunks only (trunk index, packed number) pairs, sorted,
    /// to count their distinct numbers.
    ///
    /// # Errors
    /// Disk errors.
    pub fn read_bucket(&self, bucket: usize, wanted: &HashSet<u32>) -> io::Result<Bucket> {
        // A bucket is a few MiB: read whole, then parsed in place.
        let bytes = std::fs::read(self.dir.path().join(format!("{bucket:02}.bin")))?;
        let mut wanted_here: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|t| *t as usize % BUCKETS == bucket)
            .collect();
        wanted_here.sort_unstable();
        let truncated = || io::Error::new(io::ErrorKind::UnexpectedEof, "truncated spill record");
        let mut out = Bucket::default();
        let mut at = 0usize;
        while at < bytes.len() {
            let head = bytes.get(at..at + 28).ok_or_else(truncated)?;
            let u64_at = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&head[i..i + 8]);
                u64::from_le_bytes(b)
            };
            let trunk = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let (invite_ms, billable_ms, number) = (u64_at(4), u64_at(12), u64_at(20));
            at += 28;
            let call_key = str_at(&bytes, &mut at).ok_or_else(truncated)?;
            let forwarding_party = str_at(&bytes, &mut at).ok_or_else(truncated)?;
            if wanted_here.binary_search(&trunk).is_ok() {
                let text = |b: &[u8]| {
                    std::str::from_utf8(b)
                        .map(str::to_owned)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                };
                out.calls.entry(trunk).or_default().push(CountedCall {
                    call_key: text(call_key)?,
                    invite_ms,
                    billable_ms,
                    number,
                    forwarding_party: text(forwarding_party)?,
                });
            } else {
                out.numbers.push((trunk, number));
            }
        }
        out.numbers.sort_unstable();
        Ok(out)
    }
}

/// The text (`u16` length, bytes) at `*at` of a bucket read whole.
fn str_at<'b>(bytes: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let len = bytes.get(*at..*at + 2)?;
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let text = bytes.get(*at + 2..*at + 2 + len)?;
    *at += 2 + len;
    Some(text)
}

/// What [`Spill::read_bucket`] read.
#[derive(Debug, Default)]
pub struct Bucket {
    /// The counted calls of the wanted trunks.
    pub calls: BTreeMap<u32, Vec<CountedCall>>,
    /// (trunk, number) of the other trunks' counted calls, sorted.
    pub numbers: Vec<(u32, u64)>,
}

impl Bucket {
    /// The distinct numbers of each trunk of [`numbers`](Self::numbers).
    pub fn distinct_numbers(&self) -> Vec<(u32, u64)> {
        let mut out: Vec<(u32, u64)> = Vec::new();
        for (i, (trunk, number)) in self.numbers.iter().enumerate() {
            let new = i == 0 || self.numbers[i - 1] != (*trunk, *number);
            match out.last_mut() {
                Some((t, n)) if t == trunk => *n += u64::from(new),
                _ => out.push((*trunk, 1)),
            }
        }
        out
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
        let seen: Vec<(u32, Vec<CountedCall>)> = spill
            .read_bucket(1, &wanted)
            .unwrap()
            .calls
            .into_iter()
            .collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 1);
        assert_eq!(seen[0].1, [counted("a", 1, ""), counted("c", 3, "")]);
        assert_eq!(seen[1].1, [counted("b", 2, "+33140000000")]);
        // The other trunks of the bucket: numbers only, counted per trunk.
        spill.push(2, &counted("e", 4, "")).unwrap();
        spill.push(66, &counted("f", 5, "")).unwrap();
        spill.finish_writing().unwrap();
        let bucket = spill.read_bucket(2, &HashSet::new()).unwrap();
        assert!(bucket.calls.is_empty());
        assert_eq!(bucket.numbers, [(2, 12), (2, 12), (66, 15)]);
        assert_eq!(bucket.distinct_numbers(), [(2, 1), (66, 1)]);
    }

    #[test]
    fn a_truncated_bucket_is_an_error() {
        let mut spill = Spill::new(None).unwrap();
        spill.push(3, &counted("a-key", 1, "+33140000000")).unwrap();
        spill.finish_writing().unwrap();
        let path = spill.dir.path().join("03.bin");
        let len = std::fs::metadata(&path).unwrap().len();
        for cut in [len - 1, 29, 27] {
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(cut).unwrap();
            let e = spill.read_bucket(3, &HashSet::from([3])).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }
}
