//! Free TCP ports on 127.0.0.1 for servers the harness starts as separate processes (the
//! origin binary, PgBouncer, HAProxy), which cannot be handed a bound socket.

use std::net::TcpListener;

/// A port nothing listens on right now (the OS picked it; it is released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// Waits until something accepts TCP connections on `port`, or panics after `within`.
pub async fn wait_until_listening(port: u16, within: std::time::Duration, what: &str) {
    crate::wait::until(within, what, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
}
