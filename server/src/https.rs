//! The HTTPS listener's TLS: one port for browsers, API clients and other nodes. The TLS
//! configuration is chosen per connection from the client's hello: a node offering
//! [`NODE_ALPN`] gets mutual TLS under the cluster CA (and its requests carry a
//! [`NodePeer`] extension); everybody else gets the node's own certificate and no client
//! certificate request (so browsers never show a certificate picker).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;
use tower::Layer;

use crate::cluster::node_tls::{peer_of, NodePeer, NodeTls, NODE_ALPN};

/// A client that does not finish its handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Acceptor {
    public: Arc<rustls::ServerConfig>,
    node: Arc<NodeTls>,
}

impl Acceptor {
    pub fn new(public: Arc<rustls::ServerConfig>, node: Arc<NodeTls>) -> Self {
        Self { public, node }
    }

    async fn handshake<I>(self, stream: I) -> io::Result<(TlsStream<I>, Option<NodePeer>)>
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let wants_node = start.client_hello().alpn().is_some_and(|mut offered| offered.any(|p| p == NODE_ALPN));
        if !wants_node {
            return Ok((start.into_stream(self.public).await?, None));
        }
        let Some(config) = self.node.server_config() else {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "node-to-node connection to a node outside any cluster"));
        };
        let stream = start.into_stream(config).await?;
        let peer = peer_of(stream.get_ref().1);
        Ok((stream, peer))
    }
}

impl<I, S> Accept<I, S> for Acceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = axum::middleware::AddExtension<S, Option<NodePeer>>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let acceptor = self.clone();
        Box::pin(async move {
            let (stream, peer) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.handshake(stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
            Ok((stream, Extension(peer).layer(service)))
        })
    }
}
