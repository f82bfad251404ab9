//! A real-network echo server for [`Peer`](moonpool::Peer) clients.
//!
//! It binds an address (default `127.0.0.1:4500`), accepts connections and echoes every
//! message back, one async-executor task per connection, speaking the Peer's framing through
//! [`FramedStream`]. It runs until killed, or until `--max-connections N` connections were
//! accepted and have all ended.
//!
//! ```text
//! cargo run --example echo_server -- [ADDR] [--max-connections N]
//! ```
//!
//! Pair it with `cargo run --example peer_client`, and stop and restart the server while the
//! client runs to watch the Peer reconnect.

use std::process::ExitCode;

use async_executor::Executor;
use moonpool::peer::FramedStream;
use moonpool::{Listener, NetworkProvider, RealNetworkProvider, RealStream};

/// Command-line options.
struct Options {
    addr: String,
    max_connections: Option<u64>,
}

const USAGE: &str = "usage: echo_server [ADDR] [--max-connections N]";

/// Parses the command line; `Ok(None)` for `--help`.
fn parse_args() -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        addr: "127.0.0.1:4500".to_string(),
        max_connections: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("max-connections") => {
                let text = parser.value()?.string()?;
                let n = text
                    .parse()
                    .map_err(|_| format!("--max-connections: {text:?} is not a number"))?;
                options.max_connections = Some(n);
            }
            Value(addr) => options.addr = addr.string()?,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(format!("{} ({USAGE})", other.unexpected()).into()),
        }
    }
    Ok(Some(options))
}

/// Echoes every message of one connection until it ends; returns how many were echoed.
async fn echo(stream: RealStream) -> std::io::Result<u64> {
    let mut conn = FramedStream::new(stream);
    let mut echoed = 0;
    while let Some(message) = conn.recv().await? {
        conn.send(&message).await?;
        echoed += 1;
    }
    Ok(echoed)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let executor = Executor::new();
    let serve = async {
        let listener = RealNetworkProvider::new().bind(&options.addr).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        let mut connections = Vec::new();
        let mut accepted = 0;
        let mut failed_accepts = 0;
        while options.max_connections.is_none_or(|max| accepted < max) {
            let (stream, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                // A failed accept (a connection reset before it was accepted, no file
                // descriptors left) is transient; many in a row are not.
                Err(error) if failed_accepts < 100 => {
                    eprintln!("accept failed: {error}");
                    failed_accepts += 1;
                    continue;
                }
                Err(error) => return Err(error),
            };
            failed_accepts = 0;
            accepted += 1;
            println!("connection {accepted} from {remote}");
            let task = executor.spawn(async move {
                match echo(stream).await {
                    Ok(n) => {
                        println!("connection {accepted} from {remote}: closed after {n} message(s)")
                    }
                    Err(error) => println!("connection {accepted} from {remote}: {error}"),
                }
            });
            connections.push(task);
        }
        // `--max-connections` reached: stop accepting, let the open connections finish.
        drop(listener);
        for task in connections {
            task.await;
        }
        println!("served {accepted} connection(s); exiting");
        std::io::Result::Ok(())
    };
    match async_io::block_on(executor.run(serve)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo server: {error}");
            ExitCode::FAILURE
        }
    }
}
