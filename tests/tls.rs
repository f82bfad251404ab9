//! Feature `tls`: `TlsProvider` over the simulator and real loopback (and Tokio): handshakes,
//! the typed errors of each failed check, mutual TLS, a reliable Peer across a TLS server's
//! restarts, sessions bound to the client's certificate, and bit-for-bit replay of the
//! simulated handshakes.
//!
//! Certificates are made here with rcgen; in the simulator their Ed25519 keys come from the
//! test's seed, so the certificates, and with them the whole run, are the same every time.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use moonpool::peer::{Delivery, SessionServer};
use moonpool::provider::Stream;
use moonpool::tls::{
    Identity, SimulatedProvider, TlsClientConfig, TlsConfig, TlsError, TlsProvider, TlsServerConfig,
};
use moonpool::{
    Clock, Listener, NetworkProvider, Peer, PeerConfig, PeerError, RealNetworkProvider,
    SimNetworkProvider, SimWorld,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const SERVER: &str = "10.0.0.1";
const CLIENT: &str = "10.0.0.2";
const ADDR: &str = "10.0.0.1:4433";

/// An Ed25519 key from 32 seed bytes: PKCS#8 v1 (RFC 8410) is a fixed prefix and the seed.
fn ed25519_key(rng: &mut ChaCha20Rng) -> KeyPair {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    der.extend_from_slice(&seed);
    KeyPair::try_from(der.as_slice()).expect("an Ed25519 PKCS#8 key")
}

/// A certificate authority and the certificates it signs.
struct Ca {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str, key: KeyPair) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap().der().clone();
        Self {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    /// A seeded (deterministic) CA for the simulator.
    fn seeded(name: &str, rng: &mut ChaCha20Rng) -> Self {
        Self::new(name, ed25519_key(rng))
    }

    /// An end-entity certificate for `names`, valid until `not_after` (year, month, day).
    fn issue_until(&self, names: &[&str], key: KeyPair, not_after: (i32, u8, u8)) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = params.signed_by(&key, &self.issuer).unwrap().der().clone();
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        Identity::new(vec![cert], key)
    }

    fn issue(&self, names: &[&str], key: KeyPair) -> Identity {
        self.issue_until(names, key, (2100, 1, 1))
    }
}

/// The server's and the client's TLS providers in `world`.
fn sim_pair(
    world: &SimWorld,
    server: TlsConfig,
    client: TlsConfig,
) -> (
    TlsProvider<SimNetworkProvider>,
    TlsProvider<SimNetworkProvider>,
) {
    let server = TlsProvider::simulated(world.provider(SERVER), &server).unwrap();
    let client = TlsProvider::simulated(world.provider(CLIENT), &client).unwrap();
    (server, client)
}

/// A CA, a server certificate for `SERVER` and the configurations of both sides.
fn sim_configs(seed: u64) -> (Ca, TlsConfig, TlsConfig) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ca = Ca::seeded("test ca", &mut rng);
    let identity = ca.issue(&[SERVER], ed25519_key(&mut rng));
    let server = TlsConfig::server(TlsServerConfig::new(identity));
    let client = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    (ca, server, client)
}

/// Accepts one connection, echoes until end-of-file, closes; returns what it echoed.
async fn echo_once<L: Listener>(listener: &L) -> io::Result<Vec<u8>> {
    let (mut stream, _) = listener.accept().await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        stream.write_all(&buf[..n]).await?;
    }
    stream.close().await?;
    Ok(seen)
}

/// Connects, writes `data` in pieces, reads it all back, closes.
async fn echo_client<P: NetworkProvider>(net: &P, addr: &str, data: &[u8]) -> io::Result<()> {
    let mut stream = net.connect(addr).await?;
    for piece in data.chunks(1000) {
        stream.write_all(piece).await?;
    }
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).await?;
    assert_eq!(back, data);
    stream.close().await?;
    assert_eq!(
        stream.read(&mut [0u8; 8]).await?,
        0,
        "end-of-file after close"
    );
    Ok(())
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// The `TlsError` of a failed connect.
fn tls_error(err: &io::Error) -> &TlsError {
    TlsError::from_io(err).unwrap_or_else(|| panic!("not a tls error: {err:?}"))
}

#[test]
fn smoke_handshake_and_echo_in_the_simulator() {
    let world = SimWorld::new(1);
    let (_ca, server, client) = sim_configs(1);
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let data = payload(10_000);
    let mut served = world.spawn("server", async move { echo_once(&listener).await });
    world
        .block_on(async { echo_client(&client, ADDR, &data).await })
        .unwrap()
        .unwrap();
    world.run().unwrap();
    assert_eq!(served.try_take().unwrap().unwrap(), data);
}

#[test]
fn handshake_and_echo_over_real_loopback() {
    // Real crypto: ring's ECDSA keys and OS randomness are fine here.
    let ca = Ca::new("real ca", KeyPair::generate().unwrap());
    let identity = ca.issue(&["127.0.0.1"], KeyPair::generate().unwrap());
    let server_config = TlsConfig::server(TlsServerConfig::new(identity));
    let client_config = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    let server = TlsProvider::new(RealNetworkProvider::new(), &server_config).unwrap();
    let client = TlsProvider::new(RealNetworkProvider::new(), &client_config).unwrap();
    async_io::block_on(async {
        let listener = server.bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data = payload(100_000);
        let both = futures::future::join(echo_once(&listener), echo_client(&client, &addr, &data));
        let (served, sent) = client
            .clock()
            .timeout(Duration::from_secs(10), both)
            .await
            .expect("within 10 s");
        sent.unwrap();
        assert_eq!(served.unwrap(), data);
    });
}

#[cfg(feature = "tokio")]
#[test]
fn handshake_and_echo_over_tokio() {
    use moonpool::TokioNetworkProvider;
    let ca = Ca::new("tokio ca", KeyPair::generate().unwrap());
    let identity = ca.issue(&["localhost"], KeyPair::generate().unwrap());
    let server_config = TlsConfig::server(TlsServerConfig::new(identity));
    let client_config = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = TlsProvider::new(TokioNetworkProvider::new(), &server_config).unwrap();
        let client = TlsProvider::new(TokioNetworkProvider::new(), &client_config).unwrap();
        let listener = server.bind("127.0.0.1:0").await.unwrap();
        let port = listener
            .local_addr()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .to_owned();
        let addr = format!("localhost:{port}"); // the name checked is the host: localhost
        let data = payload(50_000);
        // The server runs as a spawned task: the streams are Send.
        let served = tokio::spawn(async move { echo_once(&listener).await });
        tokio::time::timeout(Duration::from_secs(10), echo_client(&client, &addr, &data))
            .await
            .expect("within 10 s")
            .unwrap();
        assert_eq!(served.await.unwrap().unwrap(), data);
    });
}

#[test]
fn an_untrusted_certificate_is_a_typed_error_on_both_sides() {
    let world = SimWorld::new(2);
    let (_ca, server, _client) = sim_configs(2);
    let other_ca = Ca::seeded("another ca", &mut ChaCha20Rng::seed_from_u64(99));
    let client = TlsConfig::client(TlsClientConfig::new(vec![other_ca.cert.clone()]));
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let mut served = world.spawn("server", async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.handshake().await.unwrap_err()
    });
    let err = world
        .block_on(async move { client.connect(ADDR).await.unwrap_err() })
        .unwrap();
    assert!(
        matches!(tls_error(&err), TlsError::UntrustedCertificate { .. }),
        "{err}"
    );
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    world.run().unwrap();
    let server_err = served.try_take().unwrap();
    assert!(
        matches!(tls_error(&server_err), TlsError::Refused { alert } if alert == "UnknownCA"),
        "{server_err}"
    );
}

#[test]
fn a_certificate_expires_in_virtual_time() {
    let world = SimWorld::new(3);
    world.set_time_budget(Duration::from_secs(10 * 86_400));
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let ca = Ca::seeded("test ca", &mut rng);
    // The simulation starts at 2026-01-01 (TlsConfig::DEFAULT_SIM_EPOCH); valid for a day.
    let identity = ca.issue_until(&[SERVER], ed25519_key(&mut rng), (2026, 1, 2));
    let server = TlsConfig::server(TlsServerConfig::new(identity));
    let client = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    world.spawn("server", async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.handshake().await;
        }
    });
    let (before, after) = world
        .block_on(async move {
            let before = client.connect(ADDR).await.map(drop);
            client.clock().sleep(Duration::from_secs(2 * 86_400)).await;
            let after = client.connect(ADDR).await.map(drop);
            (before, after)
        })
        .unwrap();
    before.expect("valid on the first day");
    let err = after.unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::ExpiredCertificate),
        "{err}"
    );
}

#[test]
fn a_wrong_server_name_is_a_typed_error_through_the_peer() {
    let world = SimWorld::new(4);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let ca = Ca::seeded("test ca", &mut rng);
    let identity = ca.issue(&["10.0.0.9", "db.internal"], ed25519_key(&mut rng));
    let server = TlsConfig::server(TlsServerConfig::new(identity));
    let client = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    world.spawn("server", async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.handshake().await;
        }
    });
    let err = world
        .block_on(async move {
            let mut peer = Peer::new(client, ADDR.into(), PeerConfig::default());
            peer.send(b"hello".to_vec()).await.unwrap();
            peer.flush().await.unwrap_err()
        })
        .unwrap();
    let PeerError::ConnectionFailed { source, .. } = &err else {
        panic!("expected ConnectionFailed, got {err}");
    };
    match tls_error(source) {
        TlsError::WrongServerName {
            expected,
            presented,
        } => {
            assert_eq!(expected, SERVER);
            assert!(presented.iter().any(|name| name.contains("db.internal")));
        }
        other => panic!("expected WrongServerName, got {other}"),
    }
}

#[test]
fn a_configured_server_name_replaces_the_destinations_host() {
    let world = SimWorld::new(5);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let ca = Ca::seeded("test ca", &mut rng);
    let identity = ca.issue(&["db.internal"], ed25519_key(&mut rng));
    let server = TlsConfig::server(TlsServerConfig::new(identity));
    let client = TlsConfig::client(TlsClientConfig {
        server_name: Some("db.internal".into()),
        ..TlsClientConfig::new(vec![ca.cert.clone()])
    });
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    world.spawn("server", async move { echo_once(&listener).await.unwrap() });
    world
        .block_on(async move { echo_client(&client, ADDR, b"named").await })
        .unwrap()
        .unwrap();
}

#[test]
fn mutual_tls_gives_the_server_the_clients_certificate() {
    let world = SimWorld::new(6);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let ca = Ca::seeded("test ca", &mut rng);
    let server_identity = ca.issue(&[SERVER], ed25519_key(&mut rng));
    let client_identity = ca.issue(&["client one"], ed25519_key(&mut rng));
    let client_cert = client_identity.cert_chain[0].clone();
    let server = TlsConfig::server(TlsServerConfig {
        client_roots: Some(vec![ca.cert.clone()]),
        ..TlsServerConfig::new(server_identity)
    });
    let with_cert = TlsConfig::client(TlsClientConfig {
        identity: Some(client_identity),
        ..TlsClientConfig::new(vec![ca.cert.clone()])
    });
    let without_cert = TlsConfig::client(TlsClientConfig::new(vec![ca.cert.clone()]));
    let (server, client) = sim_pair(&world, server, with_cert);
    let anonymous = TlsProvider::simulated(world.provider("10.0.0.3"), &without_cert).unwrap();
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let mut served = world.spawn("server", async move {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let handshake = stream.handshake().await;
            let fingerprint = stream.peer_certificate_sha256();
            if handshake.is_ok() {
                let mut buf = [0u8; 2];
                stream.read_exact(&mut buf).await.unwrap();
                stream.write_all(&buf).await.unwrap();
            }
            results.push((handshake, fingerprint));
        }
        results
    });
    world
        .block_on(async move {
            let mut stream = client.connect(ADDR).await.unwrap();
            stream.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            stream.read_exact(&mut buf).await.unwrap();
            // Without a certificate the client's handshake ends first (TLS 1.3); the server's
            // refusal reaches it on its first read.
            let mut stream = anonymous.connect(ADDR).await.unwrap();
            let err = stream.read(&mut buf).await.unwrap_err();
            assert!(
                matches!(tls_error(&err), TlsError::Refused { alert } if alert == "CertificateRequired"),
                "{err}"
            );
        })
        .unwrap();
    world.run().unwrap();
    let results = served.try_take().unwrap();
    let expected = ring::digest::digest(&ring::digest::SHA256, client_cert.as_ref());
    assert!(results[0].0.is_ok());
    assert_eq!(
        results[0].1.as_ref().map(|d| &d[..]),
        Some(expected.as_ref())
    );
    let err = results[1].0.as_ref().unwrap_err();
    assert!(
        matches!(tls_error(err), TlsError::NoClientCertificate),
        "{err}"
    );
    assert_eq!(results[1].1, None);
}

#[test]
fn configuration_errors_are_typed() {
    let world = SimWorld::new(7);
    let (_ca, server, client) = sim_configs(7);
    // The simulator refuses keys whose signatures would read the OS.
    let ca = Ca::new("ecdsa", KeyPair::generate().unwrap());
    let ecdsa = TlsConfig::server(TlsServerConfig::new(
        ca.issue(&[SERVER], KeyPair::generate().unwrap()),
    ));
    let err = TlsProvider::simulated(world.provider(SERVER), &ecdsa).unwrap_err();
    assert!(matches!(err, TlsError::InvalidConfig { .. }), "{err}");
    assert!(TlsProvider::new(RealNetworkProvider::new(), &ecdsa).is_ok());
    // No roots at all.
    let err = TlsProvider::simulated(
        world.provider(CLIENT),
        &TlsConfig::client(TlsClientConfig::new(Vec::new())),
    )
    .unwrap_err();
    assert!(matches!(err, TlsError::InvalidConfig { .. }), "{err}");
    // A side that was not configured.
    let (server, client) = sim_pair(&world, server, client);
    let (connect, bind) = world
        .block_on(async move {
            (
                server.connect(ADDR).await.map(drop),
                client.bind("10.0.0.2:1").await.map(drop),
            )
        })
        .unwrap();
    let connect = connect.unwrap_err();
    let bind = bind.unwrap_err();
    assert!(matches!(
        tls_error(&connect),
        TlsError::NotConfigured { side: "client" }
    ));
    assert!(matches!(
        tls_error(&bind),
        TlsError::NotConfigured { side: "server" }
    ));
    assert_eq!(connect.kind(), io::ErrorKind::InvalidInput);
}

/// A TLS server that crashes three times (listener and connection gone, sessions forgotten)
/// after taking some messages: a reliable Peer reconnects through new handshakes and the
/// server ends up with every message.
fn peer_across_tls_server_restarts(delivery: Delivery, seed: u64) {
    const MESSAGES: usize = 12;
    let world = SimWorld::new(seed);
    let (_ca, server, client) = sim_configs(seed);
    let (server, client) = sim_pair(&world, server, client);
    let clock = server.clock();
    let mut served = world.spawn("server", async move {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for incarnation in 0..4u64 {
            let listener = server.bind(ADDR).await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let Ok(mut conn) = SessionServer::new(100 + incarnation).accept(stream).await else {
                continue;
            };
            let mut here = 0;
            while let Ok(Some(message)) = conn.recv().await {
                seen.push(message);
                here += 1;
                if incarnation < 3 && here == 3 {
                    break; // crash: connection, listener and sessions dropped
                }
            }
            drop((conn, listener));
            clock.sleep(Duration::from_millis(200)).await;
            if seen_all(&seen, MESSAGES) {
                break;
            }
        }
        seen
    });
    let metrics = world
        .block_on(async move {
            let config = PeerConfig {
                delivery,
                initial_reconnect_delay: Duration::from_millis(10),
                max_reconnect_delay: Duration::from_millis(100),
                stable_connection_time: Duration::ZERO,
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(client, ADDR.into(), config);
            for i in 0..MESSAGES {
                peer.send(format!("message {i}").into_bytes())
                    .await
                    .unwrap();
            }
            let mut handed_back = 0;
            loop {
                match peer.wait_acknowledged().await {
                    Ok(()) => break,
                    Err(err) if err.is_disconnect() => continue,
                    // Exactly-once: what the dead incarnation may have processed comes back;
                    // this caller sends it again.
                    Err(PeerError::SessionRestarted { unacknowledged, .. }) => {
                        handed_back += unacknowledged.len();
                        for message in unacknowledged {
                            peer.send(message).await.unwrap();
                        }
                    }
                    Err(err) => panic!("{err}"),
                }
            }
            let metrics = peer.metrics();
            peer.close().await;
            (metrics, handed_back)
        })
        .unwrap();
    let (metrics, handed_back) = metrics;
    world.run().unwrap();
    let seen = served.try_take().unwrap();
    assert!(seen_all(&seen, MESSAGES), "lost some: {seen:?}");
    assert!(metrics.connections_established >= 4, "{metrics:?}");
    assert!(metrics.session_restarts >= 3, "{metrics:?}");
    match delivery {
        Delivery::ExactlyOnce => assert!(handed_back > 0, "the restarts handed nothing back"),
        _ => assert_eq!(handed_back, 0),
    }
}

fn seen_all(seen: &[Vec<u8>], count: usize) -> bool {
    (0..count).all(|i| seen.contains(&format!("message {i}").into_bytes()))
}

#[test]
fn an_at_least_once_peer_loses_nothing_across_tls_server_restarts() {
    peer_across_tls_server_restarts(Delivery::AtLeastOnce, 8);
}

#[test]
fn an_exactly_once_peer_loses_nothing_across_tls_server_restarts() {
    peer_across_tls_server_restarts(Delivery::ExactlyOnce, 9);
}

/// A stream wrapper that appends every byte it writes and reads to a shared log: the
/// ciphertext both ways, as the client's side of the connection sees it.
struct Recorded<S> {
    inner: S,
    log: Rc<RefCell<Vec<u8>>>,
}

impl<S: Stream> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.log.borrow_mut().extend_from_slice(&buf[..n]);
        }
        poll
    }
}

impl<S: Stream> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.log.borrow_mut().extend_from_slice(&buf[..n]);
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<S: Stream> Stream for Recorded<S> {
    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }
    fn peer_addr(&self) -> io::Result<String> {
        self.inner.peer_addr()
    }
    fn abort(self) {
        self.inner.abort()
    }
}

/// The simulator, with every connection's bytes recorded.
#[derive(Clone)]
struct Recording {
    inner: SimNetworkProvider,
    log: Rc<RefCell<Vec<u8>>>,
}

struct RecordingListener {
    inner: moonpool::SimTcpListener,
    log: Rc<RefCell<Vec<u8>>>,
}

impl Listener for RecordingListener {
    type Stream = Recorded<moonpool::SimTcpStream>;
    async fn accept(&self) -> io::Result<(Self::Stream, String)> {
        let (inner, addr) = self.inner.accept().await?;
        let log = self.log.clone();
        Ok((Recorded { inner, log }, addr))
    }
    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }
}

impl NetworkProvider for Recording {
    type Stream = Recorded<moonpool::SimTcpStream>;
    type Listener = RecordingListener;
    type Clock = moonpool::SimClock;
    async fn bind(&self, addr: &str) -> io::Result<RecordingListener> {
        let inner = self.inner.bind(addr).await?;
        let log = self.log.clone();
        Ok(RecordingListener { inner, log })
    }
    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let inner = self.inner.connect(addr).await?;
        let log = self.log.clone();
        Ok(Recorded { inner, log })
    }
    fn clock(&self) -> moonpool::SimClock {
        self.inner.clock()
    }
    fn random_seed(&self) -> u64 {
        self.inner.random_seed()
    }
}

impl SimulatedProvider for Recording {}

/// Three TLS echo sessions (two clients) in a world of `seed`: the ciphertext the clients
/// wrote and read, the world's digest, and what the server echoed.
fn recorded_run(seed: u64) -> (Vec<u8>, u64, Vec<Vec<u8>>) {
    let world = SimWorld::new(seed);
    let (_ca, server, client) = sim_configs(1); // the same certificates for every seed
    let log = Rc::new(RefCell::new(Vec::new()));
    let server = TlsProvider::simulated(world.provider(SERVER), &server).unwrap();
    let record = |ip: &str| {
        let inner = world.provider(ip);
        let recording = Recording {
            inner,
            log: log.clone(),
        };
        TlsProvider::simulated(recording, &client).unwrap()
    };
    let clients = [record(CLIENT), record("10.0.0.3")];
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let mut served = world.spawn("server", async move {
        let mut echoed = Vec::new();
        for _ in 0..3 {
            echoed.push(echo_once(&listener).await.unwrap());
        }
        echoed
    });
    for (i, client) in clients.into_iter().enumerate() {
        world.spawn(format!("client{i}"), async move {
            let sessions = if i == 0 { 2 } else { 1 };
            for session in 0..sessions {
                let data = format!("client {i} session {session}").repeat(50);
                echo_client(&client, ADDR, data.as_bytes()).await.unwrap();
            }
        });
    }
    world.run().unwrap();
    let echoed = served.try_take().unwrap();
    let bytes = log.borrow().clone();
    (bytes, world.digest(), echoed)
}

#[test]
fn the_same_seed_replays_the_handshakes_bit_for_bit() {
    let first = recorded_run(11);
    let again = recorded_run(11);
    assert!(
        first.0.len() > 3 * 1_000,
        "{} bytes recorded",
        first.0.len()
    );
    assert!(
        first.0 == again.0,
        "the same seed gave other bytes on the wire"
    );
    assert_eq!(first.1, again.1);
    assert_eq!(first.2, again.2);
    let other = recorded_run(12);
    // Another seed: other randoms and key shares, so other ciphertext.
    assert!(first.0 != other.0);
}

/// TLS inside a campaign on two worker threads, each seed run twice and compared step by
/// step: the handshakes replay, whatever thread ran them before. The step log does not hold
/// the bytes, so the client turns a hash of its recorded ciphertext into a last sleep: other
/// bytes on the wire would show as a divergence.
#[test]
fn a_tls_campaign_passes_the_determinism_check() {
    use moonpool::peer::FramedStream;
    use moonpool::testing::{DeterminismCheck, SimulationBuilder};
    let (_ca, server, client) = sim_configs(21);
    let report = SimulationBuilder::new()
        .seed_from_env(false)
        .threads(2)
        .iterations(8)
        .check_determinism(DeterminismCheck::All)
        .register_workload("server", move |_seed, net, topology| {
            let server = server.clone();
            async move {
                let net = TlsProvider::simulated(net, &server).map_err(|e| e.to_string())?;
                let listener = net
                    .bind(&format!("{}:4433", topology.my_ip))
                    .await
                    .map_err(|e| e.to_string())?;
                let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let mut conn = FramedStream::new(stream);
                while let Some(message) = conn.recv().await.map_err(|e| e.to_string())? {
                    conn.send(&message).await.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            }
        })
        .register_workload("client", move |_seed, net, topology| {
            let client = client.clone();
            async move {
                let log = Rc::new(RefCell::new(Vec::new()));
                let clock = net.clock();
                let recording = Recording {
                    inner: net,
                    log: log.clone(),
                };
                let net = TlsProvider::simulated(recording, &client).map_err(|e| e.to_string())?;
                let addr = format!("{}:4433", topology.peer_ips[0]);
                let mut peer = Peer::new(net, addr, PeerConfig::default());
                for word in ["one", "two", "three"] {
                    peer.send(word.into()).await.map_err(|e| e.to_string())?;
                    let echo = peer.recv().await.map_err(|e| e.to_string())?;
                    if echo != word.as_bytes() {
                        return Err(format!("echo {echo:?} for {word}"));
                    }
                }
                peer.close().await;
                let hash = log.borrow().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                clock.sleep(Duration::from_micros(1 + hash % 1_000)).await;
                Ok(())
            }
        })
        .run();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.iteration_count(), 8);
}

/// `close` sends `close_notify` (end-of-file for the other side); a connection dropped without
/// it reads as `UnexpectedEof`, a truncation TLS cannot tell from an attack.
#[test]
fn close_is_end_of_file_and_a_bare_drop_is_a_truncation() {
    let world = SimWorld::new(13);
    let (_ca, server, client) = sim_configs(13);
    let (server, client) = sim_pair(&world, server, client);
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    world.spawn("server", async move {
        for close in [true, false] {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(b"bye").await.unwrap();
            if close {
                stream.close().await.unwrap();
            }
            drop(stream);
        }
    });
    let (closed, dropped) = world
        .block_on(async move {
            let mut results = Vec::new();
            for _ in 0..2 {
                let mut stream = client.connect(ADDR).await.unwrap();
                let mut buf = [0u8; 3];
                stream.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"bye");
                results.push(stream.read(&mut [0u8; 8]).await);
            }
            (results.remove(0), results.remove(0))
        })
        .unwrap();
    assert_eq!(closed.unwrap(), 0);
    assert_eq!(dropped.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

/// A certificate not valid yet at the virtual time, and a server that hangs up before the
/// handshake: each has its own variant.
#[test]
fn not_yet_valid_and_a_hang_up_are_typed_errors() {
    let world = SimWorld::new(14);
    let (_ca, server, client) = sim_configs(14);
    // Virtual time zero stands for 2024-01-01; the certificate starts on 2025-01-01.
    let early = TlsConfig {
        sim_epoch: Duration::from_secs(1_704_067_200),
        ..client.clone()
    };
    let server = TlsProvider::simulated(world.provider(SERVER), &server).unwrap();
    let early = TlsProvider::simulated(world.provider(CLIENT), &early).unwrap();
    let client = TlsProvider::simulated(world.provider("10.0.0.3"), &client).unwrap();
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let plain = world.provider("10.0.0.4");
    let hang_up = world
        .block_on(plain.bind("10.0.0.4:4433"))
        .unwrap()
        .unwrap();
    world.spawn("server", async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = stream.handshake().await;
    });
    world.spawn("hang up", async move {
        let (stream, _) = hang_up.accept().await.unwrap();
        drop(stream); // a plain TCP server: no TLS at all
    });
    let (early, hung_up) = world
        .block_on(async move {
            let early = early.connect(ADDR).await.map(drop).unwrap_err();
            let hung_up = client.connect("10.0.0.4:4433").await.map(drop).unwrap_err();
            (early, hung_up)
        })
        .unwrap();
    assert!(
        matches!(tls_error(&early), TlsError::NotYetValidCertificate),
        "{early}"
    );
    assert!(
        matches!(tls_error(&hung_up), TlsError::HandshakeIo(_)),
        "{hung_up}"
    );
}

/// A session bound to a client's certificate: another client, with its own valid certificate,
/// that replays the first client's hello word for word (the session id and the Peer's
/// incarnation, which it could have from a log) is refused as `SessionTaken`; the owner then
/// resumes its session.
#[test]
fn a_session_bound_to_a_certificate_refuses_another_client() {
    use futures::channel::oneshot;
    use moonpool::peer::{Codec, LengthChecksumCodec, SessionError};

    let world = SimWorld::new(12);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let ca = Ca::seeded("test ca", &mut rng);
    let server_identity = ca.issue(&[SERVER], ed25519_key(&mut rng));
    let client = |name: &str, rng: &mut ChaCha20Rng| {
        TlsConfig::client(TlsClientConfig {
            identity: Some(ca.issue(&[name], ed25519_key(rng))),
            ..TlsClientConfig::new(vec![ca.cert.clone()])
        })
    };
    let (alice, mallory) = (client("alice", &mut rng), client("mallory", &mut rng));
    let server = TlsConfig::server(TlsServerConfig {
        client_roots: Some(vec![ca.cert.clone()]),
        ..TlsServerConfig::new(server_identity)
    });
    let (server, alice) = sim_pair(&world, server, alice);
    let mallory = TlsProvider::simulated(world.provider("10.0.0.3"), &mallory).unwrap();
    let listener = world.block_on(server.bind(ADDR)).unwrap().unwrap();
    let (hello_tx, hello_rx) = oneshot::channel::<Vec<u8>>();
    let (refused_tx, refused_rx) = oneshot::channel::<()>();
    let mut served = world.spawn("server", async move {
        let sessions = SessionServer::new(1);
        let accept = |stream: moonpool::tls::TlsStream<SimNetworkProvider>| async {
            let mut stream = stream;
            stream.handshake().await.unwrap();
            let identity = stream
                .peer_certificate_sha256()
                .expect("a client certificate");
            let log = Rc::new(RefCell::new(Vec::new()));
            let recorded = Recorded {
                inner: stream,
                log: Rc::clone(&log),
            };
            let conn = sessions
                .accept_with_identity(recorded, Some(&identity))
                .await;
            (conn, log)
        };
        // Alice opens her session and sends one message; her connection then drops.
        let (stream, _) = listener.accept().await.unwrap();
        let (conn, log) = accept(stream).await;
        let mut conn = conn.unwrap();
        assert_eq!(conn.recv().await.unwrap(), Some(b"one".to_vec()));
        conn.flush().await.unwrap();
        drop(conn);
        // The first thing the server read is her hello frame, in plaintext.
        let read = log.borrow().clone();
        let hello = LengthChecksumCodec::default()
            .decode(&read)
            .unwrap()
            .unwrap();
        hello_tx.send(read[..hello.consumed].to_vec()).unwrap();
        // Mallory replays it under his own certificate.
        let (stream, _) = listener.accept().await.unwrap();
        let refused = accept(stream).await.0.err();
        refused_tx.send(()).unwrap();
        // Alice comes back.
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = accept(stream).await.0.unwrap();
        let resumed = conn.resumed();
        let two = conn.recv().await.unwrap();
        conn.flush().await.unwrap();
        (refused, resumed, two)
    });
    world.spawn("mallory", async move {
        let hello = hello_rx.await.unwrap();
        let mut stream = mallory.connect(ADDR).await.unwrap();
        stream.write_all(&hello).await.unwrap();
        let mut reject = Vec::new();
        stream.read_to_end(&mut reject).await.ok();
    });
    let restarts = world
        .block_on(async move {
            let config = PeerConfig {
                delivery: Delivery::ExactlyOnce,
                initial_reconnect_delay: Duration::from_millis(10),
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(alice, ADDR.into(), config);
            peer.send(b"one".to_vec()).await.unwrap();
            peer.wait_acknowledged().await.unwrap();
            refused_rx.await.unwrap();
            peer.send(b"two".to_vec()).await.unwrap();
            for _ in 0..10 {
                match peer.wait_acknowledged().await {
                    Ok(()) => break,
                    Err(err) => assert!(err.is_disconnect(), "{err}"),
                }
            }
            let restarts = peer.metrics().session_restarts;
            peer.close().await;
            restarts
        })
        .unwrap();
    world.run().unwrap();
    let (refused, resumed, two) = served.try_take().unwrap();
    assert!(
        matches!(refused, Some(SessionError::SessionTaken { .. })),
        "{refused:?}"
    );
    assert!(resumed, "alice resumed her session");
    assert_eq!(two, Some(b"two".to_vec()));
    assert_eq!(restarts, 0);
}
