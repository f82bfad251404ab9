//! The async-io provider: real TCP sockets and timers (the production default).
