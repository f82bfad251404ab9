//! The resilient [`Peer`](crate::peer): a connection to one address that queues and reconnects.
