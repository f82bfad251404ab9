//! The Peer against a server nobody here wrote: a real redis-server (Debian's package;
//! `.ci/run` installs it), started on 127.0.0.1 and a free port, restarted in the middle of a
//! pipelined stream of commands. Skipped, saying so, where redis-server cannot be started.
//!
//! The scenario is the `redis` example's own code (`examples/redis.rs`), so the example and
//! this test cannot drift apart.

#[allow(dead_code)]
#[path = "../examples/redis.rs"]
mod example;

use example::{RedisServer, Replies, Tally};

#[test]
fn smoke_replies_are_put_back_together_from_lines() {
    let mut replies = Replies::default();
    assert_eq!(replies.line(b"+OK"), Some("+OK".to_string()));
    assert_eq!(replies.line(b"$5"), None);
    assert_eq!(replies.line(b"req-1"), Some("req-1".to_string()));
    assert_eq!(replies.line(b"$-1"), Some("$-1".to_string()));
    assert_eq!(replies.line(b":42"), Some(":42".to_string()));
}

#[test]
fn pipelined_commands_survive_a_redis_restart_every_reply_matched() {
    let mut server = match RedisServer::start() {
        Ok(server) => server,
        Err(message) => {
            eprintln!("skipped: {message}");
            return;
        }
    };
    let requests = 300;
    let tally: Tally = async_io::block_on(example::scenario(&mut server, requests)).unwrap();
    println!("{tally:?}");
    assert_eq!(
        tally.unmatched, 0,
        "every reply answers one request, in order"
    );
    assert_eq!(tally.sent, 3 * requests);
    // Before the restart and after the reconnect, every request is answered; only those
    // written while the server was dying may be lost, and each at most once.
    assert!(tally.answered >= 2 * requests, "{tally:?}");
    assert_eq!(tally.answered + tally.lost, tally.sent);
    assert!(tally.lost <= requests, "{tally:?}");
    assert_eq!(
        tally.connections, 2,
        "the Peer reconnected to the new server once"
    );
}
