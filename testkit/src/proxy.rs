//! A TCP forwarder a test puts between a box and its broker, to cut the box's uplink and
//! restore it while the broker and the relay stay up: a site whose link drops.
//!
//! [`LinkProxy::cut`] closes the listening socket and every connection through it (the box
//! sees its connection reset, then refused); [`LinkProxy::restore`] listens again on the
//! same port.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards `127.0.0.1:port` to a target address until cut.
#[derive(Debug)]
pub struct LinkProxy {
    port: u16,
    target: SocketAddr,
    serving: Option<JoinHandle<()>>,
}

impl LinkProxy {
    /// Listens on a free loopback port and forwards every connection to `target_port`.
    pub async fn start(target_port: u16) -> LinkProxy {
        let mut proxy = LinkProxy {
            port: crate::free_port(),
            target: SocketAddr::from((Ipv4Addr::LOCALHOST, target_port)),
            serving: None,
        };
        proxy.restore().await;
        proxy
    }

    /// The port boxes connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drops every connection through the proxy and stops listening.
    pub fn cut(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        assert!(self.serving.is_none(), "the link is up already");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))
            .await
            .expect("the proxy's port");
        let target = self.target;
        self.serving = Some(tokio::spawn(serve(listener, target)));
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Accepts connections and forwards each both ways; aborting this task drops the listener
/// and, through the `JoinSet`, every connection it forwards.
async fn serve(listener: TcpListener, target: SocketAddr) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        connections.spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
        // Reap finished connections so the set does not grow with a reconnecting client.
        while connections.try_join_next().is_some() {}
    }
}
