//! TCP and IPC streams and listeners behind one type each.

use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};
use zmtp_async::net::{dial_each, with_connect_timeout, TcpSettings};
use zmtp_proto::{Endpoint, Host};

/// A connected byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(s) => s.poll_read_ready(cx),
            Self::Unix(s) => s.poll_read_ready(cx),
        }
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(s) => s.poll_write_ready(cx),
            Self::Unix(s) => s.poll_write_ready(cx),
        }
    }

    /// Reads into the spare capacity of `buf`. A short read means the socket is drained: the
    /// readiness is cleared at once (tokio only clears it if no new event arrived meanwhile),
    /// which saves the extra `recv` that would otherwise only return `EAGAIN`.
    pub(crate) fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let spare = buf.capacity() - buf.len();
        let mut got = None;
        let mut read = |r: io::Result<usize>| {
            let n = r?;
            got = Some(n);
            if n > 0 && n < spare {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        };
        let result = match self {
            Self::Tcp(s) => s.try_io(Interest::READABLE, || read(s.try_read_buf(buf))),
            Self::Unix(s) => s.try_io(Interest::READABLE, || read(s.try_read_buf(buf))),
        };
        match got {
            Some(n) => Ok(n),
            None => result,
        }
    }

    /// Writes `bufs` in one syscall: `send` for a single slice (cheaper in the kernel than
    /// `writev`), `writev` otherwise.
    pub(crate) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if let [one] = bufs {
            return match self {
                Self::Tcp(s) => s.try_write(one),
                Self::Unix(s) => s.try_write(one),
            };
        }
        match self {
            Self::Tcp(s) => s.try_write_vectored(bufs),
            Self::Unix(s) => s.try_write_vectored(bufs),
        }
    }
}

/// A listening socket (TCP or Unix), as [`Tokio::bind`](zmtp_async::Runtime::bind) returns it.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener, with the settings for the streams it accepts.
    Tcp(TcpListener, TcpSettings),
    /// A Unix listener, with the socket file to remove when it goes away.
    Unix(UnixListener, Option<PathBuf>),
}

impl Listener {
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Stream>> {
        match self {
            Self::Tcp(l, tcp) => l.poll_accept(cx).map_ok(|(s, _)| {
                if let Err(error) = tcp.configure_stream(socket2::SockRef::from(&s)) {
                    tracing::warn!(%error, "cannot set the options of an accepted connection");
                }
                Stream::Tcp(s)
            }),
            Self::Unix(l, _) => l.poll_accept(cx).map_ok(|(s, _)| Stream::Unix(s)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Binds `endpoint`; returns the listener and the endpoint actually bound (ephemeral port and
/// wildcard address resolved, as libzmq's `ZMQ_LAST_ENDPOINT` reports it).
pub(crate) async fn bind(endpoint: &Endpoint, tcp: &TcpSettings) -> io::Result<(Listener, String)> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let l = tcp.bind(host, port.unwrap_or(0))?;
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            let local = l.local_addr()?;
            Ok((Listener::Tcp(l, tcp.clone()), format!("tcp://{local}")))
        }
        Endpoint::Ipc(path) => {
            remove_stale_ipc(path).await;
            let l = UnixListener::bind(path)?;
            Ok((Listener::Unix(l, Some(path.clone())), endpoint.to_string()))
        }
        Endpoint::IpcAbstract(name) => {
            let l = bind_abstract(name)?;
            Ok((Listener::Unix(l, None), endpoint.to_string()))
        }
    }
}

/// libzmq replaces an ipc socket file nobody listens on any more.
async fn remove_stale_ipc(path: &std::path::Path) {
    if path.exists() && UnixStream::connect(path).await.is_err() {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(target_os = "linux")]
fn bind_abstract(name: &str) -> io::Result<UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let l = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    l.set_nonblocking(true)?;
    UnixListener::from_std(l)
}

#[cfg(not(target_os = "linux"))]
fn bind_abstract(_name: &str) -> io::Result<UnixListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract ipc names need Linux",
    ))
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    s.set_nonblocking(true)?;
    UnixStream::from_std(s)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> io::Result<UnixStream> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract ipc names need Linux",
    ))
}

/// Dials `endpoint`, within `tcp.connect_timeout`.
pub(crate) async fn connect(endpoint: Endpoint, tcp: TcpSettings) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let Host::Name(host) = host else {
                return Err(invalid("cannot connect to '*'".into()));
            };
            let Some(port) = port else {
                return Err(invalid("cannot connect to port '*'".into()));
            };
            let timeout = tcp.connect_timeout;
            let s =
                with_connect_timeout::<crate::Tokio, _>(dial_tcp(host, port, tcp), timeout).await?;
            Ok(Stream::Tcp(s))
        }
        Endpoint::Ipc(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        Endpoint::IpcAbstract(name) => Ok(Stream::Unix(connect_abstract(&name)?)),
    }
}

/// Resolves `host` and dials its addresses in turn, each through a socket set up by `tcp`.
async fn dial_tcp(host: String, port: u16, tcp: TcpSettings) -> io::Result<TcpStream> {
    let addrs = tcp.dial_addrs(&host, tokio::net::lookup_host((host.as_str(), port)).await?)?;
    let tcp = &tcp;
    dial_each(&host, addrs, |addr| async move {
        let sock = tcp.dial_socket(addr)?;
        sock.set_nonblocking(true)?;
        let s = TcpSocket::from_std_stream(sock.into())
            .connect(addr)
            .await?;
        tcp.configure_stream(socket2::SockRef::from(&s))?;
        Ok(s)
    })
    .await
}
