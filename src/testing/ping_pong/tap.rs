//! [`Tap`]: a provider that shows every byte its streams read to a [`ReplyLog`], one record
//! per connection: the reply side's ground truth of what reached a client's Peer.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::replies::ReplyLog;
use crate::provider::{Listener, NetworkProvider, Stream};

/// What the streams read, decoded per connection.
pub(super) type Reads = Rc<RefCell<ReplyLog>>;

/// `P`, with every byte read by its connected streams shown to its [`ReplyLog`].
#[derive(Clone)]
pub(super) struct Tap<P> {
    inner: P,
    reads: Reads,
}

impl<P> Tap<P> {
    pub(super) fn new(inner: P, log: ReplyLog) -> (Self, Reads) {
        let reads = Rc::new(RefCell::new(log));
        let tap = Self {
            inner,
            reads: Rc::clone(&reads),
        };
        (tap, reads)
    }
}

/// A stream whose reads go to its connection's record.
pub(super) struct Tapped<S> {
    inner: S,
    reads: Reads,
    index: usize,
}

impl<S: Stream> AsyncRead for Tapped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = read {
            this.reads.borrow_mut().read(this.index, &buf[..n]);
        }
        read
    }
}

impl<S: Stream> AsyncWrite for Tapped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<S: Stream> Stream for Tapped<S> {
    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }

    fn peer_addr(&self) -> io::Result<String> {
        self.inner.peer_addr()
    }

    fn abort(self) {
        self.inner.abort()
    }
}

fn tapped<S>(inner: S, reads: &Reads) -> Tapped<S> {
    let index = reads.borrow_mut().open();
    Tapped {
        inner,
        reads: Rc::clone(reads),
        index,
    }
}

/// A listener of the tapped provider (the clients never listen; here for the trait).
pub(super) struct TapListener<L> {
    inner: L,
    reads: Reads,
}

impl<L: Listener> Listener for TapListener<L> {
    type Stream = Tapped<L::Stream>;

    async fn accept(&self) -> io::Result<(Self::Stream, String)> {
        let (stream, remote) = self.inner.accept().await?;
        Ok((tapped(stream, &self.reads), remote))
    }

    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }
}

impl<P: NetworkProvider> NetworkProvider for Tap<P> {
    type Stream = Tapped<P::Stream>;
    type Listener = TapListener<P::Listener>;
    type Clock = P::Clock;

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> {
        let (inner, reads) = (self.inner.clone(), Rc::clone(&self.reads));
        let addr = addr.to_string();
        async move {
            let inner = inner.bind(&addr).await?;
            Ok(TapListener { inner, reads })
        }
    }

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> {
        let (inner, reads) = (self.inner.clone(), Rc::clone(&self.reads));
        let addr = addr.to_string();
        async move {
            let stream = inner.connect(&addr).await?;
            Ok(tapped(stream, &reads))
        }
    }

    fn clock(&self) -> Self::Clock {
        self.inner.clock()
    }

    fn random_seed(&self) -> u64 {
        self.inner.random_seed()
    }
}
