//! TLS to PostgreSQL with libpq's settings: `sslmode`, `sslrootcert`, `sslcert` and `sslkey`
//! are read from the connection URL (or `key=value` string), removed from it before
//! tokio-postgres parses the rest, and turn into one rustls client configuration that every
//! connection of the store (the pool's and the listener's) uses.
//!
//! | `sslmode` | encrypted | server checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers TLS | no |
//! | `require` | always | no; as `verify-ca` when a root certificate is given or found |
//! | `verify-ca` | always | signed by a root in `sslrootcert` |
//! | `verify-full` | always | signed by a root, and names the host connected to |

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Socket;

use crate::scheduler::Error;

/// libpq's `sslmode`, all five of the values taskdeck supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, Error> {
        Ok(match s {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => {
                return Err(bad(
                    "sslmode=allow is not supported: use prefer (TLS when the server offers it) or disable",
                ))
            }
            other => {
                return Err(bad(format!(
                    "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::InvalidConfig {
        setting: "url",
        message: message.into(),
    }
}

/// The TLS settings found in a connection string.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) mode: Option<Mode>,
    pub(super) root_cert: Option<String>,
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
}

impl Settings {
    fn take(&mut self, key: &str, value: String) -> Result<bool, Error> {
        match key {
            "sslmode" => self.mode = Some(Mode::parse(&value)?),
            "sslrootcert" => self.root_cert = Some(value),
            "sslcert" => self.cert = Some(value),
            "sslkey" => self.key = Some(value),
            "sslpassword"
            | "sslcrl"
            | "sslcrldir"
            | "sslsni"
            | "ssl_min_protocol_version"
            | "ssl_max_protocol_version"
            | "sslcompression"
            | "sslcertmode"
            | "requiressl" => {
                return Err(bad(format!(
                    "{key} is not supported; the TLS settings taskdeck reads are sslmode, \
                     sslrootcert, sslcert and sslkey"
                )))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Splits the TLS settings off `url`: the rest, for tokio-postgres, and the settings.
pub(super) fn split(url: &str) -> Result<(String, Settings), Error> {
    let mut settings = Settings::default();
    let trimmed = url.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let Some((base, query)) = trimmed.split_once('?') else {
            return Ok((trimmed.to_string(), settings));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(k, "parameter names")?;
            let value = percent_decode(v, &format!("{key} parameter"))?;
            if !settings.take(&key, value)? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, settings));
    }
    let mut rest = String::new();
    for (k, v) in key_values(trimmed)? {
        if !settings.take(&k, v.clone())? {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(&k);
            rest.push_str("='");
            rest.push_str(&v.replace('\\', "\\\\").replace('\'', "\\'"));
            rest.push('\'');
        }
    }
    Ok((rest, settings))
}

/// Decodes a URL query part; errors name `what` (the key), never the value, which may be a
/// password.
fn percent_decode(s: &str, what: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad percent escape in the URL's {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("the URL's {what} is not UTF-8 once decoded")))
}

/// The pairs of a libpq `key=value` string (values optionally in single quotes, `\` escapes).
fn key_values(s: &str) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(bad(format!(
                "not a PostgreSQL connection string or URL: expected = after {key:?}"
            )));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(it.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(bad(format!(
                            "not a PostgreSQL connection string: the quoted value of {key} is not closed"
                        )))
                    }
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// Where the roots come from.
#[derive(Clone, Debug)]
enum Roots {
    /// None given and `~/.postgresql/root.crt` absent.
    None,
    File(PathBuf),
    /// `sslrootcert=system`: the Mozilla roots bundled with webpki-roots.
    System,
}

/// Makes TLS connections for tokio-postgres, one configuration for every connection.
#[derive(Clone)]
pub(super) struct Connector {
    mode: Mode,
    /// verify-full: the host name must be one a certificate can name.
    names_checked: bool,
    config: Option<Arc<ClientConfig>>,
    /// "sslmode=verify-full, sslrootcert=/etc/ca.pem": said in handshake errors.
    describe: Arc<str>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The TLS mode tokio-postgres applies (`verify-*` need TLS like `require`).
    pub(super) fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }

    /// Reads the certificates and keys `settings` name (or libpq's default files under
    /// `~/.postgresql/`) and builds the configuration.
    pub(super) fn new(settings: &Settings) -> Result<Connector, Error> {
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql"));
        let default_file = |name: &str| home.as_ref().map(|h| h.join(name)).filter(|p| p.is_file());
        let roots = match settings.root_cert.as_deref() {
            Some("system") => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
            None => default_file("root.crt").map_or(Roots::None, Roots::File),
        };
        let mode = match (settings.mode, &roots) {
            (Some(m @ (Mode::Prefer | Mode::Require | Mode::Disable | Mode::VerifyCa)), Roots::System) => {
                return Err(bad(format!(
                    "sslmode={} may not be used with sslrootcert=system: use verify-full (the default with system); \
                     any public certificate would pass a check of the chain alone",
                    m.as_str()
                )))
            }
            (None, Roots::System) => Mode::VerifyFull,
            (m, _) => m.unwrap_or(Mode::Prefer),
        };
        let mut describe = format!("sslmode={}", mode.as_str());
        if mode == Mode::Disable {
            return Ok(Connector {
                mode,
                names_checked: false,
                config: None,
                describe: describe.into(),
            });
        }
        match &roots {
            Roots::File(p) => describe.push_str(&format!(", sslrootcert={}", p.display())),
            Roots::System => describe.push_str(", sslrootcert=system"),
            Roots::None => {}
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // libpq: `require` with a root certificate at hand checks the chain like `verify-ca`.
        let check = match (mode, &roots) {
            (Mode::VerifyFull, _) => Check::Full,
            (Mode::VerifyCa, _) | (Mode::Require, Roots::File(_)) => Check::Chain,
            _ => Check::Nothing,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(Unchecked(provider.clone())),
            Check::Chain | Check::Full => {
                let store = root_store(&roots, mode)?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .map_err(|e| bad(format!("TLS roots: {e}")))?;
                if check == Check::Full {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let cert = settings
            .cert
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| default_file("postgresql.crt"));
        let mut config = match cert {
            None => builder.with_no_client_auth(),
            Some(cert_path) => {
                let key_path = settings
                    .key
                    .as_ref()
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join("postgresql.key")))
                    .ok_or_else(|| bad("sslcert is set but sslkey is not"))?;
                let chain = certificates("sslcert", &cert_path)?;
                let key = PrivateKeyDer::from_pem_file(&key_path)
                    .map_err(|e| bad(format!("sslkey {}: {e}", key_path.display())))?;
                describe.push_str(&format!(", sslcert={}", cert_path.display()));
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad(format!("sslcert/sslkey: {e}")))?
            }
        };
        // PostgreSQL 17 asks for it with direct TLS negotiation; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Connector {
            mode,
            names_checked: check == Check::Full,
            config: Some(Arc::new(config)),
            describe: describe.into(),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

/// The certificates of the PEM file `path` that setting `what` names: at least one.
fn certificates(what: &str, path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(bad(format!(
            "{what} {}: no certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn root_store(roots: &Roots, mode: Mode) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let (added, _) = store.add_parsable_certificates(certificates("sslrootcert", path)?);
            if added == 0 {
                return Err(bad(format!(
                    "sslrootcert {}: no usable certificate in it",
                    path.display()
                )));
            }
        }
        Roots::None => {
            return Err(bad(format!(
                "sslmode={} checks the server's certificate and needs the certificate authority: \
                 give sslrootcert=/path/to/ca.pem (or sslrootcert=system for the public roots), \
                 or put it in ~/.postgresql/root.crt",
                mode.as_str()
            )))
        }
    }
    Ok(store)
}

/// `prefer` and `require` without roots: encrypted, the certificate taken as it comes (libpq
/// does the same); the handshake's signatures are still checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a root, whatever host the certificate names.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A TLS handshake failure that says what was checked and how to fix it.
#[derive(Debug)]
pub(super) struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl MakeTlsConnect<Socket> for Connector {
    type Stream = Stream;
    type TlsConnect = Connect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, TlsError> {
        Ok(Connect {
            config: self.config.clone(),
            host: domain.to_string(),
            names_checked: self.names_checked,
            describe: self.describe.clone(),
        })
    }
}

/// One connection's handshake.
pub(super) struct Connect {
    config: Option<Arc<ClientConfig>>,
    host: String,
    names_checked: bool,
    describe: Arc<str>,
}

impl TlsConnect<Socket> for Connect {
    type Stream = Stream;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, TlsError>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let Connect {
                config,
                host,
                names_checked,
                describe,
            } = self;
            let fail = |why: String| TlsError(format!("TLS with {host} ({describe}): {why}"));
            let config = config.ok_or_else(|| fail("TLS is disabled".into()))?;
            // A host that is no DNS name or address (a socket path, a scoped IPv6 address):
            // the modes that do not check names may use any; verify-full refuses it.
            let name = match ServerName::try_from(host.clone()) {
                Ok(n) => n,
                Err(e) if names_checked => {
                    return Err(fail(format!(
                    "sslmode=verify-full needs a host name or address a certificate can name ({e})"
                )))
                }
                Err(_) => ServerName::try_from("localhost".to_string())
                    .map_err(|e| fail(e.to_string()))?,
            };
            match tokio_rustls::TlsConnector::from(config)
                .connect(name, socket)
                .await
            {
                Ok(s) => Ok(Stream(s)),
                Err(e) => Err(fail(explain(&e))),
            }
        })
    }
}

/// The handshake error, with what it means for a PostgreSQL user.
fn explain(e: &io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "the server's certificate is not signed by a certificate authority in sslrootcert \
             (invalid peer certificate: UnknownIssuer)"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(
            c @ (CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. }),
        )) => format!(
            "the server's certificate does not name the host connected to; connect by a name \
             it holds or use sslmode=verify-ca ({c:?})"
        ),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// An encrypted connection.
pub(super) struct Stream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding: the server's identity is what verify-full checks.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_leave_the_url_and_the_rest_alone() {
        let (rest, s) = split(
            "postgres://u:p@db.example.com:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db.example.com:5432/app?application_name=x"
        );
        assert_eq!(s.mode, Some(Mode::VerifyFull));
        assert_eq!(s.root_cert.as_deref(), Some("/etc/ca.pem"));

        let (rest, s) = split("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(s.mode, Some(Mode::Require));

        let (rest, s) =
            split("host=db user='a b' sslmode = verify-ca sslrootcert='/c a.pem' password=it\\'s")
                .unwrap();
        assert_eq!(rest, "host='db' user='a b' password='it\\'s'");
        assert_eq!(s.mode, Some(Mode::VerifyCa));
        assert_eq!(s.root_cert.as_deref(), Some("/c a.pem"));
        let parsed: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(parsed.get_user(), Some("a b"));
        assert_eq!(parsed.get_password(), Some(&b"it's"[..]));
    }

    #[test]
    fn bad_tls_settings_say_what_is_wrong() {
        for (url, says) in [
            ("postgres://h/db?sslmode=verify", "is not one of"),
            ("postgres://h/db?sslmode=allow", "not supported"),
            ("postgres://h/db?sslcrl=/x", "sslcrl is not supported"),
            ("host=h sslmode", "expected ="),
            ("host='h", "not closed"),
            (
                "postgres://h/db?sslrootcert=%zz",
                "bad percent escape in the URL's sslrootcert",
            ),
            ("postgres://h/db?password=se%zzcret", "password parameter"),
        ] {
            let e = split(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("zzcret"), "the value is not repeated: {e}");
        }
        for mode in ["require", "verify-ca", "prefer"] {
            let (_, s) = split(&format!(
                "postgres://h/db?sslmode={mode}&sslrootcert=system"
            ))
            .unwrap();
            let e = Connector::new(&s).unwrap_err().to_string();
            assert!(e.contains("may not be used with sslrootcert=system"), "{e}");
        }
        let (_, s) =
            split("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let e = Connector::new(&s).unwrap_err().to_string();
        assert!(e.contains("sslrootcert /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn system_roots_default_to_verify_full() {
        let (_, s) = split("postgres://h/db?sslrootcert=system").unwrap();
        let c = Connector::new(&s).unwrap();
        assert_eq!(c.mode, Mode::VerifyFull);
        assert_eq!(c.ssl_mode(), SslMode::Require);
        let (_, s) = split("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(Connector::new(&s).unwrap().ssl_mode(), SslMode::Disable);
    }
}
