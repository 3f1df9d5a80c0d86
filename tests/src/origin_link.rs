//! A TCP link between the Worker and the origin that a test can break the way networks and
//! servers break, to see what the edge does about it:
//!
//! - `freeze()`: new connections are accepted and held, and bytes on open ones stop moving
//!   both ways. It looks like a process stopped with SIGSTOP, a full accept queue or a network
//!   black hole: nothing is refused, nothing is answered. `thaw()` lets everything move again,
//!   held requests included, as a stopped server that resumes serves its queue.
//! - `kill()`: the listener closes (new connections are refused) and open connections are
//!   reset, as when the origin process dies. `revive()` listens on the same port again.
//!
//! A proxy rather than a real origin process to stop and kill: the harness serves the origin
//! in-process (so tests keep its log and its state), and the proxy gives the same four faults
//! without building and managing a separate binary, and without signals that would also stop
//! the test.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Frozen,
    Killed,
}

/// A running link; dropping it stops listening.
#[derive(Debug)]
pub struct OriginLink {
    /// Where the Worker should send origin requests.
    pub url: String,
    address: SocketAddr,
    origin: SocketAddr,
    fault: watch::Sender<Fault>,
    accepted: Arc<AtomicUsize>,
    listening: Mutex<Option<JoinHandle<()>>>,
}

impl OriginLink {
    /// A link on a free port of 127.0.0.1 to the origin at `origin_url` (`http://host:port`).
    pub async fn start(origin_url: &str) -> Self {
        let origin: SocketAddr = origin_url
            .trim_start_matches("http://")
            .parse()
            .expect("the origin URL is http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let address = listener.local_addr().expect("local addr");
        let (fault, _) = watch::channel(Fault::None);
        let link = Self {
            url: format!("http://{address}"),
            address,
            origin,
            fault,
            accepted: Arc::default(),
            listening: Mutex::new(None),
        };
        link.listen(listener);
        link
    }

    /// Connections accepted so far (each one an attempt of the Worker to reach the origin).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn freeze(&self) {
        self.fault.send_replace(Fault::Frozen);
    }

    pub fn thaw(&self) {
        self.fault.send_replace(Fault::None);
    }

    /// Resets every connection and stops listening; returns once the port is closed.
    pub async fn kill(&self) {
        self.fault.send_replace(Fault::Killed);
        let listening = self.listening.lock().expect("link lock").take();
        if let Some(listening) = listening {
            let _ = listening.await;
        }
    }

    /// Listens again on the same port.
    pub async fn revive(&self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("listen on the link's port again");
        self.fault.send_replace(Fault::None);
        self.listen(listener);
    }

    fn listen(&self, listener: TcpListener) {
        let (origin, faults, accepted) =
            (self.origin, self.fault.subscribe(), self.accepted.clone());
        let task = tokio::spawn(async move {
            let mut killed = faults.clone();
            loop {
                tokio::select! {
                    connection = listener.accept() => {
                        let Ok((client, _)) = connection else { continue };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(relay(client, origin, faults.clone()));
                    }
                    _ = killed.wait_for(|fault| *fault == Fault::Killed) => return,
                }
            }
        });
        *self.listening.lock().expect("link lock") = Some(task);
    }
}

impl Drop for OriginLink {
    fn drop(&mut self) {
        self.fault.send_replace(Fault::Killed);
    }
}

/// Carries one connection to the origin and back, obeying the faults as they come.
async fn relay(mut client: TcpStream, origin: SocketAddr, faults: watch::Receiver<Fault>) {
    let mut killed = faults.clone();
    let carried = async {
        // A frozen link holds a new connection before it reaches the origin.
        let mut waiting = faults.clone();
        if waiting
            .wait_for(|fault| *fault == Fault::None)
            .await
            .is_err()
        {
            return;
        }
        let Ok(mut server) = TcpStream::connect(origin).await else {
            return;
        };
        let (from_client, to_client) = client.split();
        let (from_server, to_server) = server.split();
        futures::future::join(
            pump(from_client, to_server, faults.clone()),
            pump(from_server, to_client, faults.clone()),
        )
        .await;
    };
    let was_killed = tokio::select! {
        () = carried => false,
        _ = killed.wait_for(|fault| *fault == Fault::Killed) => true,
    };
    if was_killed {
        // Closing with a zero linger sends RST: the peer sees a reset, as when a process dies.
        let _ = client.set_zero_linger();
    }
}

/// Copies bytes one way; bytes read while the link is frozen are held until it thaws.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut faults: watch::Receiver<Fault>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(read) => read,
        };
        if faults
            .wait_for(|fault| *fault == Fault::None)
            .await
            .is_err()
        {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
