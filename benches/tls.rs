//! The cost of TLS (feature `tls`): a Peer sending 1 KiB messages over loopback through
//! `TlsProvider<RealNetworkProvider>` against the same Peer over the bare provider, in the same
//! run; and TLS handshakes per second.
//!
//! `cargo bench --features tls --bench tls` runs the full pass; without `--bench` (as under
//! `cargo test --benches`) a tiny pass that only checks that everything works. The last lines
//! are the figures: `ratio tls_vs_plain_1k <value>` (message rate over TLS / bare) and
//! `rate <name> <value> <unit>`.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use futures::io::AsyncReadExt;
use moonpool::peer::FramedStream;
use moonpool::tls::{Identity, TlsClientConfig, TlsConfig, TlsProvider, TlsServerConfig};
use moonpool::{Listener, NetworkProvider, Peer, PeerConfig, RealNetworkProvider};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::PrivateKeyDer;

/// A CA and a server certificate for 127.0.0.1 (ECDSA P-256, rcgen's default), as configs.
fn configs() -> (TlsConfig, TlsConfig) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert").der().clone();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, &issuer).expect("cert").der().clone();
    let key = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    let server = TlsConfig::server(TlsServerConfig::new(Identity::new(vec![cert], key)));
    let client = TlsConfig::client(TlsClientConfig::new(vec![ca_cert]));
    (server, client)
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// `messages` messages of `size` bytes from a Peer of `client` to a `FramedStream` of
/// `server`, from the connect to the last one received.
fn peer_run<P: NetworkProvider>(server: &P, client: &P, messages: u64, size: usize) -> Duration {
    async_io::block_on(async {
        let listener = server.bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let payload = vec![0xA5u8; size];
        let start = Instant::now();
        let receive = async {
            let (stream, _) = listener.accept().await?;
            let mut conn = FramedStream::new(stream);
            let mut bytes = 0u64;
            for _ in 0..messages {
                let message = conn.recv().await?.ok_or(io::ErrorKind::UnexpectedEof)?;
                bytes += message.len() as u64;
            }
            Ok::<_, io::Error>(black_box(bytes))
        };
        let send = async {
            let mut peer = Peer::new(client.clone(), addr.clone(), PeerConfig::default());
            peer.reconnect().await.map_err(io::Error::other)?;
            for _ in 0..messages {
                peer.send(black_box(payload.clone()))
                    .await
                    .map_err(io::Error::other)?;
            }
            peer.flush().await.map_err(io::Error::other)?;
            Ok::<_, io::Error>(peer) // kept open until everything was received
        };
        let (sent, received) = futures::future::join(send, receive).await;
        let elapsed = start.elapsed();
        sent.expect("send");
        assert_eq!(received.expect("receive"), messages * size as u64);
        elapsed
    })
}

/// Full TLS handshakes (connect, then the server's first read) per second, one at a time.
fn handshakes(
    server: &TlsProvider<RealNetworkProvider>,
    client: &TlsProvider<RealNetworkProvider>,
    count: u64,
) -> f64 {
    async_io::block_on(async {
        let listener = server.bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let start = Instant::now();
        for _ in 0..count {
            let accept = async {
                let (mut stream, _) = listener.accept().await?;
                stream.handshake().await?;
                let mut end = [0u8; 1];
                let _ = stream.read(&mut end).await; // until the client is gone
                Ok::<_, io::Error>(())
            };
            let connect = async {
                let stream = client.connect(&addr).await?;
                drop(black_box(stream));
                Ok::<_, io::Error>(())
            };
            let (accepted, connected) = futures::future::join(accept, connect).await;
            accepted.expect("accept");
            connected.expect("connect");
        }
        per_sec(count, start.elapsed())
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (messages, repeats, handshake_count) = if full { (200_000, 5, 500) } else { (200, 1, 4) };
    const SIZE: usize = 1024;
    println!(
        "info mode {}",
        if full {
            "full"
        } else {
            "quick (pass --bench for the full run)"
        }
    );
    let (server_config, client_config) = configs();
    let plain = RealNetworkProvider::new();
    let tls_server = TlsProvider::new(plain.clone(), &server_config).expect("server config");
    let tls_client = TlsProvider::new(plain.clone(), &client_config).expect("client config");

    // Alternating runs, best of `repeats` each: the loopback timings are noisy.
    let mut bare = Duration::MAX;
    let mut tls = Duration::MAX;
    for _ in 0..repeats {
        bare = bare.min(peer_run(&plain, &plain, messages, SIZE));
        tls = tls.min(peer_run(&tls_server, &tls_client, messages, SIZE));
    }
    let bytes = messages * SIZE as u64;
    for (name, elapsed) in [("plain", bare), ("tls", tls)] {
        println!(
            "info peer_1k {name:>5}: {:>9.0} msg/s {:>7.1} MB/s",
            per_sec(messages, elapsed),
            per_sec(bytes, elapsed) / 1e6
        );
    }
    let rate = handshakes(&tls_server, &tls_client, handshake_count);
    println!("rate peer_plain_1k {:.0} msg/s", per_sec(messages, bare));
    println!("rate peer_tls_1k {:.0} msg/s", per_sec(messages, tls));
    println!("rate tls_handshakes {rate:.0} handshakes/s");
    println!(
        "ratio tls_vs_plain_1k {:.2}",
        bare.as_secs_f64() / tls.as_secs_f64()
    );
}
