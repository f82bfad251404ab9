//! The ping-pong [`server`]: a framed echo server answering every ping with its pong.

use std::collections::BTreeMap;
use std::io;

use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};

use super::PORT;
use crate::always_assert;
use crate::peer::FramedStream;
use crate::provider::{Listener, NetworkProvider};
use crate::testing::WorkloadTopology;

/// The server: binds `my_ip:4500`, serves every accepted connection concurrently (answering
/// each `ping <client> <n> ...` with `pong <client> <n>`), and returns once the other
/// workloads are done ([`Shutdown`](crate::testing::Shutdown)).
///
/// # Errors
/// Only if binding fails; broken connections just end.
pub async fn server<P: NetworkProvider>(provider: P, topology: WorkloadTopology) -> io::Result<()> {
    let listener = provider.bind(&format!("{}:{PORT}", topology.my_ip)).await?;
    let mut connections = FuturesUnordered::new();
    loop {
        let accept = Box::pin(listener.accept());
        let stop = topology.shutdown.wait();
        let connection_ended = Box::pin(async {
            if connections.is_empty() {
                std::future::pending::<()>().await;
            }
            connections.next().await;
        });
        match select(accept, select(stop, connection_ended)).await {
            Either::Left((Ok((stream, _remote)), _)) => {
                connections.push(serve(FramedStream::new(stream)));
            }
            // A failed accept (the simulator does not produce them) ends nothing.
            Either::Left((Err(_), _)) => {}
            Either::Right((Either::Left(_), _)) => return Ok(()),
            Either::Right((Either::Right(_), _)) => {}
        }
    }
}

/// Answers one connection's pings until it ends.
///
/// Checks that, on this connection, each client's request numbers are consecutive
/// (`server_requests_consecutive`). A client's Peer numbers its requests in order and loses
/// them only between connections: the overflow policy drops waiting messages only while
/// disconnected, and a frame half-written on a broken connection is sent again whole, first,
/// on the next one. So within one connection nothing may be missing: a gap there is a
/// message the simulated TCP (or the Peer) lost silently.
async fn serve<S: crate::provider::Stream>(mut conn: FramedStream<S>) {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    while let Ok(Some(request)) = conn.recv().await {
        let text = String::from_utf8_lossy(&request);
        let mut parts = text.split(' ');
        let (kind, client, n) = (parts.next(), parts.next(), parts.next());
        let number = n.and_then(|n| n.parse::<u64>().ok());
        let well_formed = kind == Some("ping") && client.is_some() && number.is_some();
        always_assert!(
            "server_request_well_formed",
            well_formed,
            "bad request {text:.60}"
        );
        if let (Some(client), Some(n)) = (client, number) {
            let previous = last.insert(client.to_string(), n);
            always_assert!(
                "server_requests_consecutive",
                previous.is_none_or(|previous| previous.checked_add(1) == Some(n)),
                "{client}'s ping {n} follows ping {previous:?} on one connection"
            );
        }
        let reply = format!("pong {} {}", client.unwrap_or(""), n.unwrap_or(""));
        if conn.send(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
