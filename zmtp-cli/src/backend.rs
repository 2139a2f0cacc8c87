//! The drivers behind one small interface, so that every subcommand is written once.
//!
//! A [`Backend`] is a runtime plus its socket type. Everything the CLI does runs inside one
//! [`Backend::block_on`] call on one thread, without spawning tasks of its own, so the same code
//! works for drivers whose sockets are `Send` (tokio) and for thread-per-core drivers whose
//! sockets are not (compio).

use std::future::Future;
use std::io;
use std::time::Duration;

use zmtp_proto::socket::SocketOptions;
use zmtp_proto::{Msg, SocketType};

/// Monitor events: both drivers report the same type, from zmtp-proto.
pub(crate) use zmtp_proto::handle::MonitorEvent as Event;

/// A runtime and its sockets.
pub(crate) trait Backend {
    /// The name given to `--driver`.
    const NAME: &'static str;
    /// The driver's socket.
    type Socket: Sock;

    /// Runs `fut` to completion on a fresh single-threaded runtime of this driver.
    fn block_on<F: Future>(fut: F) -> io::Result<F::Output>;

    /// A socket of the given type (call inside [`Backend::block_on`]).
    fn socket(socket_type: SocketType, options: SocketOptions) -> Self::Socket;

    /// A timer future (call inside [`Backend::block_on`]).
    fn sleep(duration: Duration) -> impl Future<Output = ()>;
}

/// The socket operations the CLI uses; each maps to the driver method of the same name.
pub(crate) trait Sock {
    /// The driver's monitor stream.
    type Monitor: Monitor;

    /// Binds and returns the endpoint actually bound.
    async fn bind(&self, endpoint: &str) -> io::Result<String>;
    /// Connects (in the background, like libzmq).
    async fn connect(&self, endpoint: &str) -> io::Result<()>;
    /// Sends a message (cancel safe).
    async fn send(&self, msg: Msg) -> io::Result<()>;
    /// Receives a message (cancel safe).
    async fn recv(&self) -> io::Result<Msg>;
    /// SUB/XSUB: subscribes to a prefix.
    async fn subscribe(&self, topic: &[u8]) -> io::Result<()>;
    /// Starts recording monitor events.
    fn monitor(&self) -> Self::Monitor;
    /// Closes the socket, flushing for up to its linger.
    async fn close(self);
}

/// A stream of monitor events.
pub(crate) trait Monitor {
    /// The next event; `None` once the socket is closed (cancel safe).
    async fn next(&mut self) -> Option<Event>;
}

/// Implements [`Sock`] and [`Monitor`] for a driver crate's socket and monitor (both drivers
/// have the same API).
macro_rules! impl_sock {
    ($driver:ident) => {
        impl Sock for $driver::Socket {
            type Monitor = $driver::Monitor;

            async fn bind(&self, endpoint: &str) -> io::Result<String> {
                Self::bind(self, endpoint).await
            }

            async fn connect(&self, endpoint: &str) -> io::Result<()> {
                Self::connect(self, endpoint).await
            }

            async fn send(&self, msg: Msg) -> io::Result<()> {
                Self::send(self, msg).await
            }

            async fn recv(&self) -> io::Result<Msg> {
                Self::recv(self).await
            }

            async fn subscribe(&self, topic: &[u8]) -> io::Result<()> {
                Self::subscribe(self, topic).await
            }

            fn monitor(&self) -> Self::Monitor {
                Self::monitor(self)
            }

            async fn close(self) {
                Self::close(self).await;
            }
        }

        impl Monitor for $driver::Monitor {
            async fn next(&mut self) -> Option<Event> {
                Self::next(self).await
            }
        }
    };
}

/// The tokio driver (`driver-tokio`).
pub(crate) struct Tokio;

impl Backend for Tokio {
    const NAME: &'static str = "tokio";
    type Socket = driver_tokio::Socket;

    fn block_on<F: Future>(fut: F) -> io::Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(fut))
    }

    fn socket(socket_type: SocketType, options: SocketOptions) -> Self::Socket {
        driver_tokio::Socket::with_options(socket_type, options)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}

impl_sock!(driver_tokio);

/// The compio driver (`driver-compio`): io_uring, or compio's epoll backend where io_uring is
/// unavailable.
pub(crate) struct Compio;

impl Compio {
    /// True if compio's runtime gets io_uring on this machine (it falls back to epoll
    /// otherwise).
    pub(crate) fn has_io_uring() -> bool {
        static PROBE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *PROBE.get_or_init(|| {
            compio::runtime::Runtime::new().is_ok_and(|rt| rt.driver_type().is_iouring())
        })
    }
}

impl Backend for Compio {
    const NAME: &'static str = "compio";
    type Socket = driver_compio::Socket;

    fn block_on<F: Future>(fut: F) -> io::Result<F::Output> {
        Ok(compio::runtime::Runtime::new()?.block_on(fut))
    }

    fn socket(socket_type: SocketType, options: SocketOptions) -> Self::Socket {
        driver_compio::Socket::with_options(socket_type, options)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        compio::time::sleep(duration)
    }
}

impl_sock!(driver_compio);

/// The zmtp-proto error inside an I/O error from a driver, if there is one.
pub(crate) fn proto_error(e: &io::Error) -> Option<&zmtp_proto::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<zmtp_proto::Error>())
}
