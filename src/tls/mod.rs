//! Feature `tls`: TLS over any provider, through rustls (ring backend) on the `futures` I/O
//! traits ([futures-rustls](https://docs.rs/futures-rustls)).
//!
//! [`TlsProvider`] wraps a [`NetworkProvider`](crate::NetworkProvider) and is one itself, so a
//! [`Peer`](crate::Peer), a [`SessionServer`](crate::peer::SessionServer) or any code written
//! against the provider traits runs over TLS unchanged. What it checks:
//! - the server's certificate, always: it must chain to one of the client's
//!   [`roots`](TlsClientConfig::roots), be valid at the provider's time, and name the host of
//!   the destination (`"db.internal:443"` → `db.internal`; an IP address for `"10.0.0.1:4500"`)
//!   or the configured [`server_name`](TlsClientConfig::server_name);
//! - with mutual TLS ([`client_roots`](TlsServerConfig::client_roots)), the client's certificate
//!   the same way; the server reads it back with [`TlsStream::peer_certificates`] or
//!   [`TlsStream::peer_certificate_sha256`].
//!
//! A failure is a [`TlsError`] inside the `io::Error` the provider returns
//! ([`TlsError::from_io`] gets it back), so a Peer's
//! [`ConnectionFailed`](crate::PeerError::ConnectionFailed) says which check failed.
//!
//! In the simulator, [`TlsProvider::simulated`] draws every random byte (and X25519 secret)
//! from the world's seed and checks validity against virtual time: a handshake replays bit for
//! bit. Use Ed25519 keys there (ring's other signatures read the OS; the provider refuses them).
//!
//! # Examples
//!
//! A TLS echo over the simulator, with a self-signed certificate made on the spot (the tests
//! use [rcgen](https://docs.rs/rcgen) for that; any DER certificate and key will do):
//!
//! ```
//! # fn cert() -> (Vec<u8>, Vec<u8>) {
//! #     let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
//! #     let params = rcgen::CertificateParams::new(vec!["10.0.0.1".into()]).unwrap();
//! #     (params.self_signed(&key).unwrap().der().to_vec(), key.serialize_der())
//! # }
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use moonpool::tls::{CertificateDer, Identity, PrivateKeyDer};
//! use moonpool::tls::{TlsClientConfig, TlsConfig, TlsProvider, TlsServerConfig};
//! use moonpool::{Listener, NetworkProvider, SimWorld};
//!
//! let (cert_der, key_der) = cert(); // a certificate for 10.0.0.1, and its Ed25519 key
//! let cert = CertificateDer::from(cert_der);
//! let key = PrivateKeyDer::try_from(key_der).unwrap();
//!
//! let world = SimWorld::new(7);
//! let server_config = TlsConfig::server(TlsServerConfig::new(Identity::new(vec![cert.clone()], key)));
//! let server_net = TlsProvider::simulated(world.provider("10.0.0.1"), &server_config).unwrap();
//! let client_config = TlsConfig::client(TlsClientConfig::new(vec![cert]));
//! let client_net = TlsProvider::simulated(world.provider("10.0.0.2"), &client_config).unwrap();
//!
//! let listener = world.block_on(server_net.bind("10.0.0.1:443")).unwrap().unwrap();
//! world.spawn("echo", async move {
//!     let (mut stream, _) = listener.accept().await.unwrap();
//!     let mut buf = [0u8; 4];
//!     stream.read_exact(&mut buf).await.unwrap(); // the handshake runs here
//!     stream.write_all(&buf).await.unwrap();
//!     stream.close().await.unwrap();
//! });
//! let echo = world.block_on(async move {
//!     let mut stream = client_net.connect("10.0.0.1:443").await?; // verified: 10.0.0.1
//!     stream.write_all(b"ping").await?;
//!     let mut echo = Vec::new();
//!     stream.read_to_end(&mut echo).await?;
//!     Ok::<_, std::io::Error>(echo)
//! });
//! assert_eq!(echo.unwrap().unwrap(), b"ping");
//! ```

mod config;
mod error;
mod provider;
mod seeded;
mod stream;

pub use config::{Identity, TlsClientConfig, TlsConfig, TlsServerConfig};
pub use error::TlsError;
pub use provider::{SimulatedProvider, TlsListener, TlsProvider};
/// rustls' DER types for certificates and keys, re-exported for [`Identity`] and the roots.
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use stream::TlsStream;
