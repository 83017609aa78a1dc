//! Cutting a TCP byte stream into SIP messages (RFC 3261 §18.3).
//!
//! A stream carries messages back to back; a message ends `Content-Length` bytes after
//! the blank line that closes its headers. Reads arrive in arbitrary pieces: half a
//! header, or several messages in one segment. [`Framer`] buffers what it is given and
//! hands out complete messages. Rules:
//! - CRLFs between messages are keep-alives (RFC 5626 §4.4.1) and are skipped;
//! - a missing `Content-Length` means an empty body (lenient: the RFC requires it on
//!   streams, but some PBXs omit it on body-less requests);
//! - a message larger than [`MAX_MESSAGE_BYTES`], or an unreadable Content-Length, is
//!   a framing error: the stream cannot be resynchronised and the connection is closed.

/// Largest message accepted on a stream (headers and body).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The stream cannot be cut into messages any more.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The headers or the declared body exceed the limit.
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// Content-Length is not a number.
    #[error("Content-Length {0:?} is not a number")]
    BadContentLength(String),
}

/// Buffers stream bytes and yields complete messages.
#[derive(Debug, Default)]
pub struct Framer {
    buffer: Vec<u8>,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Framer::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes waiting for the rest of their message.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// [`FrameError`] when the stream cannot be framed; the caller closes it.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let skip = self
            .buffer
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if skip > 0 {
            self.buffer.drain(..skip);
        }
        let Some(end_of_headers) = find(&self.buffer, b"\r\n\r\n") else {
            if self.buffer.len() > MAX_MESSAGE_BYTES {
                return Err(FrameError::TooLarge);
            }
            return Ok(None);
        };
        let head = &self.buffer[..end_of_headers];
        let body_len = content_length(head)?;
        let total = end_of_headers + 4 + body_len;
        if total > MAX_MESSAGE_BYTES {
            return Err(FrameError::TooLarge);
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let rest = self.buffer.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buffer, rest)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Content-Length declared in a header block (`Content-Length` or compact `l`).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    for line in head.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let value = value.trim();
            return value
                .parse::<usize>()
                .map_err(|_| FrameError::BadContentLength(value.to_string()));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn yields_nothing_until_the_body_is_complete() {
        let text = message("v=0\r\n");
        let mut framer = Framer::new();
        for (i, byte) in text.as_bytes().iter().enumerate() {
            assert_eq!(framer.next_message(), Ok(None), "early at byte {i}");
            framer.push(&[*byte]);
        }
        assert_eq!(framer.next_message(), Ok(Some(text.into_bytes())));
        assert_eq!(framer.next_message(), Ok(None));
        assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn several_messages_in_one_segment_and_keepalives() {
        let (a, b) = (message("first"), message(""));
        let mut framer = Framer::new();
        framer.push(format!("\r\n\r\n{a}\r\n{b}{}", &a[..10]).as_bytes());
        assert_eq!(framer.next_message(), Ok(Some(a.clone().into_bytes())));
        assert_eq!(framer.next_message(), Ok(Some(b.into_bytes())));
        assert_eq!(framer.next_message(), Ok(None));
        framer.push(&a.as_bytes()[10..]);
        assert_eq!(framer.next_message(), Ok(Some(a.into_bytes())));
    }

    #[test]
    fn compact_length_and_missing_length() {
        let mut framer = Framer::new();
        framer.push(b"BYE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nxyBYE sip:a@b SIP/2.0\r\n\r\n");
        assert!(framer.next_message().unwrap().unwrap().ends_with(b"xy"));
        assert!(framer.next_message().unwrap().is_some());
    }

    #[test]
    fn refuses_what_cannot_be_framed() {
        let mut framer = Framer::new();
        framer.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: lots\r\n\r\n");
        assert_eq!(
            framer.next_message(),
            Err(FrameError::BadContentLength("lots".into()))
        );
        let mut framer = Framer::new();
        framer.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n");
        assert_eq!(framer.next_message(), Err(FrameError::TooLarge));
        let mut framer = Framer::new();
        framer.push(&vec![b'a'; MAX_MESSAGE_BYTES + 1]);
        assert_eq!(framer.next_message(), Err(FrameError::TooLarge));
    }
}
