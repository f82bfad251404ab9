//! [`TlsStream`]: a provider's stream with rustls in between.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use futures_rustls::FallibleAccept;
use rustls::pki_types::CertificateDer;

use super::seeded::Seeded;
use super::TlsError;
use crate::provider::Stream;
use crate::NetworkProvider;

/// A TLS connection over a provider's stream: what a
/// [`TlsProvider`](super::TlsProvider) connects and accepts.
///
/// A connected (client) stream has finished its handshake. An accepted (server) stream
/// finishes it on its first read, write or [`handshake`](TlsStream::handshake), so a slow
/// client never holds up `accept`; a handshake that fails there returns its [`TlsError`]
/// (inside the `io::Error`, see [`TlsError::from_io`]) and every later call fails with
/// `NotConnected`.
///
/// [`close`](futures::io::AsyncWriteExt::close) sends TLS's `close_notify`, then closes the
/// write side; the other side reads end-of-file. A connection that ends without
/// `close_notify` reads as `UnexpectedEof` (a truncation an attacker could have caused).
pub struct TlsStream<P: NetworkProvider> {
    state: State<P::Stream>,
    /// Simulated providers: this connection's seeded randomness and virtual clock.
    seeded: Option<Seeded<P::Clock>>,
    /// The addresses, kept for the time the handshake holds the stream.
    local_addr: Option<String>,
    peer_addr: Option<String>,
}

enum State<S> {
    /// A server connection in its handshake.
    Accepting(Box<FallibleAccept<S>>),
    /// Handshake done: application data.
    Open(Box<futures_rustls::TlsStream<S>>),
    /// The handshake failed; the stream is kept for its addresses and `abort`.
    Failed(S),
}

impl<P: NetworkProvider> TlsStream<P> {
    pub(crate) fn connected(
        tls: futures_rustls::client::TlsStream<P::Stream>,
        seeded: Option<Seeded<P::Clock>>,
    ) -> Self {
        let (io, _) = tls.get_ref();
        Self {
            local_addr: io.local_addr().ok(),
            peer_addr: io.peer_addr().ok(),
            state: State::Open(Box::new(tls.into())),
            seeded,
        }
    }

    pub(crate) fn accepting(
        (local_addr, peer_addr): (Option<String>, Option<String>),
        accept: FallibleAccept<P::Stream>,
        seeded: Option<Seeded<P::Clock>>,
    ) -> Self {
        Self {
            local_addr,
            peer_addr,
            state: State::Accepting(Box::new(accept)),
            seeded,
        }
    }

    /// Finishes the handshake if it is still running (an accepted stream before its first
    /// read or write); returns at once otherwise.
    ///
    /// # Errors
    /// The handshake's [`TlsError`] inside an `io::Error` (see [`TlsError::from_io`]), or
    /// `NotConnected` if it had already failed.
    pub async fn handshake(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.drive(cx, |_, _| Poll::Ready(Ok(())))).await
    }

    /// The other side's certificate chain (end-entity first), once the handshake is done;
    /// `None` before, or if it presented none (a client, without mutual TLS).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match &self.state {
            State::Open(tls) => tls.get_ref().1.peer_certificates(),
            _ => None,
        }
    }

    /// The SHA-256 of the other side's end-entity certificate (DER), once the handshake is
    /// done: a stable name for a client under mutual TLS, to bind its sessions to.
    pub fn peer_certificate_sha256(&self) -> Option<[u8; 32]> {
        let cert = self.peer_certificates()?.first()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        digest.as_ref().try_into().ok()
    }

    /// Drives the handshake to its end, then runs `op` on the open stream, with this
    /// connection's seeded crypto installed (simulated providers).
    fn drive<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(
            Pin<&mut futures_rustls::TlsStream<P::Stream>>,
            &mut Context<'_>,
        ) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let state = &mut self.state;
        let run = move || {
            if let State::Accepting(accept) = state {
                match Pin::new(&mut **accept).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(tls)) => *state = State::Open(Box::new(tls.into())),
                    Poll::Ready(Err((err, io))) => {
                        *state = State::Failed(io);
                        let err = TlsError::from_handshake(err);
                        tracing::debug!(error = %err, "tls handshake failed");
                        return Poll::Ready(Err(err.into()));
                    }
                }
            }
            match state {
                State::Open(tls) => op(Pin::new(&mut **tls), cx).map_err(TlsError::typed),
                _ => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the tls handshake of this connection failed",
                ))),
            }
        };
        match &mut self.seeded {
            Some(seeded) => seeded.enter(run),
            None => run(),
        }
    }

    fn io(&self) -> Option<&P::Stream> {
        match &self.state {
            State::Open(tls) => Some(tls.get_ref().0),
            State::Failed(io) => Some(io),
            State::Accepting(_) => None,
        }
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "address not known")
}

impl<P: NetworkProvider> Stream for TlsStream<P> {
    fn local_addr(&self) -> io::Result<String> {
        match self.io() {
            Some(io) => io.local_addr(),
            None => self.local_addr.clone().ok_or_else(not_connected),
        }
    }

    fn peer_addr(&self) -> io::Result<String> {
        match self.io() {
            Some(io) => io.peer_addr(),
            None => self.peer_addr.clone().ok_or_else(not_connected),
        }
    }

    /// An RST at once. During a server's handshake the stream is inside rustls' handshake
    /// future, which cannot hand it back: it is dropped (an RST if it held unread bytes,
    /// else a FIN).
    fn abort(self) {
        match self.state {
            State::Open(tls) => match *tls {
                futures_rustls::TlsStream::Client(tls) => tls.into_inner().0.abort(),
                futures_rustls::TlsStream::Server(tls) => tls.into_inner().0.abort(),
            },
            State::Failed(io) => io.abort(),
            State::Accepting(accept) => drop(accept),
        }
    }
}

impl<P: NetworkProvider> AsyncRead for TlsStream<P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().drive(cx, |tls, cx| tls.poll_read(cx, buf))
    }
}

impl<P: NetworkProvider> AsyncWrite for TlsStream<P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().drive(cx, |tls, cx| tls.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .drive(cx, |tls, cx| tls.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().drive(cx, |tls, cx| tls.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().drive(cx, |tls, cx| tls.poll_close(cx))
    }
}

impl<P: NetworkProvider> fmt::Debug for TlsStream<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Accepting(_) => "handshaking",
            State::Open(_) => "open",
            State::Failed(_) => "failed",
        };
        f.debug_struct("TlsStream")
            .field("state", &state)
            .field("local_addr", &self.local_addr)
            .field("peer_addr", &self.peer_addr)
            .field("simulated", &self.seeded.is_some())
            .finish()
    }
}
