//! A [`Peer`] client on the real network that survives its server going away.
//!
//! It sends `--count N` numbered messages (default 20) to an echo server, one every
//! `--interval-ms M` milliseconds (default 200), and collects the echoes. Stop the server and
//! start it again while the client runs: `send` keeps queueing, `flush` and `recv` report the
//! broken connection and the refused attempts (counted below as errors), and the Peer
//! reconnects on its own with exponential backoff. At the end it prints what it sent, what came
//! back, and the Peer's metrics. It is bounded in count and in time.
//!
//! ```text
//! cargo run --example echo_server            # in one terminal
//! cargo run --example peer_client -- [ADDR] [--count N] [--interval-ms M]
//! ```
//!
//! A message the Peer wrote into a connection whose server had just died can be lost (in the
//! default unreliable mode the Peer guarantees at most once, in order, whole); the summary
//! counts the echoes that never came, split into those the queue dropped and those lost with
//! a connection.

use std::process::ExitCode;
use std::time::Duration;

use moonpool::{Clock, NetworkProvider, Peer, PeerConfig, PeerError, RealNetworkProvider};

/// How long the client waits for the last echoes once everything was sent.
const DRAIN: Duration = Duration::from_secs(3);

/// Command-line options.
struct Options {
    addr: String,
    count: u64,
    interval: Duration,
}

const USAGE: &str = "usage: peer_client [ADDR] [--count N] [--interval-ms M]";

/// Parses the command line; `Ok(None)` for `--help`.
fn parse_args() -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        addr: "127.0.0.1:4500".to_string(),
        count: 20,
        interval: Duration::from_millis(200),
    };
    let mut parser = lexopt::Parser::from_env();
    let number = |parser: &mut lexopt::Parser, flag: &str| -> Result<u64, lexopt::Error> {
        let text = parser.value()?.string()?;
        Ok(text
            .parse()
            .map_err(|_| format!("{flag}: {text:?} is not a number"))?)
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("count") => options.count = number(&mut parser, "--count")?,
            Long("interval-ms") => {
                options.interval = Duration::from_millis(number(&mut parser, "--interval-ms")?)
            }
            Value(addr) => options.addr = addr.string()?,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(format!("{} ({USAGE})", other.unexpected()).into()),
        }
    }
    Ok(Some(options))
}

/// What the client saw.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    echoes: u64,
    last_echo: Option<u64>,
    errors: u64,
}

impl Tally {
    fn error(&mut self, what: &str, error: &PeerError) {
        self.errors += 1;
        println!("  {what}: {error}");
    }

    fn echo(&mut self, message: &[u8]) {
        let text = String::from_utf8_lossy(message);
        let number = text.strip_prefix("message ").and_then(|n| n.parse().ok());
        // The Peer delivers in order and at most once: echoes only ever move forward.
        assert!(number > self.last_echo, "echo out of order: {text}");
        self.last_echo = number;
        self.echoes += 1;
    }
}

/// Flushes, then receives echoes until an error (the caller bounds it with a timeout).
async fn exchange(peer: &mut Peer<RealNetworkProvider>, tally: &mut Tally) {
    if let Err(error) = peer.flush().await {
        return tally.error("flush", &error);
    }
    loop {
        match peer.recv().await {
            Ok(message) => tally.echo(&message),
            Err(error) => return tally.error("recv", &error),
        }
    }
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
    let provider = RealNetworkProvider::new();
    let clock = provider.clock();
    let config = PeerConfig {
        max_reconnect_delay: Duration::from_secs(2),
        ..PeerConfig::local()
    };
    let mut peer = Peer::new(provider, options.addr.clone(), config);
    let mut tally = Tally::default();
    println!(
        "sending {} message(s) to {}, one every {:?}",
        options.count, options.addr, options.interval
    );
    async_io::block_on(async {
        let start = clock.now();
        for k in 0..options.count {
            // Exchange until this message's time slot ends, then idle to keep the pace.
            let slot_end = start + options.interval * (k + 1) as u32;
            // `send` only waits when connected with a full queue (a server that stopped
            // reading), never while disconnected: bounded by the slot too.
            let message = format!("message {k}").into_bytes();
            let left = slot_end.saturating_sub(clock.now());
            match clock.timeout(left, peer.send(message)).await {
                Ok(Ok(())) => tally.sent += 1,
                Ok(Err(error)) => tally.error("send", &error),
                Err(_) => println!("  send: timed out (server not reading)"),
            }
            let left = slot_end.saturating_sub(clock.now());
            let _ = clock.timeout(left, exchange(&mut peer, &mut tally)).await;
            clock.sleep(slot_end.saturating_sub(clock.now())).await;
            println!(
                "sent {:>4}  echoes {:>4}  errors {:>3}  connected {}",
                tally.sent,
                tally.echoes,
                tally.errors,
                peer.is_connected()
            );
        }
        // The last echoes: wait until the last message came back, at most DRAIN.
        let last = options.count.checked_sub(1);
        let drain = async {
            while tally.last_echo < last {
                exchange(&mut peer, &mut tally).await;
            }
        };
        let _ = clock.timeout(DRAIN, drain).await;
        peer.close().await;
    });
    // Two different losses: messages the queue dropped (overflow while disconnected, or
    // still queued at the end) never left this process; the others were written into a
    // connection that then broke, and the server never echoed them.
    let metrics = peer.metrics();
    let unanswered = tally.sent.saturating_sub(tally.echoes);
    let dropped = metrics.messages_dropped.min(unanswered);
    println!(
        "\nsent {}, echoed {}, errors {}\nnot echoed {unanswered}: dropped by the queue {dropped}, \
         lost with a connection {} (the Peer counted {} written on connections that broke as \
         possibly lost)",
        tally.sent,
        tally.echoes,
        tally.errors,
        unanswered - dropped,
        metrics.messages_possibly_lost,
    );
    println!("{metrics:#?}");
    ExitCode::SUCCESS
}
