//! A TCP stream for ONC RPC whose replies are bounded: the record-marking header of every reply
//! is checked before the RPC client sees it, so a server (or anything posing as one) cannot make
//! corral allocate more than [`MAX_RECORD`] bytes for one reply. `nfs3_client` would otherwise
//! allocate whatever length the header claims (up to 2 GiB).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nfs3_client::io::{AsyncRead, AsyncWrite};
use nfs3_client::net::Connector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Largest reply corral accepts: a 1 MiB READ plus headers, with room to spare.
pub const MAX_RECORD: u32 = 2 * 1024 * 1024;

enum Phase {
    /// Reading the 4-byte record mark: `have` bytes read from the socket, `given` handed on.
    Header { mark: [u8; 4], have: usize, given: usize },
    Body { remaining: u32 },
}

pub struct RpcStream {
    tcp: TcpStream,
    phase: Phase,
}

impl RpcStream {
    fn new(tcp: TcpStream) -> Self {
        let _ = tcp.set_nodelay(true);
        Self { tcp, phase: Phase::Header { mark: [0; 4], have: 0, given: 0 } }
    }
}

impl AsyncRead for RpcStream {
    async fn async_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.phase {
                Phase::Header { mark, have, given } => {
                    while *have < 4 {
                        let n = self.tcp.read(&mut mark[*have..]).await?;
                        if n == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        *have += n;
                    }
                    let length = u32::from_be_bytes(*mark) & 0x7fff_ffff;
                    if length > MAX_RECORD {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("RPC reply of {length} bytes refused (limit {MAX_RECORD})"),
                        ));
                    }
                    let n = buf.len().min(4 - *given);
                    buf[..n].copy_from_slice(&mark[*given..*given + n]);
                    *given += n;
                    if *given == 4 {
                        self.phase = Phase::Body { remaining: length };
                    }
                    return Ok(n);
                }
                Phase::Body { remaining: 0 } => {
                    self.phase = Phase::Header { mark: [0; 4], have: 0, given: 0 };
                }
                Phase::Body { remaining } => {
                    let want = buf.len().min(*remaining as usize);
                    let n = self.tcp.read(&mut buf[..want]).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    *remaining -= n as u32;
                    return Ok(n);
                }
            }
        }
    }
}

impl AsyncWrite for RpcStream {
    async fn async_write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf).await
    }
}

/// Connects [`RpcStream`]s; from a privileged source port when the server asks for one
/// (Linux's knfsd does by default), which needs root.
pub struct BoundedConnector;

impl Connector for BoundedConnector {
    type Connection = RpcStream;

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<RpcStream> {
        Ok(RpcStream::new(TcpStream::connect(addr).await?))
    }

    async fn connect_with_port(&self, addr: SocketAddr, local_port: u16) -> std::io::Result<RpcStream> {
        let (socket, any) = match addr.ip() {
            IpAddr::V4(_) => (TcpSocket::new_v4()?, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            IpAddr::V6(_) => (TcpSocket::new_v6()?, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        };
        socket.bind(SocketAddr::new(any, local_port))?;
        Ok(RpcStream::new(socket.connect(addr).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(reply: Vec<u8>) -> RpcStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(&reply).await.unwrap();
            let mut sink = [0u8; 16];
            let _ = s.read(&mut sink).await;
        });
        BoundedConnector.connect(addr).await.unwrap()
    }

    #[tokio::test]
    async fn records_within_the_limit_pass_through() {
        let mut reply = (0x8000_0000u32 | 5).to_be_bytes().to_vec();
        reply.extend_from_slice(b"hello");
        reply.extend_from_slice(&(0x8000_0000u32 | 2).to_be_bytes());
        reply.extend_from_slice(b"ok");
        let mut s = pair(reply).await;
        let mut mark = [0u8; 4];
        s.async_read_exact(&mut mark).await.unwrap();
        let mut body = [0u8; 5];
        s.async_read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b"hello");
        s.async_read_exact(&mut mark).await.unwrap();
        assert_eq!(u32::from_be_bytes(mark) & 0x7fff_ffff, 2);
        let mut body = [0u8; 2];
        s.async_read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b"ok");
    }

    #[tokio::test]
    async fn an_oversized_record_is_refused_before_allocation() {
        let reply = (0x8000_0000u32 | (MAX_RECORD + 1)).to_be_bytes().to_vec();
        let mut s = pair(reply).await;
        let mut mark = [0u8; 4];
        let err = s.async_read_exact(&mut mark).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
}
