//! [`TlsConfig`]: what a [`TlsProvider`](super::TlsProvider) trusts and presents, turned into
//! rustls' client and server configurations.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureAlgorithm};

use super::seeded;
use super::TlsError;

/// A certificate chain (end-entity first) and its private key: what one side presents.
pub struct Identity {
    /// DER certificates, the end-entity one first, then its intermediates.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The end-entity certificate's private key (PKCS#8, PKCS#1 or SEC1 DER).
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// An identity from a chain (end-entity first) and its key.
    pub fn new(cert_chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { cert_chain, key }
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.cert_chain.len())
            .field("key", &"<hidden>")
            .finish()
    }
}

/// The client side: which servers to trust, and the certificate to present if the server asks.
#[derive(Debug, Clone)]
pub struct TlsClientConfig {
    /// The roots a server's certificate must chain to (verification is always on). Must not
    /// be empty.
    pub roots: Vec<CertificateDer<'static>>,
    /// The client certificate for mutual TLS; `None` (the default) presents none.
    pub identity: Option<Identity>,
    /// The name the server's certificate must carry. `None` (the default): the host of the
    /// address given to `connect` (`"db.internal:443"` → `db.internal`, `"10.0.0.1:4500"` →
    /// the IP address `10.0.0.1`).
    pub server_name: Option<String>,
}

impl TlsClientConfig {
    /// A client that trusts `roots`, presents no certificate and checks the destination's
    /// host name.
    pub fn new(roots: Vec<CertificateDer<'static>>) -> Self {
        Self {
            roots,
            identity: None,
            server_name: None,
        }
    }
}

/// The server side: the certificate to present, and whether clients must present theirs.
#[derive(Debug, Clone)]
pub struct TlsServerConfig {
    /// The server's certificate chain and key.
    pub identity: Identity,
    /// `Some(roots)`: mutual TLS, every client must present a certificate chaining to one of
    /// these (others fail their handshake). `None` (the default): clients present none.
    pub client_roots: Option<Vec<CertificateDer<'static>>>,
}

impl TlsServerConfig {
    /// A server presenting `identity` that asks clients for no certificate.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            client_roots: None,
        }
    }
}

/// A [`TlsProvider`](super::TlsProvider)'s configuration: a client side, a server side, or
/// both (a process that connects and accepts).
///
/// `connect` needs the client side and `bind` the server side; the missing one is
/// [`TlsError::NotConfigured`].
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Used by `connect`.
    pub client: Option<TlsClientConfig>,
    /// Used by `bind`.
    pub server: Option<TlsServerConfig>,
    /// Simulator only: the wall time (since the Unix epoch) that virtual time zero stands for,
    /// against which certificates' validity is checked. Default [`TlsConfig::DEFAULT_SIM_EPOCH`]
    /// (2026-01-01T00:00:00Z). Real providers use the system time.
    pub sim_epoch: Duration,
}

impl TlsConfig {
    /// 2026-01-01T00:00:00Z, the default [`sim_epoch`](TlsConfig::sim_epoch).
    pub const DEFAULT_SIM_EPOCH: Duration = Duration::from_secs(1_767_225_600);

    /// A client-only configuration.
    pub fn client(client: TlsClientConfig) -> Self {
        Self {
            client: Some(client),
            server: None,
            sim_epoch: Self::DEFAULT_SIM_EPOCH,
        }
    }

    /// A server-only configuration.
    pub fn server(server: TlsServerConfig) -> Self {
        Self {
            client: None,
            server: Some(server),
            sim_epoch: Self::DEFAULT_SIM_EPOCH,
        }
    }

    /// Adds (or replaces) the client side.
    pub fn with_client(mut self, client: TlsClientConfig) -> Self {
        self.client = Some(client);
        self
    }

    /// Adds (or replaces) the server side.
    pub fn with_server(mut self, server: TlsServerConfig) -> Self {
        self.server = Some(server);
        self
    }
}

/// Where the crypto's randomness and time come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Crypto {
    /// ring's OS randomness, the system clock, session resumption on.
    System,
    /// The seeded, virtual-time crypto of [`seeded`]; no resumption.
    Simulated,
}

/// rustls' configurations built from a [`TlsConfig`].
pub(crate) struct Built {
    pub(crate) client: Option<Arc<ClientConfig>>,
    pub(crate) server: Option<Arc<ServerConfig>>,
}

impl TlsConfig {
    pub(crate) fn build(&self, crypto: Crypto) -> Result<Built, TlsError> {
        let provider = match crypto {
            Crypto::System => Arc::new(rustls::crypto::ring::default_provider()),
            Crypto::Simulated => seeded::crypto_provider(),
        };
        let client = self
            .client
            .as_ref()
            .map(|client| build_client(client, &provider, crypto))
            .transpose()?;
        let server = self
            .server
            .as_ref()
            .map(|server| build_server(server, &provider, crypto))
            .transpose()?;
        Ok(Built { client, server })
    }
}

fn invalid(reason: impl fmt::Display) -> TlsError {
    TlsError::InvalidConfig {
        reason: reason.to_string(),
    }
}

fn root_store(roots: &[CertificateDer<'static>], whose: &str) -> Result<RootCertStore, TlsError> {
    if roots.is_empty() {
        return Err(invalid(format!("no {whose} roots to trust")));
    }
    let mut store = RootCertStore::empty();
    for (i, root) in roots.iter().enumerate() {
        store
            .add(root.clone())
            .map_err(|err| invalid(format!("{whose} root {i}: {err}")))?;
    }
    Ok(store)
}

/// In the simulator a signature must not read the OS: only Ed25519 signs deterministically.
fn check_key(
    identity: &Identity,
    provider: &CryptoProvider,
    crypto: Crypto,
) -> Result<(), TlsError> {
    let key = provider
        .key_provider
        .load_private_key(identity.key.clone_key())
        .map_err(|err| invalid(format!("private key: {err}")))?;
    if matches!(crypto, Crypto::Simulated) && key.algorithm() != SignatureAlgorithm::ED25519 {
        return Err(invalid(format!(
            "the simulator needs an Ed25519 key ({:?} signatures draw from the operating \
             system, so a handshake would not replay)",
            key.algorithm()
        )));
    }
    Ok(())
}

fn builder_versions<S: rustls::ConfigSide>(
    builder: rustls::ConfigBuilder<S, rustls::WantsVersions>,
) -> Result<rustls::ConfigBuilder<S, rustls::WantsVerifier>, TlsError> {
    builder
        .with_safe_default_protocol_versions()
        .map_err(invalid)
}

fn build_client(
    config: &TlsClientConfig,
    provider: &Arc<CryptoProvider>,
    crypto: Crypto,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = Arc::new(root_store(&config.roots, "server")?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(invalid)?;
    let builder = match crypto {
        Crypto::System => ClientConfig::builder_with_provider(provider.clone()),
        Crypto::Simulated => {
            ClientConfig::builder_with_details(provider.clone(), Arc::new(seeded::ScopedTime))
        }
    };
    let builder = builder_versions(builder)?.with_webpki_verifier(verifier);
    let mut client = match &config.identity {
        Some(identity) => {
            check_key(identity, provider, crypto)?;
            builder
                .with_client_auth_cert(identity.cert_chain.clone(), identity.key.clone_key())
                .map_err(|err| invalid(format!("client certificate: {err}")))?
        }
        None => builder.with_no_client_auth(),
    };
    if matches!(crypto, Crypto::Simulated) {
        client.resumption = Resumption::disabled();
    }
    Ok(Arc::new(client))
}

fn build_server(
    config: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
    crypto: Crypto,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = match crypto {
        Crypto::System => ServerConfig::builder_with_provider(provider.clone()),
        Crypto::Simulated => {
            ServerConfig::builder_with_details(provider.clone(), Arc::new(seeded::ScopedTime))
        }
    };
    let builder = builder_versions(builder)?;
    let builder = match &config.client_roots {
        Some(roots) => {
            let roots = Arc::new(root_store(roots, "client")?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(invalid)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    check_key(&config.identity, provider, crypto)?;
    let mut server = builder
        .with_single_cert(
            config.identity.cert_chain.clone(),
            config.identity.key.clone_key(),
        )
        .map_err(|err| invalid(format!("server certificate: {err}")))?;
    if matches!(crypto, Crypto::Simulated) {
        // Tickets and the session cache draw ids and read time outside any handshake.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(NoServerSessionStorage {});
    }
    Ok(Arc::new(server))
}
