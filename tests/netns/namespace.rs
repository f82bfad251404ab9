//! Two network namespaces joined by a veth pair, made with iproute2 and always torn down.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// The client's address on the veth pair.
pub const CLIENT_IP: &str = "10.201.0.1";
/// The server's address on the veth pair.
pub const SERVER_IP: &str = "10.201.0.2";

/// Runs `ip args..`, failing with its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A client and a server namespace (`mp-<pid>-<n>-c` and `-s`), joined by a veth pair
/// (`CLIENT_IP`/30 on [`client_link`](Self::client_link), `SERVER_IP`/30 on
/// [`server_link`](Self::server_link)), every link up. Dropping it deletes both namespaces
/// (and with them the pair), on a panic too.
#[derive(Debug)]
pub struct NamespacePair {
    pub client: String,
    pub server: String,
    pub client_link: String,
    pub server_link: String,
}

impl NamespacePair {
    /// Makes the pair; an error (not root, no `ip`, no namespace support) means "skip".
    pub fn new() -> io::Result<Self> {
        static CLEANED: Once = Once::new();
        CLEANED.call_once(delete_abandoned);
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let pair = NamespacePair {
            client: format!("mp-{pid}-{n}-c"),
            server: format!("mp-{pid}-{n}-s"),
            // Interface names have at most 15 bytes, and live inside their namespace.
            client_link: format!("mpc{}", n % 1000),
            server_link: format!("mps{}", n % 1000),
        };
        ip(&["netns", "add", &pair.client])?;
        // From here on, `pair`'s drop deletes what exists.
        ip(&["netns", "add", &pair.server])?;
        let (c, s) = (&pair.client, &pair.server);
        let (cl, sl) = (&pair.client_link, &pair.server_link);
        ip(&[
            "link", "add", cl, "netns", c, "type", "veth", "peer", "name", sl, "netns", s,
        ])?;
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            &format!("{CLIENT_IP}/30"),
            "dev",
            cl,
        ])?;
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_IP}/30"),
            "dev",
            sl,
        ])?;
        for (ns, link) in [(c, cl), (s, sl)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", link, "up"])?;
        }
        // The server runs through `ip netns exec`, which some containers do not allow.
        ip(&["netns", "exec", s, "true"])?;
        Ok(pair)
    }

    /// Each namespace with its end of the veth pair.
    pub fn links(&self) -> [(&str, &str); 2] {
        [
            (&self.client, &self.client_link),
            (&self.server, &self.server_link),
        ]
    }

    /// Moves the calling thread into namespace `name`: the sockets it makes from now on
    /// live there (other threads are unaffected).
    pub fn enter(name: &str) -> io::Result<()> {
        let file = File::open(format!("/var/run/netns/{name}"))?;
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
        Ok(())
    }
}

/// Deletes the namespaces of earlier runs whose process is gone (killed before its guards
/// ran), so they do not pile up.
fn delete_abandoned() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix("mp-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        let ours = name.ends_with("-c") || name.ends_with("-s");
        if ours && pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Drop for NamespacePair {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            if let Err(error) = ip(&["netns", "del", ns]) {
                eprintln!("netns: could not delete namespace {ns}: {error}");
            }
        }
    }
}
