//! TCP and IPC streams and listeners behind one type each, with owned-buffer operations.

use std::io::{self, IoSlice};
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncWrite};
use compio::net::{
    TcpListener, TcpSocket, TcpStream, ToSocketAddrsAsync, UnixListener, UnixStream,
};
use socket2::{SockAddr, SockRef};
use zmtp_async::net::{dial_each, with_connect_timeout, TcpSettings};
use zmtp_proto::Endpoint;

/// How often, and after how long, a TCP bind that finds its address in use tries again (see
/// [`bind`]): 50 ms in all.
const BIND_RETRIES: u32 = 50;
const BIND_RETRY: std::time::Duration = std::time::Duration::from_millis(1);

/// Most buffers one [`Stream::try_send`] hands to `sendmsg`.
pub(crate) const DIRECT_IOV: usize = 16;

/// A connected byte stream. Clones share the file descriptor (one for the read in flight, one
/// for the write in flight); it closes when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Reads into the spare capacity of `buf` (which must be empty: compio reads from the
    /// start of the buffer) and hands the buffer back with the count.
    pub(crate) async fn read(&self, buf: BytesMut) -> BufResult<usize, BytesMut> {
        debug_assert!(buf.is_empty());
        match self {
            Self::Tcp(s) => { s }.read(buf).await,
            Self::Unix(s) => { s }.read(buf).await,
        }
    }

    /// Writes what the socket takes right now of `bufs` (at most [`DIRECT_IOV`] of them)
    /// with one non-blocking `sendmsg`, outside io_uring: `WouldBlock` if it takes nothing.
    pub(crate) fn try_send(&self, bufs: &[Bytes]) -> io::Result<usize> {
        let mut iov = [IoSlice::new(&[]); DIRECT_IOV];
        let n = bufs.len().min(DIRECT_IOV);
        for (slot, b) in iov.iter_mut().zip(&bufs[..n]) {
            *slot = IoSlice::new(b);
        }
        let sock = match self {
            Self::Tcp(s) => SockRef::from(s),
            Self::Unix(s) => SockRef::from(s),
        };
        // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
        sock.send_vectored_with_flags(&iov[..n], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }

    /// One vectored write of `bufs`; hands them back with the count written.
    pub(crate) async fn write(&self, bufs: Vec<Bytes>) -> BufResult<usize, Vec<Bytes>> {
        match self {
            Self::Tcp(s) => { s }.write_vectored(bufs).await,
            Self::Unix(s) => { s }.write_vectored(bufs).await,
        }
    }
}

/// A listening socket (TCP or Unix), as [`Compio::bind`](zmtp_async::Runtime::bind) returns
/// it.
#[derive(Debug, Clone)]
pub enum Listener {
    /// A TCP listener, with the settings for the streams it accepts.
    Tcp(TcpListener, TcpSettings),
    /// A Unix listener.
    Unix(UnixListener),
}

impl Listener {
    pub(crate) async fn accept(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp(l, tcp) => {
                let (s, _) = l.accept().await?;
                if let Err(error) = tcp.configure_stream(SockRef::from(&s)) {
                    tracing::warn!(%error, "cannot set the options of an accepted connection");
                }
                Ok(Stream::Tcp(s))
            }
            Self::Unix(l) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The address of an abstract Unix socket name (Linux: a leading NUL byte).
fn abstract_addr(name: &str) -> io::Result<SockAddr> {
    if cfg!(target_os = "linux") {
        SockAddr::unix(format!("\0{name}"))
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "abstract ipc names need Linux",
        ))
    }
}

/// Binds `endpoint`; returns the listener, the endpoint actually bound (ephemeral port and
/// wildcard address resolved, as libzmq's `ZMQ_LAST_ENDPOINT` reports it) and, for `ipc://`
/// paths, the socket file to remove when the listener goes away.
pub(crate) async fn bind(
    endpoint: &Endpoint,
    tcp: &TcpSettings,
) -> io::Result<(Listener, String, Option<PathBuf>)> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let mut tries = 0;
            let l = loop {
                match tcp.bind(host, port.unwrap_or(0)) {
                    // A listener an `unbind` just stopped closes once the driver task has
                    // ended its accept (and io_uring its cancellation): give it that time.
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < BIND_RETRIES => {
                        tries += 1;
                        compio::time::sleep(BIND_RETRY).await;
                    }
                    other => break other?,
                }
            };
            let l = TcpListener::from_std(l)?;
            let local = l.local_addr()?;
            Ok((
                Listener::Tcp(l, tcp.clone()),
                format!("tcp://{local}"),
                None,
            ))
        }
        Endpoint::Ipc(path) => {
            remove_stale_ipc(path).await;
            let l = UnixListener::bind(path).await?;
            Ok((Listener::Unix(l), endpoint.to_string(), Some(path.clone())))
        }
        Endpoint::IpcAbstract(name) => {
            let l = UnixListener::bind_addr(&abstract_addr(name)?).await?;
            Ok((Listener::Unix(l), endpoint.to_string(), None))
        }
    }
}

/// libzmq replaces an ipc socket file nobody listens on any more.
async fn remove_stale_ipc(path: &std::path::Path) {
    if path.exists() && UnixStream::connect(path).await.is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// Dials `endpoint`, within `tcp.connect_timeout`.
pub(crate) async fn connect(endpoint: Endpoint, tcp: TcpSettings) -> io::Result<Stream> {
    match &endpoint {
        Endpoint::Tcp { .. } => {
            let (host, port) = endpoint
                .dial_target()
                .ok_or_else(|| invalid(format!("cannot dial the wildcard endpoint {endpoint}")))?;
            let timeout = tcp.connect_timeout;
            let s = with_connect_timeout::<crate::Compio, _>(dial_tcp(host, port, &tcp), timeout)
                .await?;
            Ok(Stream::Tcp(s))
        }
        Endpoint::Ipc(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        Endpoint::IpcAbstract(name) => Ok(Stream::Unix(
            UnixStream::connect_addr(&abstract_addr(name)?).await?,
        )),
    }
}

/// Resolves `host` and dials its addresses in turn, each through a socket set up by `tcp`.
async fn dial_tcp(host: &str, port: u16, tcp: &TcpSettings) -> io::Result<TcpStream> {
    let addrs = tcp.dial_addrs(host, (host, port).to_socket_addrs_async().await?)?;
    dial_each(host, addrs, |addr| async move {
        let sock = TcpSocket::from_std_stream(tcp.dial_socket(addr)?.into())?;
        let s = sock.connect(addr).await?;
        tcp.configure_stream(SockRef::from(&s))?;
        Ok(s)
    })
    .await
}
