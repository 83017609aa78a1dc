//! SIP over TLS with rustls: the edge's certificate, the roots it trusts, the TLS
//! listener's acceptor and outbound TLS connections.
//!
//! - TLS 1.3 and 1.2 only, with rustls' `ring` cipher suites (AES-GCM and
//!   ChaCha20-Poly1305 with ECDHE: nothing older is built in).
//! - Clients may present a certificate; when they do it must chain to the trusted
//!   roots, else the handshake fails (logged with the peer's address). Whether a
//!   certificate is required, and whose it must be, is the trunk's business: the core
//!   checks the names ([`certificate_matches`], [`certificate_dns_names`]) against the
//!   trunk's `tls_fqdn` and answers 403 on a mismatch.
//! - Outbound connections verify the peer's certificate against the same roots and
//!   the peer's configured name, and present the edge's certificate (Teams SBCs and
//!   carriers that require mutual TLS ask for one).
//! - [`TlsContext::reload`] re-reads the certificate, key and roots: new handshakes use
//!   them, established connections (and the calls over them) go on untouched.

use crate::config::TlsSettings;
use crate::guard::Guard;
use crate::transport::{self, ConnId, Event, Events, TransportCounters};
use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The edge's TLS configuration in force, replaceable while running.
pub struct TlsContext {
    settings: TlsSettings,
    configs: RwLock<(Arc<ServerConfig>, Arc<ClientConfig>)>,
    /// Handshakes that failed (untrusted certificate, protocol error, timeout).
    pub handshake_failures: AtomicU64,
}

impl TlsContext {
    /// Reads the certificate, key and roots named in `settings`.
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate or key, a key that
    /// does not match the certificate.
    pub fn load(settings: &TlsSettings) -> anyhow::Result<TlsContext> {
        Ok(TlsContext {
            settings: settings.clone(),
            configs: RwLock::new(build_configs(settings)?),
            handshake_failures: AtomicU64::new(0),
        })
    }

    /// Re-reads the files; on error the configuration in force stays.
    ///
    /// # Errors
    /// As [`TlsContext::load`].
    pub fn reload(&self) -> anyhow::Result<()> {
        let configs = build_configs(&self.settings)?;
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = configs;
        tracing::info!(certificate = %self.settings.certificate.display(), "TLS certificate, key and roots reloaded; new connections use them.");
        Ok(())
    }

    fn server(&self) -> Arc<ServerConfig> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    fn client(&self) -> Arc<ClientConfig> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

fn read_certificates(path: &std::path::Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn build_configs(s: &TlsSettings) -> anyhow::Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let chain = read_certificates(&s.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&s.private_key).with_context(|| {
        format!(
            "{}: no readable PEM private key (PKCS#8, PKCS#1 or SEC1)",
            s.private_key.display()
        )
    })?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in read_certificates(&s.trusted_roots)?.into_iter().enumerate() {
        roots.add(cert).with_context(|| {
            format!(
                "{}: certificate {} is not a usable trust anchor",
                s.trusted_roots.display(),
                i + 1
            )
        })?;
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("cannot build the client-certificate verifier")?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .with_context(|| {
            format!(
                "{} and {} do not make a usable certificate and key",
                s.certificate.display(),
                s.private_key.display()
            )
        })?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("the certificate cannot serve as a client certificate")?;
    Ok((Arc::new(server), Arc::new(client)))
}

/// The DNS names (subject alternative names) of a DER certificate, lower-cased.
pub fn certificate_dns_names(der: &[u8]) -> Vec<String> {
    let der = CertificateDer::from(der);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(cert) => cert
            .valid_dns_names()
            .map(|n| n.to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether a DER certificate is valid for `fqdn` (subject alternative names,
/// wildcards included, as a TLS client would check it).
pub fn certificate_matches(der: &[u8], fqdn: &str) -> bool {
    let der = CertificateDer::from(der);
    let Ok(name) = ServerName::try_from(fqdn) else {
        return false;
    };
    webpki::EndEntityCert::try_from(&der)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
}

/// Accepts TLS connections on `listener` until the core's queue closes. Each
/// handshake runs in its own task; a failed one is logged and counted.
pub async fn acceptor(
    listener: TcpListener,
    context: Arc<TlsContext>,
    events: Events,
    next_conn: Arc<AtomicU64>,
    counters: Arc<TransportCounters>,
    guard: Arc<Guard>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "TLS listener: accept failed.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if events.is_closed() {
            return;
        }
        if !guard.admit_connection(peer.ip()) {
            continue; // dropped before the handshake: the connection closes
        }
        let _ = stream.set_nodelay(true);
        let context = context.clone();
        let events = events.clone();
        let counters = counters.clone();
        let guard = guard.clone();
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let acceptor = TlsAcceptor::from(context.server());
            let timeout = context.settings.handshake_timeout;
            let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    context.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, %error, "TLS handshake refused or failed.");
                    return;
                }
                Err(_) => {
                    context.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "TLS handshake timed out.");
                    return;
                }
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| c.as_ref().to_vec());
            tracing::debug!(%peer, names = ?certificate.as_deref().map(certificate_dns_names), "TLS connection accepted.");
            let (sender, receiver) = mpsc::channel(1024);
            if events
                .send(Event::SecureAccepted {
                    conn,
                    peer,
                    sender,
                    certificate,
                })
                .await
                .is_err()
            {
                return;
            }
            let (reader, writer) = tokio::io::split(stream);
            transport::run_connection(
                conn, peer, true, reader, writer, receiver, events, counters, guard,
            )
            .await;
        });
    }
}

/// Opens a TLS connection to `peer`, verifying that its certificate holds
/// `server_name`, and runs it; reports [`Event::Closed`] when it cannot be opened.
#[allow(clippy::too_many_arguments)]
pub async fn connect(
    conn: ConnId,
    local_ip: Option<IpAddr>,
    peer: SocketAddr,
    server_name: String,
    context: Arc<TlsContext>,
    receiver: mpsc::Receiver<Vec<u8>>,
    events: Events,
    counters: Arc<TransportCounters>,
    guard: Arc<Guard>,
) {
    let timeout = context.settings.handshake_timeout;
    let attempt = async {
        let name = ServerName::try_from(server_name.clone())
            .map_err(|e| format!("{server_name:?} is not a server name: {e}"))?;
        let socket = if peer.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| e.to_string())?;
        if let Some(ip) = local_ip.filter(|ip| ip.is_ipv4() == peer.is_ipv4()) {
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| e.to_string())?;
        }
        let stream = socket.connect(peer).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        TlsConnector::from(context.client())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake with {server_name}: {e}"))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(stream)) => {
            tracing::debug!(%peer, %server_name, "TLS connection opened.");
            let (reader, writer) = tokio::io::split(stream);
            transport::run_connection(
                conn, peer, true, reader, writer, receiver, events, counters, guard,
            )
            .await;
        }
        Ok(Err(reason)) => {
            context.handshake_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, %server_name, %reason, "Cannot open a TLS connection.");
            let _ = events
                .send(Event::Closed {
                    conn,
                    reason: format!("cannot connect to {peer}: {reason}"),
                })
                .await;
        }
        Err(_) => {
            context.handshake_failures.fetch_add(1, Ordering::Relaxed);
            let _ = events
                .send(Event::Closed {
                    conn,
                    reason: format!("cannot connect to {peer} ({server_name}): timed out"),
                })
                .await;
        }
    }
}
