//! Reading a month of call records out of ClickHouse as fast as the server sends
//! them.
//!
//! The query asks for the columns rating needs, deduplicated with `FINAL`, in
//! RowBinary. A task of its own reads the HTTP body and hands the chunks over, in
//! groups of about 256 KiB, through a bounded channel ([`CHUNKS_IN_FLIGHT`]), so
//! the server keeps streaming while a chunk is being rated, and memory stays
//! bounded whatever the month's size. Rows
//! are parsed here by hand (LEB128 lengths, little-endian integers) as borrowed
//! byte slices: a text column is checked as UTF-8 only when rating uses it.
//!
//! Row layout, in [`COLUMNS`] order: `call_key`, `trunk_id` (String); `direction`
//! (Enum8); `caller`, `callee`, `forwarding_party` (String); `disposition` (Enum8);
//! `emergency` (UInt8); `invite_ms`, `billable_ms` (UInt64); `revision` (UInt32);
//! `teams_user`, `teams_call_type`, `teams_sbc_fqdn` (String).

use cdr::ClickhouseConfig;

/// The columns read, in order.
pub const COLUMNS: &str =
    "call_key, trunk_id, direction, caller, callee, forwarding_party, disposition, \
     emergency, invite_ms, billable_ms, revision, teams_user, teams_call_type, teams_sbc_fqdn";

/// Groups of chunks of the HTTP body buffered between the network task and the
/// rating: 2 MiB.
pub const CHUNKS_IN_FLIGHT: usize = 8;

/// Groups buffered by a stream opened before the rating is ready to read: 64 MiB,
/// so that ClickHouse keeps sending while a run loads its inputs. A constant: it
/// fills only while the server is faster than the rating.
pub const CHUNKS_READ_AHEAD: usize = 256;

/// Bytes of body chunks handed over together.
const GROUP_BYTES: usize = 256 * 1024;

/// One row, borrowing the chunk it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    /// `call_key`.
    pub call_key: &'a [u8],
    /// `trunk_id`.
    pub trunk_id: &'a [u8],
    /// `direction` (1 inbound, 2 outbound).
    pub direction: i8,
    /// `caller`.
    pub caller: &'a [u8],
    /// `callee`.
    pub callee: &'a [u8],
    /// `forwarding_party`.
    pub forwarding_party: &'a [u8],
    /// `disposition` (Enum8 value).
    pub disposition: i8,
    /// `emergency`.
    pub emergency: u8,
    /// `invite_ms`.
    pub invite_ms: u64,
    /// `billable_ms`.
    pub billable_ms: u64,
    /// `revision`.
    pub revision: u32,
    /// `teams_user`.
    pub teams_user: &'a [u8],
    /// `teams_call_type`.
    pub teams_call_type: &'a [u8],
    /// `teams_sbc_fqdn`.
    pub teams_sbc_fqdn: &'a [u8],
}

/// Reads a RowBinary string (LEB128 length, bytes) at `*at`.
fn read_string<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut len: usize = 0;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*at)?;
        *at += 1;
        len |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
    let s = bytes.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(s)
}

/// Reads one row from `bytes` at `*pos`, advancing it; `None` when the row is
/// incomplete (the rest comes with the next chunk).
pub fn parse_row<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<RowRef<'a>> {
    let mut at = *pos;
    let call_key = read_string(bytes, &mut at)?;
    let trunk_id = read_string(bytes, &mut at)?;
    let direction = *bytes.get(at)? as i8;
    at += 1;
    let caller = read_string(bytes, &mut at)?;
    let callee = read_string(bytes, &mut at)?;
    let forwarding_party = read_string(bytes, &mut at)?;
    let fixed = bytes.get(at..at.checked_add(22)?)?;
    let disposition = fixed[0] as i8;
    let emergency = fixed[1];
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&fixed[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let invite_ms = u64_at(2);
    let billable_ms = u64_at(10);
    let mut r = [0u8; 4];
    r.copy_from_slice(&fixed[18..22]);
    let revision = u32::from_le_bytes(r);
    at += 22;
    let teams_user = read_string(bytes, &mut at)?;
    let teams_call_type = read_string(bytes, &mut at)?;
    let teams_sbc_fqdn = read_string(bytes, &mut at)?;
    *pos = at;
    Some(RowRef {
        call_key,
        trunk_id,
        direction,
        caller,
        callee,
        forwarding_party,
        disposition,
        emergency,
        invite_ms,
        billable_ms,
        revision,
        teams_user,
        teams_call_type,
        teams_sbc_fqdn,
    })
}

/// The month's rows as chunks of bytes, read by a task of their own.
///
/// Rows are parsed straight out of the chunks the HTTP client hands over; only a
/// row cut by a chunk boundary is copied (into `head`, with the start of the next
/// chunk), so the month's bytes are not copied again on the client.
pub struct MonthStream {
    chunks: tokio::sync::mpsc::Receiver<Result<Vec<bytes::Bytes>, String>>,
    /// Chunks of the last group received, not yet read.
    pending: std::collections::VecDeque<bytes::Bytes>,
    rows: RowChunks,
}

/// Rows out of a sequence of byte chunks: parsed in place, only a row cut by a
/// chunk boundary is copied (into `head`, with the start of the next chunk).
#[derive(Default)]
pub struct RowChunks {
    /// A row cut by the previous chunk boundary, completed from the current chunk.
    head: Vec<u8>,
    head_pending: bool,
    chunk: bytes::Bytes,
    pos: usize,
}

impl RowChunks {
    /// Adds the next chunk of the stream; call once every row of the previous
    /// one was read ([`next_row`](Self::next_row) returned `None`).
    pub fn push(&mut self, chunk: bytes::Bytes) {
        let tail_len = self.chunk.len() - self.pos;
        if tail_len == 0 {
            self.chunk = chunk;
            self.pos = 0;
            return;
        }
        // Complete the cut row with as little of the new chunk as it needs.
        // Rows are about a hundred bytes: look a little ahead first.
        let mut take = chunk.len().min(256);
        loop {
            self.head.clear();
            self.head.extend_from_slice(&self.chunk[self.pos..]);
            self.head.extend_from_slice(&chunk[..take]);
            let mut end = 0;
            if parse_row(&self.head, &mut end).is_some() {
                self.head.truncate(end);
                self.head_pending = true;
                self.pos = end - tail_len;
                self.chunk = chunk;
                return;
            }
            if take == chunk.len() {
                // Still cut: the row spans more than this chunk; keep it whole.
                self.chunk = bytes::Bytes::from(std::mem::take(&mut self.head));
                self.pos = 0;
                return;
            }
            take = (take * 4).min(chunk.len());
        }
    }

    /// The next complete row, if any.
    pub fn next_row(&mut self) -> Option<RowRef<'_>> {
        if self.head_pending {
            self.head_pending = false;
            let mut at = 0;
            return parse_row(&self.head, &mut at);
        }
        parse_row(&self.chunk, &mut self.pos)
    }

    /// Calls `f` with each complete row of the current chunk not yet read,
    /// without reading them (the row cut by the last boundary is left out).
    pub fn look_ahead(&self, mut f: impl FnMut(&RowRef<'_>)) {
        let mut at = self.pos;
        while let Some(row) = parse_row(&self.chunk, &mut at) {
            f(&row);
        }
    }

    /// Bytes received and not yet read as a row.
    pub fn unread(&self) -> usize {
        self.chunk.len() - self.pos
    }
}

impl MonthStream {
    /// Starts streaming the calls whose INVITE is in `[from_ms, to_ms)`, with
    /// up to `groups_buffered` groups of chunks ([`CHUNKS_IN_FLIGHT`] or
    /// [`CHUNKS_READ_AHEAD`]) waiting to be read.
    ///
    /// # Errors
    /// When the query cannot be sent.
    pub fn open(
        config: &ClickhouseConfig,
        from_ms: u64,
        to_ms: u64,
        groups_buffered: usize,
    ) -> Result<Self, clickhouse::error::Error> {
        let mut client = config.client();
        if is_loopback(&config.url) {
            // On loopback, compression only costs CPU on both sides of the stream.
            client = client.with_compression(clickhouse::Compression::None);
        }
        let mut cursor = client
            .query(&format!(
                "SELECT {COLUMNS} FROM calls FINAL WHERE invite_ms >= ? AND invite_ms < ?"
            ))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_bytes("RowBinary")?;
        let (tx, rx) = tokio::sync::mpsc::channel(groups_buffered.max(1));
        tokio::spawn(async move {
            // The body comes in chunks of a few kilobytes: they go over in groups,
            // so that handing them over does not cost a thread wake-up each.
            let mut group: Vec<bytes::Bytes> = Vec::new();
            let mut grouped = 0usize;
            loop {
                let next = match cursor.next().await {
                    Ok(Some(chunk)) => {
                        grouped += chunk.len();
                        group.push(chunk);
                        if grouped < GROUP_BYTES {
                            continue;
                        }
                        grouped = 0;
                        Ok(std::mem::take(&mut group))
                    }
                    Ok(None) => break,
                    Err(e) => Err(e.to_string()),
                };
                let failed = next.is_err();
                if tx.send(next).await.is_err() || failed {
                    return;
                }
            }
            if !group.is_empty() {
                let _ = tx.send(Ok(group)).await;
            }
        });
        Ok(MonthStream {
            chunks: rx,
            pending: std::collections::VecDeque::new(),
            rows: RowChunks::default(),
        })
    }

    /// Waits for more bytes; false at the end of the stream.
    ///
    /// # Errors
    /// The transport's error, or a stream that ends inside a row.
    pub async fn fill(&mut self) -> Result<bool, String> {
        if let Some(chunk) = self.pending.pop_front() {
            self.rows.push(chunk);
            return Ok(true);
        }
        match self.chunks.recv().await {
            Some(Ok(group)) => {
                self.pending.extend(group);
                match self.pending.pop_front() {
                    Some(chunk) => self.rows.push(chunk),
                    None => return Err("an empty group of chunks".to_owned()),
                }
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None if self.rows.unread() > 0 => Err(format!(
                "the stream ended inside a row ({} bytes left): the calls table does not have the expected columns",
                self.rows.unread()
            )),
            None => Ok(false),
        }
    }

    /// The next complete row of the bytes received, if any.
    pub fn next_row(&mut self) -> Option<RowRef<'_>> {
        self.rows.next_row()
    }

    /// See [`RowChunks::look_ahead`].
    pub fn look_ahead(&self, f: impl FnMut(&RowRef<'_>)) {
        self.rows.look_ahead(f);
    }
}

/// True for a URL whose host is the local machine.
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "localhost" | "[::1]") || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        let mut len = s.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(s.as_bytes());
    }

    fn row(key: &str, callee: &str) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, key);
        string(&mut out, "t1");
        out.push(2);
        string(&mut out, "+33140000000");
        string(&mut out, callee);
        string(&mut out, "");
        out.push(1);
        out.push(0);
        out.extend_from_slice(&1_790_805_600_123u64.to_le_bytes());
        out.extend_from_slice(&61_000u64.to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        string(&mut out, "alice@contoso.fr");
        string(&mut out, "ByotOut");
        string(&mut out, "");
        out
    }

    #[test]
    fn rows_parse_and_incomplete_rows_wait_for_more() {
        let long = "x".repeat(300); // a two-byte LEB128 length
        let mut bytes = row("k1", "+33612345678");
        bytes.extend(row("k2", &long));
        let mut pos = 0;
        let first = parse_row(&bytes, &mut pos).unwrap();
        assert_eq!(first.call_key, b"k1");
        assert_eq!(first.callee, b"+33612345678");
        assert_eq!(
            (first.direction, first.disposition, first.emergency),
            (2, 1, 0)
        );
        assert_eq!(
            (first.invite_ms, first.billable_ms, first.revision),
            (1_790_805_600_123, 61_000, 3)
        );
        assert_eq!(first.teams_user, b"alice@contoso.fr");
        assert_eq!(first.teams_call_type, b"ByotOut");
        let second = parse_row(&bytes, &mut pos).unwrap();
        assert_eq!(second.callee.len(), 300);
        assert_eq!(pos, bytes.len());
        // Every truncation of a row is incomplete, never a wrong row.
        let one = row("k3", "+33140000001");
        for cut in 0..one.len() {
            let mut pos = 0;
            assert_eq!(parse_row(&one[..cut], &mut pos), None, "cut at {cut}");
            assert_eq!(pos, 0);
        }
    }

    #[test]
    fn rows_cut_anywhere_by_chunk_boundaries_come_out_whole() {
        let long = "y".repeat(2_000); // longer than the first look into a chunk
        let rows: Vec<Vec<u8>> = vec![
            row("k1", "+33612345678"),
            row("k2", &long),
            row("k3", "+33140000001"),
            row("k4", "3949"),
        ];
        let stream: Vec<u8> = rows.concat();
        for size in [1, 2, 7, 50, 64, 333, 1_024, 5_000] {
            let mut reader = RowChunks::default();
            let mut seen: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for chunk in stream.chunks(size) {
                reader.push(bytes::Bytes::copy_from_slice(chunk));
                while let Some(r) = reader.next_row() {
                    seen.push((r.call_key.to_vec(), r.callee.to_vec()));
                }
            }
            assert_eq!(reader.unread(), 0, "chunks of {size}");
            let keys: Vec<&[u8]> = seen.iter().map(|(k, _)| k.as_slice()).collect();
            assert_eq!(keys, [b"k1", b"k2", b"k3", b"k4"], "chunks of {size}");
            assert_eq!(seen[1].1.len(), 2_000);
            assert_eq!(seen[3].1, b"3949");
        }
        // A stream cut inside its last row leaves bytes unread.
        let mut reader = RowChunks::default();
        reader.push(bytes::Bytes::copy_from_slice(&stream[..stream.len() - 3]));
        while reader.next_row().is_some() {}
        assert_eq!(reader.unread(), rows[3].len() - 3);
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback("http://127.0.0.1:18123"));
        assert!(is_loopback("http://localhost:8123/"));
        assert!(is_loopback("http://[::1]:8123"));
        assert!(!is_loopback("https://ch.example.net:8443"));
        assert!(!is_loopback("http://10.0.0.1:8123"));
    }
}
