//! The real boxes' network to the broker: a TCP proxy on a free port of 127.0.0.1 that
//! forwards every connection to the broker's port, which the relay hands the boxes as the
//! broker's address at activation (the relay itself, and the simulated boxes, connect to the
//! broker directly). Cut ([`Proxy::cut`]), it drops every connection it forwards and closes
//! each new one at once, as a network that went away looks to the box; restored
//! ([`Proxy::restore`]), it forwards new connections again.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::BoxError;

/// What the proxy does with connections now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Forwarding,
    Cut,
    /// The proxy was dropped: everything ends.
    Closed,
}

/// A running proxy; it stops, and drops its connections, when dropped.
pub(super) struct Proxy {
    port: u16,
    state: watch::Sender<State>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` on 127.0.0.1.
    pub(super) async fn start(upstream: u16) -> Result<Proxy, BoxError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let (state, watching) = watch::channel(State::Forwarding);
        let accepting = tokio::spawn(accept(listener, upstream, watching));
        Ok(Proxy {
            port,
            state,
            accepting,
        })
    }

    /// `mqtt://127.0.0.1:PORT`, the broker's address through the proxy.
    pub(super) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and closes new ones at once, until [`Proxy::restore`].
    pub(super) fn cut(&self) {
        self.state.send_replace(State::Cut);
    }

    /// Forwards new connections again.
    pub(super) fn restore(&self) {
        self.state.send_replace(State::Forwarding);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.send_replace(State::Closed);
        self.accepting.abort();
    }
}

/// Accepts connections until the proxy is dropped: each forwarded while the proxy forwards,
/// closed at once while it is cut.
async fn accept(listener: TcpListener, upstream: u16, state: watch::Receiver<State>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of descriptors, for one: not at once again.
                tracing::warn!(%error, "fleet proxy: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if *state.borrow() != State::Forwarding {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, state.clone()));
    }
}

/// Forwards one connection both ways until either side closes it or the proxy stops
/// forwarding (then both are dropped).
async fn forward(mut client: TcpStream, upstream: u16, mut state: watch::Receiver<State>) {
    let mut server = match TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)).await {
        Ok(server) => server,
        Err(error) => {
            tracing::warn!(%error, "fleet proxy: cannot reach the broker");
            return;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = state.wait_for(|s| *s != State::Forwarding) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::Proxy;

    /// An upstream that echoes every connection's bytes.
    async fn echo() -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut reading, mut writing) = stream.split();
                    let _ = tokio::io::copy(&mut reading, &mut writing).await;
                });
            }
        });
        port
    }

    async fn connect(proxy: &Proxy) -> TcpStream {
        let port = proxy.url().rsplit(':').next().expect("port").to_owned();
        TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .expect("connect")
    }

    /// Sends `hello` and reads what comes back until 5 bytes or the end; what came back.
    async fn round_trip(stream: &mut TcpStream) -> Vec<u8> {
        let _ = stream.write_all(b"hello").await;
        let mut back = Vec::new();
        let mut buffer = [0u8; 5];
        while back.len() < 5 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => back.extend_from_slice(&buffer[..n]),
            }
        }
        back
    }

    #[tokio::test]
    async fn a_cut_drops_connections_and_refuses_new_ones_until_restored() {
        let proxy = Proxy::start(echo().await).await.expect("proxy");
        let mut before = connect(&proxy).await;
        assert_eq!(round_trip(&mut before).await, b"hello");

        proxy.cut();
        let mut buffer = [0u8; 5];
        assert!(
            matches!(before.read(&mut buffer).await, Ok(0) | Err(_)),
            "a connection outlived the cut"
        );
        let mut during = connect(&proxy).await;
        assert!(
            round_trip(&mut during).await.is_empty(),
            "a connection was forwarded while cut"
        );

        proxy.restore();
        let mut after = connect(&proxy).await;
        assert_eq!(round_trip(&mut after).await, b"hello");
    }
}
