//! The same [`Peer`] code under a Tokio runtime (feature `tokio`).
//!
//! An echo server and a Peer client run in one process on a multi-thread Tokio runtime, both
//! started with `tokio::spawn` (so their futures are `Send`), over
//! [`TokioNetworkProvider`] on `127.0.0.1:0`. The client function is generic over
//! [`NetworkProvider`]: the very same function runs over the simulator or async-io.
//!
//! ```text
//! cargo run --example tokio_peer --features tokio
//! ```

use std::time::Duration;

use moonpool::peer::FramedStream;
use moonpool::{Listener, NetworkProvider, Peer, PeerConfig, PeerMetrics, TokioNetworkProvider};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Messages the client sends.
const COUNT: u32 = 10;

/// Accepts connections and echoes every message, one task per connection.
async fn echo_server<L: Listener>(listener: L) -> Result<(), BoxError>
where
    L::Stream: Send,
{
    loop {
        let (stream, remote) = listener.accept().await?;
        tokio::spawn(async move {
            let mut conn = FramedStream::new(stream);
            while let Ok(Some(message)) = conn.recv().await {
                if conn.send(&message).await.is_err() {
                    break;
                }
            }
            println!("server: {remote} disconnected");
        });
    }
}

/// Sends `COUNT` messages and checks their echoes: provider-generic, runtime-agnostic.
async fn client<P: NetworkProvider>(provider: P, addr: String) -> Result<PeerMetrics, BoxError> {
    let mut peer = Peer::new(provider, addr, PeerConfig::local());
    for k in 0..COUNT {
        peer.send(format!("hello {k}").into_bytes()).await?;
    }
    peer.flush().await?;
    for k in 0..COUNT {
        let echo = peer.recv().await?;
        assert_eq!(echo, format!("hello {k}").into_bytes());
        println!("client: {}", String::from_utf8_lossy(&echo));
    }
    peer.close().await;
    Ok(peer.metrics())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let provider = TokioNetworkProvider::new();
    let listener = provider.bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("server: listening on {addr}");
    let server = tokio::spawn(echo_server(listener));

    let client = tokio::spawn(client(provider, addr));
    let metrics = tokio::time::timeout(Duration::from_secs(10), client).await???;
    println!("{metrics:#?}");
    server.abort();
    Ok(())
}
