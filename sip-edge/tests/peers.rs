//! Test peers that SIPp cannot play: Debian's SIPp is built without OpenSSL
//! (`sipp -t l1` answers "To use a TLS transport you must compile SIPp with OpenSSL"),
//! so TLS callers and TLS SBCs are played here with rustls, over certificates made
//! in the test with rcgen. Also a raw UDP peer for digest and keepalive checks.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sip_edge::framing::Framer;
use sip_edge::message::Message;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

/// How long a peer waits for a message before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// A certificate authority made for one test.
pub struct Pki {
    pub ca_pem: String,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A leaf certificate and its key, PEM.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            ca_cert,
            ca_key,
        }
    }

    /// A certificate for `dns_name` (server and client use).
    pub fn leaf(&self, dns_name: &str) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![dns_name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, dns_name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Identity {
    /// Writes `<stem>.crt` and `<stem>.key` in `dir`.
    pub fn write(&self, dir: &Path, stem: &str) {
        std::fs::write(dir.join(format!("{stem}.crt")), &self.cert_pem).unwrap();
        std::fs::write(dir.join(format!("{stem}.key")), &self.key_pem).unwrap();
    }

    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).unwrap()
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

fn roots(pem: &str) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One SIP peer over a stream: framed reads, whole-message writes.
pub struct SipStream<S> {
    stream: S,
    framer: Framer,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SipStream<S> {
    pub fn new(stream: S) -> Self {
        SipStream {
            stream,
            framer: Framer::new(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.stream
    }

    pub async fn send(&mut self, text: &str) {
        self.stream.write_all(&to_wire(text)).await.unwrap();
    }

    /// The next message; `None` when the connection closed or nothing came in time.
    pub async fn recv(&mut self) -> Option<Message> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(bytes) = self.framer.next_message().ok()? {
                return Some(Message::parse(&bytes).expect("the edge sends valid SIP"));
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.framer.push(&buf[..n]);
        }
    }

    /// The next response with a status of at least `min` (provisional ones skipped
    /// below it).
    pub async fn response(&mut self, min: u16) -> Message {
        loop {
            let m = self.recv().await.expect("a response");
            if m.status().is_some_and(|c| c >= min) {
                return m;
            }
        }
    }
}

/// A message written with `\n` line ends and indentation-free lines, as sent on the
/// wire (CRLF, Content-Length fixed).
pub fn to_wire(text: &str) -> Vec<u8> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut out: String = head
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Content-Length"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let body = body.replace('\n', "\r\n");
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// A TLS client connecting from `from` to the edge, trusting `roots_pem`, presenting
/// `identity` when given.
pub async fn tls_connect(
    from: IpAddr,
    to: SocketAddr,
    server_name: &str,
    roots_pem: &str,
    identity: Option<&Identity>,
) -> std::io::Result<SipStream<tokio_rustls::client::TlsStream<TcpStream>>> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(roots_pem));
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.der()], id.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = socket.connect(to).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(server_name.to_string()).unwrap(), tcp)
        .await?;
    Ok(SipStream::new(stream))
}

/// A TLS server (a Teams SBC) on `at` presenting `identity` and requiring a client
/// certificate that chains to `client_roots_pem`.
pub async fn tls_listen(
    at: SocketAddr,
    identity: &Identity,
    client_roots_pem: &str,
) -> (TcpListener, tokio_rustls::TlsAcceptor) {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots(client_roots_pem),
        provider(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.der()], identity.key())
        .unwrap();
    let listener = TcpListener::bind(at).await.unwrap();
    (listener, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A UDP peer that the test drives message by message.
pub struct UdpPeer {
    pub socket: UdpSocket,
}

impl UdpPeer {
    pub async fn bind(at: SocketAddr) -> UdpPeer {
        UdpPeer {
            socket: UdpSocket::bind(at).await.unwrap(),
        }
    }

    pub async fn send(&self, to: SocketAddr, text: &str) {
        self.socket.send_to(&to_wire(text), to).await.unwrap();
    }

    /// The next message and its sender; `None` when nothing came within `wait`.
    pub async fn recv_within(&self, wait: Duration) -> Option<(Message, SocketAddr)> {
        let mut buf = vec![0u8; 65_535];
        let (n, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some((Message::parse(&buf[..n]).expect("valid SIP"), from))
    }

    /// The next response to a request with Call-ID `call_id` with a status of at least
    /// `min`.
    pub async fn response(&self, call_id: &str, min: u16) -> Message {
        loop {
            let (m, _) = self.recv_within(WAIT).await.expect("a response");
            if m.call_id() == call_id && m.status().is_some_and(|c| c >= min) {
                return m;
            }
        }
    }
}

/// A response to `request` with `code`, the headers a UAS copies, and a To tag.
pub fn answer(request: &Message, code: u16, reason: &str, extra: &str) -> String {
    let mut text = format!("SIP/2.0 {code} {reason}\n");
    for h in &request.headers {
        if matches!(
            &*h.name,
            "Via" | "From" | "Call-ID" | "CSeq" | "Record-Route"
        ) {
            text.push_str(&format!("{}: {}\n", h.name, h.value));
        } else if h.name == "To" {
            if h.value.contains(";tag=") {
                text.push_str(&format!("To: {}\n", h.value));
            } else {
                text.push_str(&format!("To: {};tag=peer{code}\n", h.value));
            }
        }
    }
    text.push_str(extra);
    text.push('\n');
    text
}
