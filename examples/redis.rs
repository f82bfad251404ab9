//! A [`Peer`] talking to a real redis-server through [`LinesCodec`], with the server restarted
//! in the middle.
//!
//! It starts its own `redis-server` (Debian's package, on `PATH`) on 127.0.0.1 and a free
//! port, with no persistence, and then:
//! 1. pipelines `--requests N` commands (`ECHO req-<i>`, default 200) and reads every reply;
//! 2. kills the server, pipelines `N` more while it is down, and starts it again on the same
//!    port: the Peer reconnects on its own and sends what it still holds;
//! 3. pipelines `N` more on the new connection.
//!
//! Each reply names its request, so every reply is matched to the request it answers. It
//! prints `sent`, `answered` and `lost` (requests written into the connection that died with
//! the server: at most once, never duplicated, never out of order) and exits with 0, 1 if a
//! reply matched no request or came out of order, or 2 if redis-server cannot be started.
//!
//! ```text
//! cargo run --example redis -- [--requests N]
//! ```
//!
//! Redis reads inline commands ending in `\n` and answers this one with a bulk string
//! (`$6\r\nreq-17\r\n`): two lines, which [`Replies`] puts back together.

use std::net::TcpListener;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use moonpool::peer::LinesCodec;
use moonpool::{Clock, Peer, PeerConfig, RealClock, RealNetworkProvider};

/// How long one phase may wait for its replies.
const PHASE_LIMIT: Duration = Duration::from_secs(10);

/// A redis-server of our own on 127.0.0.1, killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts redis-server on a free port of 127.0.0.1 and waits until it accepts.
    pub fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Result<Self, String> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server ({e}): apt-get install redis-server")
            })?;
        let mut server = Self { port, child };
        server.wait_until_accepting()?;
        Ok(server)
    }

    fn wait_until_accepting(&mut self) -> Result<(), String> {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited at start: {status}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "redis-server not accepting on port {} after 2 s",
            self.port
        ))
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: connections die with it) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new server on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let fresh = Self::start_on(self.port)?;
        // Swap the children; the old, dead one is reaped by `kill` above.
        *self = fresh;
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Puts RESP replies back together from lines: `+OK`, `-ERR ..`, `:5`, or `$n` then a line.
#[derive(Debug, Default)]
pub struct Replies {
    /// A `$n` header waiting for its data line.
    bulk: bool,
}

impl Replies {
    /// Feeds one line; returns a whole reply when there is one.
    pub fn line(&mut self, line: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(line).into_owned();
        if std::mem::take(&mut self.bulk) {
            return Some(text);
        }
        if text.starts_with('$') && text != "$-1" {
            self.bulk = true;
            return None;
        }
        Some(text)
    }
}

/// What the client counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Requests the Peer accepted.
    pub sent: u64,
    /// Requests whose reply came back.
    pub answered: u64,
    /// Requests with no reply: written into the connection that died with the server.
    pub lost: u64,
    /// Replies that matched no outstanding request, or came out of order (must stay 0).
    pub unmatched: u64,
    /// Connections the Peer established.
    pub connections: u64,
}

/// Sends requests and matches replies: requests are numbered, replies name their number.
struct Client {
    peer: Peer<RealNetworkProvider, LinesCodec>,
    replies: Replies,
    next: u64,
    /// The highest request answered so far.
    last_answered: Option<u64>,
    tally: Tally,
}

impl Client {
    fn new(addr: String) -> Self {
        let config = PeerConfig {
            max_queue_size: 100_000,
            ..PeerConfig::local()
        };
        let peer = Peer::with_codec(
            RealNetworkProvider::new(),
            addr,
            config,
            LinesCodec::default(),
        );
        Self {
            peer,
            replies: Replies::default(),
            next: 0,
            last_answered: None,
            tally: Tally::default(),
        }
    }

    /// Pipelines `n` requests (queued at once; written in batches).
    async fn send(&mut self, n: u64) -> Result<(), String> {
        for _ in 0..n {
            let command = format!("ECHO req-{}", self.next).into_bytes();
            self.peer.send(command).await.map_err(|e| e.to_string())?;
            self.next += 1;
            self.tally.sent += 1;
        }
        Ok(())
    }

    /// Reads replies until request `until - 1` is answered or `PHASE_LIMIT` passes. A reply
    /// to a later request than expected means the ones between were lost with a connection.
    async fn collect(&mut self, until: u64) {
        let clock = RealClock::new();
        let deadline = clock.now() + PHASE_LIMIT;
        while self.last_answered.map_or(0, |n| n + 1) < until && clock.now() < deadline {
            let left = deadline.saturating_sub(clock.now());
            match clock.timeout(left, self.peer.recv()).await {
                Ok(Ok(line)) => {
                    if let Some(reply) = self.replies.line(&line) {
                        self.matched(&reply);
                    }
                }
                // A broken connection or a refused reconnect: the Peer tries again.
                Ok(Err(_)) => self.replies = Replies::default(),
                Err(_) => break,
            }
        }
    }

    fn matched(&mut self, reply: &str) {
        let number = reply
            .strip_prefix("req-")
            .and_then(|n| n.parse::<u64>().ok());
        match number {
            Some(n) if n < self.next && self.last_answered.is_none_or(|last| n > last) => {
                self.last_answered = Some(n);
                self.tally.answered += 1;
            }
            _ => self.tally.unmatched += 1,
        }
    }
}

/// The whole story against `server`: pipeline, kill, pipeline while down, restart, pipeline.
pub async fn scenario(server: &mut RedisServer, requests: u64) -> Result<Tally, String> {
    let mut client = Client::new(server.addr());
    client.send(requests).await?;
    client.peer.flush().await.map_err(|e| e.to_string())?;
    client.collect(requests).await;
    if client.tally.answered != requests {
        return Err(format!(
            "only {} of {requests} replies before the restart",
            client.tally.answered
        ));
    }
    server.kill();
    client.send(requests).await?;
    // Writes into the dead connection fail or vanish; either way nothing is duplicated.
    let _ = client.peer.flush().await;
    server.restart()?;
    client.send(requests).await?;
    client.collect(client.next).await;
    let mut tally = client.tally;
    tally.lost = tally.sent - tally.answered;
    tally.connections = client.peer.metrics().connections_established;
    client.peer.close().await;
    Ok(tally)
}

/// `--requests N` (default 200, at least 1).
fn parse_args() -> Result<u64, lexopt::Error> {
    use lexopt::prelude::*;
    let mut requests = 200;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("requests") => {
                let text = parser.value()?.string()?;
                requests = match text.parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--requests: {text:?} is not a count from 1").into()),
                };
            }
            other => return Err(other.unexpected()),
        }
    }
    Ok(requests)
}

fn main() -> ExitCode {
    let requests = match parse_args() {
        Ok(requests) => requests,
        Err(error) => {
            eprintln!("redis: {error} (usage: redis [--requests N])");
            return ExitCode::from(2);
        }
    };
    let mut server = match RedisServer::start() {
        Ok(server) => server,
        Err(message) => {
            eprintln!("redis: {message}");
            return ExitCode::from(2);
        }
    };
    println!("redis-server on {}", server.addr());
    match async_io::block_on(scenario(&mut server, requests)) {
        Ok(tally) => {
            println!(
                "sent={} answered={} lost={} unmatched={} connections={}",
                tally.sent, tally.answered, tally.lost, tally.unmatched, tally.connections
            );
            if tally.unmatched == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("redis: {message}");
            ExitCode::FAILURE
        }
    }
}
