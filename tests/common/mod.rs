//! Test bodies shared by the provider suites: one generic echo over any `NetworkProvider`.
#![allow(dead_code)]

use std::io;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::{Clock, Listener, NetworkProvider};

pub mod peer;

/// Upper bound on any one echo's network activity (virtual time in the simulator).
pub const LIMIT: Duration = Duration::from_secs(10);

pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Accepts one connection, reads `len` bytes, writes them back, then closes.
pub async fn echo_server<L: Listener>(listener: &L, len: usize) -> io::Result<()> {
    let (mut stream, _peer) = listener.accept().await?;
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).await?;
    stream.write_all(&buf).await?;
    stream.close().await
}

/// Connects, sends `data`, expects it back and then end-of-file.
pub async fn echo_client<P: NetworkProvider>(
    provider: P,
    addr: String,
    data: Vec<u8>,
) -> io::Result<()> {
    let mut stream = provider.connect(&addr).await?;
    stream.write_all(&data).await?;
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).await?;
    assert_eq!(back, data);
    assert_eq!(
        stream.read(&mut [0; 16]).await?,
        0,
        "end-of-file after the echo"
    );
    Ok(())
}

/// One echo round trip of `len` bytes on 127.0.0.1, server and client in one task.
pub async fn echo<P: NetworkProvider>(provider: P, len: usize) -> io::Result<()> {
    let listener = provider.bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let clock = provider.clock();
    let both = futures::future::join(
        echo_server(&listener, len),
        echo_client(provider, addr, payload(len)),
    );
    let (server, client) = clock.timeout(LIMIT, both).await?;
    server.and(client)
}
