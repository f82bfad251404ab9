//! [`TlsError`]: why a TLS handshake or configuration failed, mapped from rustls' errors.

use std::io;

use rustls::{AlertDescription, CertificateError};

/// Why a TLS configuration was refused or a TLS handshake failed.
///
/// The provider's streams report it inside an [`io::Error`] (the provider traits speak
/// `io::Result`), so a [`Peer`](crate::Peer)'s
/// [`ConnectionFailed`](crate::PeerError::ConnectionFailed) carries it as its source. Get it
/// back with [`TlsError::from_io`]:
///
/// ```
/// use moonpool::tls::TlsError;
///
/// let err: std::io::Error = TlsError::ExpiredCertificate.into();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// assert!(matches!(TlsError::from_io(&err), Some(TlsError::ExpiredCertificate)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The other side's certificate does not chain to a trusted root (unknown issuer, bad
    /// signature, or a certificate not meant for this use).
    #[error("certificate not trusted: {reason}")]
    UntrustedCertificate {
        /// What rustls reported.
        reason: String,
    },
    /// The other side's certificate (or one in its chain) has expired, at the provider's time
    /// (virtual time in the simulator).
    #[error("certificate expired")]
    ExpiredCertificate,
    /// The other side's certificate is not valid yet, at the provider's time.
    #[error("certificate not valid yet")]
    NotYetValidCertificate,
    /// The server's certificate is valid, but not for the name the client connected to.
    #[error("certificate not valid for server name {expected:?} (it names {presented:?})")]
    WrongServerName {
        /// The name the client expected (from the destination, or the configured override).
        expected: String,
        /// The names the certificate carries.
        presented: Vec<String>,
    },
    /// A server that requires client certificates got none.
    #[error("the client presented no certificate")]
    NoClientCertificate,
    /// The other side refused the handshake with a TLS alert (it did not trust our
    /// certificate, say); the alert's name says why.
    #[error("the other side refused the handshake: {alert}")]
    Refused {
        /// The alert received (`BadCertificate`, `UnknownCA`, `CertificateExpired`, ...).
        alert: String,
    },
    /// The handshake failed for a protocol reason (no common version, cipher suite or group;
    /// a malformed message).
    #[error("tls protocol error: {0}")]
    Protocol(rustls::Error),
    /// The connection underneath failed during the handshake (closed, reset, timed out).
    #[error("tls handshake i/o failed: {0}")]
    HandshakeIo(#[source] io::Error),
    /// The destination's host is not a valid TLS server name.
    #[error("invalid tls server name {name:?}")]
    InvalidServerName {
        /// The host that was given.
        name: String,
    },
    /// The configuration was refused (a key that does not match its certificate, an empty
    /// root set, a key type the simulator cannot sign with deterministically).
    #[error("invalid tls configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// `connect` on a provider without a client configuration, or `bind` without a server one.
    #[error("this tls provider has no {side} configuration")]
    NotConfigured {
        /// `"client"` or `"server"`.
        side: &'static str,
    },
}

impl TlsError {
    /// The `TlsError` inside an [`io::Error`] returned by a [`TlsProvider`](super::TlsProvider)
    /// stream or listener, if it holds one.
    pub fn from_io(err: &io::Error) -> Option<&TlsError> {
        err.get_ref().and_then(|inner| inner.downcast_ref())
    }

    /// Maps an error from a handshake through futures-rustls: rustls' own errors by what
    /// they mean, the rest as handshake I/O failures.
    pub(crate) fn from_handshake(err: io::Error) -> Self {
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            let inner = err.into_inner().expect("checked above");
            let rustls = *inner.downcast::<rustls::Error>().expect("checked above");
            return Self::from(rustls);
        }
        Self::HandshakeIo(err)
    }

    /// An error after the handshake: rustls' own (an alert, a bad record) as a `TlsError`,
    /// I/O errors as they are.
    pub(crate) fn typed(err: io::Error) -> io::Error {
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return Self::from_handshake(err).into();
        }
        err
    }

    /// The [`io::ErrorKind`] this error travels under.
    fn kind(&self) -> io::ErrorKind {
        match self {
            Self::HandshakeIo(err) => err.kind(),
            Self::Refused { .. } => io::ErrorKind::ConnectionRefused,
            Self::InvalidServerName { .. }
            | Self::InvalidConfig { .. }
            | Self::NotConfigured { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        }
    }
}

impl From<rustls::Error> for TlsError {
    fn from(err: rustls::Error) -> Self {
        match err {
            rustls::Error::InvalidCertificate(cert) => from_certificate_error(cert),
            rustls::Error::NoCertificatesPresented => Self::NoClientCertificate,
            rustls::Error::AlertReceived(alert) => Self::Refused {
                alert: alert_name(alert),
            },
            other => Self::Protocol(other),
        }
    }
}

fn from_certificate_error(err: CertificateError) -> TlsError {
    match err {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            TlsError::ExpiredCertificate
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            TlsError::NotYetValidCertificate
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => TlsError::WrongServerName {
            expected: expected.to_str().into_owned(),
            presented,
        },
        CertificateError::NotValidForName => TlsError::WrongServerName {
            expected: String::new(),
            presented: Vec::new(),
        },
        other => TlsError::UntrustedCertificate {
            reason: format!("{other:?}"),
        },
    }
}

fn alert_name(alert: AlertDescription) -> String {
    format!("{alert:?}")
}

impl From<TlsError> for io::Error {
    fn from(err: TlsError) -> Self {
        io::Error::new(err.kind(), err)
    }
}
