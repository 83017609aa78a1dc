//! SIP messages as the proxy handles them: parsed with `rsip`, held as an ordered list
//! of header fields, written back byte for byte except where the proxy changes them.
//!
//! `rsip` tokenizes the start line and splits the header section into fields; this
//! module turns its result into [`Message`], where:
//! - header names are canonical (compact forms such as `v`, `i`, `f` expanded), so
//!   lookups are one case-insensitive comparison;
//! - comma-separated `Via`, `Route` and `Record-Route` values are split into one field
//!   per entry (RFC 3261 §7.3.1), so the proxy can push and pop entries;
//! - `Content-Length` is always recomputed from the body when the message is written.
//!
//! It also owns the small header grammars the proxy needs: Via parameters
//! ([`Via`]), name-addr values with their `tag` ([`NameAddr`]), URI user and host
//! parts, CSeq. Nothing here panics on input: every accessor returns `Option` or an
//! error naming the bad value.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// A SIP method the proxy distinguishes; anything else is carried as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// Any other method (UPDATE, PRACK, INFO, REFER, NOTIFY, ...), as written.
    Other(String),
}

impl Method {
    /// Reads a method token.
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Other(text) => text,
        }
    }
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD uri SIP/2.0`
    Request {
        /// The method.
        method: Method,
        /// The Request-URI, as written.
        uri: String,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// One header field: canonical name and value (trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Canonical name (`Via`, `Call-ID`, ...), or as written for unknown headers.
    pub name: Cow<'static, str>,
    /// The value without leading and trailing white space.
    pub value: String,
}

/// A parsed SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Header fields in order.
    pub headers: Vec<Header>,
    /// The body, untouched (SDP passes through).
    pub body: Vec<u8>,
}

/// Why bytes are not a SIP message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed SIP message: {0}")]
pub struct ParseError(pub String);

/// Compact header forms (RFC 3261 §7.3.3 and extensions) and the canonical spelling of
/// the headers the proxy reads.
const CANONICAL: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("call-id", "Call-ID"),
    ("m", "Contact"),
    ("contact", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("content-length", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("from", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("to", "To"),
    ("v", "Via"),
    ("via", "Via"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("cseq", "CSeq"),
    ("route", "Route"),
    ("record-route", "Record-Route"),
    ("max-forwards", "Max-Forwards"),
    ("p-asserted-identity", "P-Asserted-Identity"),
    ("diversion", "Diversion"),
    ("history-info", "History-Info"),
];

fn canonical_name(name: String) -> Cow<'static, str> {
    CANONICAL
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(&name))
        .map_or(Cow::Owned(name), |(_, canonical)| Cow::Borrowed(*canonical))
}

/// Takes rsip's header apart into a canonical name and its value, without copying the
/// value: rsip keeps known headers as typed newtypes around the value text.
macro_rules! name_and_value {
    ($header:expr, $($variant:ident => $name:literal),* $(,)?) => {
        match $header {
            $(rsip::Header::$variant(v) => (Cow::Borrowed($name), { let s: String = v.into(); s }),)*
            rsip::Header::Other(name, value) => (canonical_name(name), value),
        }
    };
}

fn split_header(header: rsip::Header) -> (Cow<'static, str>, String) {
    name_and_value!(header,
        Accept => "Accept", AcceptEncoding => "Accept-Encoding", AcceptLanguage => "Accept-Language",
        AlertInfo => "Alert-Info", Allow => "Allow", AuthenticationInfo => "Authentication-Info",
        Authorization => "Authorization", CSeq => "CSeq", CallId => "Call-ID", CallInfo => "Call-Info",
        Contact => "Contact", ContentDisposition => "Content-Disposition",
        ContentEncoding => "Content-Encoding", ContentLanguage => "Content-Language",
        ContentLength => "Content-Length", ContentType => "Content-Type", Date => "Date",
        ErrorInfo => "Error-Info", Event => "Event", Expires => "Expires", From => "From",
        InReplyTo => "In-Reply-To", MaxForwards => "Max-Forwards", MimeVersion => "MIME-Version",
        MinExpires => "Min-Expires", Organization => "Organization", Priority => "Priority",
        ProxyAuthenticate => "Proxy-Authenticate", ProxyAuthorization => "Proxy-Authorization",
        ProxyRequire => "Proxy-Require", RecordRoute => "Record-Route", ReplyTo => "Reply-To",
        Require => "Require", RetryAfter => "Retry-After", Route => "Route", Server => "Server",
        Subject => "Subject", SubscriptionState => "Subscription-State", Supported => "Supported",
        Timestamp => "Timestamp", To => "To", Unsupported => "Unsupported",
        UserAgent => "User-Agent", Via => "Via", Warning => "Warning",
        WwwAuthenticate => "WWW-Authenticate",
    )
}

/// `name` as a header name: the canonical static spelling when known.
fn static_name(name: &str) -> Cow<'static, str> {
    const SET_BY_THE_EDGE: &[&str] = &[
        "Via",
        "Route",
        "Record-Route",
        "Max-Forwards",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Server",
        "Warning",
        "Retry-After",
        "Allow",
        "Reason",
    ];
    SET_BY_THE_EDGE
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map_or_else(|| Cow::Owned(name.to_string()), |n| Cow::Borrowed(*n))
}

/// Headers whose comma-separated values are split into one field per entry.
fn is_list_header(name: &str) -> bool {
    matches!(name, "Via" | "Route" | "Record-Route")
}

impl Message {
    /// Parses one complete message (a UDP datagram, or a frame cut by
    /// [`crate::framing`]).
    ///
    /// # Errors
    /// [`ParseError`] with rsip's reason, or the missing mandatory header.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let parsed = rsip::SipMessage::try_from(bytes)
            .map_err(|e| ParseError(truncate(&e.to_string(), 200)))?;
        // The start line is taken as written: rsip normalises URIs and reason phrases.
        let first_line = bytes
            .split(|b| *b == b'\n')
            .next()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .unwrap_or_default();
        let mut tokens = first_line.splitn(3, ' ');
        let (first, second, third) = (
            tokens.next().unwrap_or_default(),
            tokens.next().unwrap_or_default(),
            tokens.next().unwrap_or_default(),
        );
        let (start, headers, body) = match parsed {
            rsip::SipMessage::Request(request) => (
                StartLine::Request {
                    method: Method::from_token(first),
                    uri: second.to_string(),
                },
                request.headers,
                request.body,
            ),
            rsip::SipMessage::Response(response) => (
                StartLine::Response {
                    code: second
                        .parse()
                        .map_err(|_| ParseError(format!("status {second:?} is not a number")))?,
                    reason: third.to_string(),
                },
                response.headers,
                response.body,
            ),
        };
        let mut fields = Vec::with_capacity(16);
        for header in headers {
            let (name, mut value) = split_header(header);
            let trimmed = value.trim();
            if trimmed.len() != value.len() {
                value = trimmed.to_string();
            }
            if is_list_header(&name) && value.contains(',') {
                for entry in split_list(&value) {
                    fields.push(Header {
                        name: name.clone(),
                        value: entry.to_string(),
                    });
                }
            } else {
                fields.push(Header { name, value });
            }
        }
        let message = Message {
            start,
            headers: fields,
            body,
        };
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if message.header(required).is_none() {
                return Err(ParseError(format!("no {required} header")));
            }
        }
        if message.cseq().is_none() {
            return Err(ParseError(format!(
                "CSeq {:?} is not `number METHOD`",
                message.header("CSeq").unwrap_or_default()
            )));
        }
        let body_len = message.body.len();
        if let Some(declared) = message.header("Content-Length") {
            match declared.parse::<usize>() {
                Ok(n) if n <= body_len => {}
                _ => {
                    return Err(ParseError(format!(
                        "Content-Length {declared:?} does not match a body of {body_len} bytes"
                    )))
                }
            }
        }
        let mut message = message;
        if let Some(n) = message
            .header("Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            // UDP datagrams may carry padding after the declared body (RFC 3261 §18.3).
            message.body.truncate(n);
        }
        Ok(message)
    }

    /// Writes the message, with a `Content-Length` matching the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(out, "{} {} SIP/2.0\r\n", method.as_str(), uri);
            }
            StartLine::Response { code, reason } => {
                let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for header in &self.headers {
            if header.name == "Content-Length" {
                continue;
            }
            let _ = write!(out, "{}: {}\r\n", header.name, header.value);
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The method of a request, or the CSeq method of a response.
    pub fn method(&self) -> Method {
        match &self.start {
            StartLine::Request { method, .. } => method.clone(),
            StartLine::Response { .. } => {
                self.cseq().map_or(Method::Other(String::new()), |(_, m)| m)
            }
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of header `name` (canonical spelling).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Removes every field named `name`.
    pub fn remove_headers(&mut self, name: &str) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Sets header `name` to `value`, replacing the first field of that name or
    /// appending one.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(h) = self
            .headers
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(name))
        {
            h.value = value;
        } else {
            self.headers.push(Header {
                name: static_name(name),
                value,
            });
        }
    }

    /// Inserts a field before every other field of the same name (or at the top).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        let at = self
            .headers
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
            .unwrap_or(0);
        self.headers.insert(
            at,
            Header {
                name: static_name(name),
                value: value.into(),
            },
        );
    }

    /// Removes and returns the first field named `name`.
    pub fn pop_front(&mut self, name: &str) -> Option<String> {
        let at = self
            .headers
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))?;
        Some(self.headers.remove(at).value)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let value = self.header("CSeq")?;
        let mut parts = value.split_whitespace();
        let number = parts.next()?.parse().ok()?;
        let method = Method::from_token(parts.next()?);
        Some((number, method))
    }

    /// The `tag` parameter of From.
    pub fn from_tag(&self) -> Option<&str> {
        self.header("From").and_then(header_tag)
    }

    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&str> {
        self.header("To").and_then(header_tag)
    }

    /// The top Via, parsed.
    pub fn top_via(&self) -> Option<Via> {
        self.header("Via").and_then(|v| Via::parse(v).ok())
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// A parsed Via entry: `SIP/2.0/UDP host:port;branch=...;received=...;rport=...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper case (`UDP`, `TCP`, `TLS`).
    pub transport: String,
    /// sent-by host (IPv6 without brackets).
    pub host: String,
    /// sent-by port, when written.
    pub port: Option<u16>,
    /// Parameters in order, with their values.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses one Via entry.
    ///
    /// # Errors
    /// A message naming the entry and what is wrong with it.
    pub fn parse(value: &str) -> Result<Via, String> {
        let bad = |why: &str| format!("Via {value:?}: {why}");
        let (protocol, rest) = value
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("no sent-by"))?;
        let mut protocol_parts = protocol.split('/').map(str::trim);
        let (name, version, transport) = (
            protocol_parts.next(),
            protocol_parts.next(),
            protocol_parts.next(),
        );
        if !matches!(name, Some(n) if n.eq_ignore_ascii_case("SIP")) || version != Some("2.0") {
            return Err(bad("protocol is not SIP/2.0"));
        }
        let transport = transport
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("no transport"))?
            .to_ascii_uppercase();
        let mut pieces = rest.trim().split(';');
        let sent_by = pieces.next().unwrap_or_default().trim();
        let (host, port) = split_host_port(sent_by).ok_or_else(|| bad("bad sent-by"))?;
        let params = pieces
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
                None => (p.trim().to_ascii_lowercase(), None),
            })
            .filter(|(k, _)| !k.is_empty())
            .collect();
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    /// A parameter's value (`Some(None)` for a flag such as a bare `rport`).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// Sets (or adds) a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        if let Some(entry) = self.params.iter_mut().find(|(k, _)| k == name) {
            entry.1 = value;
        } else {
            self.params.push((name.to_string(), value));
        }
    }

    /// sent-by as written (`host:port`).
    pub fn sent_by(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// Where responses go (RFC 3261 §18.2.2 with RFC 3581): the `received` address (or
    /// the sent-by host when it is an IP address), and the `rport` port, else the
    /// sent-by port, else 5060. `None` when the host is a name (we do not resolve).
    pub fn response_address(&self) -> Option<SocketAddr> {
        let ip: IpAddr = match self.param("received").flatten() {
            Some(received) => received.trim_matches(['[', ']']).parse().ok()?,
            None => self.host.parse().ok()?,
        };
        let port = self
            .param("rport")
            .flatten()
            .and_then(|p| p.parse().ok())
            .or(self.port)
            .unwrap_or(5060);
        Some(SocketAddr::new(ip, port))
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        for (k, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        Ok(())
    }
}

/// Splits `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    if text.matches(':').count() > 1 {
        return Some((text.to_string(), None));
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host.to_string(), Some(port.parse().ok()?))),
        None => Some((text.to_string(), None)),
    }
}

/// A name-addr or addr-spec header value (From, To, Contact, Route, P-Asserted-Identity,
/// Diversion, History-Info): the URI and the header parameters after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The URI between `<` and `>` (or the addr-spec).
    pub uri: &'a str,
    /// The parameters after the URI (`;tag=...`), unparsed.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Reads a name-addr; `None` when angle brackets are unbalanced.
    pub fn parse(value: &'a str) -> Option<NameAddr<'a>> {
        let value = value.trim();
        // Skip a quoted display name, which may contain '<'.
        let mut search_from = 0;
        if value.starts_with('"') {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in value.char_indices().skip(1) {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            search_from = end? + 1;
        }
        if let Some(open) = value[search_from..].find('<') {
            let open = search_from + open;
            let close = open + value[open..].find('>')?;
            Some(NameAddr {
                uri: value[open + 1..close].trim(),
                params: &value[close + 1..],
            })
        } else {
            // addr-spec: parameters after the URI belong to the header (RFC 3261 §20).
            match value.find(';') {
                Some(semi) => Some(NameAddr {
                    uri: value[..semi].trim(),
                    params: &value[semi..],
                }),
                None => Some(NameAddr {
                    uri: value,
                    params: "",
                }),
            }
        }
    }

    /// A header parameter's value.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param_in(self.params, name)
    }
}

/// The value of `name` in a `;a=b;c=d` parameter list.
pub fn param_in<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The `tag` parameter of a From/To value.
pub fn header_tag(value: &str) -> Option<&str> {
    NameAddr::parse(value)
        .and_then(|n| n.param("tag"))
        .filter(|t| !t.is_empty())
}

/// The user part of a `sip:`, `sips:` or `tel:` URI, without user parameters.
pub fn uri_user(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let rest = if let Some(r) = strip_prefix_ci(uri, "tel:") {
        return Some(r.split(';').next().unwrap_or(r)).filter(|u| !u.is_empty());
    } else if let Some(r) = strip_prefix_ci(uri, "sips:") {
        r
    } else {
        strip_prefix_ci(uri, "sip:")?
    };
    let at = rest.find('@')?;
    let user = &rest[..at];
    let user = user.split(':').next().unwrap_or(user);
    let user = user.split(';').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

/// The host and port of a `sip:`/`sips:` URI.
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let rest =
        strip_prefix_ci(uri.trim(), "sip:").or_else(|| strip_prefix_ci(uri.trim(), "sips:"))?;
    let rest = rest.split_once('@').map_or(rest, |(_, h)| h);
    let end = rest.find([';', '?', '>']).unwrap_or(rest.len());
    split_host_port(&rest[..end])
}

/// Replaces the host and port of a `sip:` URI, keeping scheme, user and parameters.
pub fn uri_with_host_port(uri: &str, host_port: &str) -> String {
    let uri = uri.trim();
    let (scheme, rest) = match uri.find(':') {
        Some(i) => (&uri[..=i], &uri[i + 1..]),
        None => return uri.to_string(),
    };
    let (user, host_and_more) = match rest.split_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), rest),
    };
    let end = host_and_more
        .find([';', '?'])
        .unwrap_or(host_and_more.len());
    format!("{scheme}{user}{host_port}{}", &host_and_more[end..])
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:0123456789@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.21:5060;branch=z9hG4bK-1;rport, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-0\r\n\
f: \"Alice, A\" <sip:+33140000000@pbx>;tag=abc\r\n\
t: <sip:0123456789@edge>\r\n\
i: call-1@pbx\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.21:5060>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_compact_forms_and_splits_via_lists() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Method::Invite);
        assert_eq!(m.call_id(), "call-1@pbx");
        assert_eq!(m.from_tag(), Some("abc"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.headers_named("Via").count(), 2);
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-1"));
        assert_eq!(m.cseq(), Some((1, Method::Invite)));
        assert_eq!(m.body, b"v=0\n");
    }

    #[test]
    fn writes_back_with_recomputed_content_length() {
        let mut m = Message::parse(INVITE.as_bytes()).unwrap();
        m.body = b"v=0\r\no=x\r\n".to_vec();
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(text.starts_with("INVITE sip:0123456789@127.0.0.1:5060 SIP/2.0\r\n"));
        assert!(
            text.contains("Content-Length: 10\r\n\r\nv=0\r\no=x\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("Content-Length").count(), 1);
        let again = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(again.headers_named("Via").count(), 2);
    }

    #[test]
    fn refuses_messages_missing_mandatory_headers() {
        let err = Message::parse(
            b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n",
        )
        .unwrap_err();
        assert!(err.0.contains("no From"), "{err}");
        assert!(Message::parse(b"garbage\r\n\r\n").is_err());
        assert!(Message::parse(b"").is_err());
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 40");
        assert!(Message::parse(short.as_bytes())
            .unwrap_err()
            .0
            .contains("Content-Length"));
    }

    /// Random corruptions of a valid message never panic the parser (a panic in a
    /// reader task would stop reading a socket).
    #[test]
    fn corrupted_messages_never_panic() {
        let original = INVITE.as_bytes();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b" \r\n:;,<>\"=@/0123456789abcSIPVvz\xff\x00";
        for _ in 0..20_000 {
            let mut bytes = original.to_vec();
            for _ in 0..(next() % 6 + 1) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at.max(1)),
                }
            }
            if let Ok(m) = Message::parse(&bytes) {
                let _ = (m.top_via(), m.cseq(), m.from_tag(), m.to_bytes());
            }
        }
    }

    #[test]
    fn via_parameters_and_response_address() {
        let mut via = Via::parse("SIP/2.0/udp 127.0.0.21:5070;branch=z9hG4bK-1;rport").unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(
            via.response_address(),
            Some("127.0.0.21:5070".parse().unwrap())
        );
        via.set_param("received", Some("127.0.0.99".into()));
        via.set_param("rport", Some("6000".into()));
        assert_eq!(
            via.response_address(),
            Some("127.0.0.99:6000".parse().unwrap())
        );
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP 127.0.0.21:5070;branch=z9hG4bK-1;rport=6000;received=127.0.0.99"
        );
        let v6 = Via::parse("SIP/2.0/TCP [::1]:5060;branch=z9hG4bKa").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.sent_by(), "[::1]:5060");
        assert_eq!(v6.response_address(), Some("[::1]:5060".parse().unwrap()));
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
        assert!(Via::parse("nonsense").is_err());
        let named = Via::parse("SIP/2.0/UDP pbx.example.com").unwrap();
        assert_eq!(named.response_address(), None);
    }

    #[test]
    fn name_addr_tags_and_uris() {
        assert_eq!(header_tag("\"A <b>\" <sip:a@b>;tag=1"), Some("1"));
        assert_eq!(header_tag("sip:a@b;tag=2"), Some("2"));
        assert_eq!(header_tag("<sip:a@b;tag=uri-param>"), None);
        assert_eq!(uri_user("sip:+33123@h:5060;user=phone"), Some("+33123"));
        assert_eq!(uri_user("tel:0123;phone-context=+33"), Some("0123"));
        assert_eq!(uri_user("sip:h"), None);
        assert_eq!(
            uri_host_port("sip:u@127.0.0.1:5070;lr"),
            Some(("127.0.0.1".into(), Some(5070)))
        );
        assert_eq!(
            uri_with_host_port("sip:0123@edge;user=phone", "127.0.0.3:5060"),
            "sip:0123@127.0.0.3:5060;user=phone"
        );
        assert_eq!(
            split_list("<sip:a,b>, <sip:c>"),
            vec!["<sip:a,b>", "<sip:c>"]
        );
    }
}
