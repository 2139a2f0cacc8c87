//! # driver-tokio: ZeroMQ sockets over tokio
//!
//! Real sockets for all eleven standard ZeroMQ types over `tcp://` and `ipc://`, driven by the
//! sans-IO machines of [`zmtp_proto`] through the shared async layer [`zmtp_async`]. This crate
//! is the tokio edge: [`Tokio`] (spawn, timers, binding) and the socket's I/O (readiness-based
//! reads straight into the machine's arena, vectored writes of what it hands out). Each socket
//! has one driver task; the socket handle shares the machine with it under an uncontended
//! mutex. There are no channels and no task per connection: `send` encodes into the machine
//! and returns, `recv` takes a decoded message out of it. A [`Socket`] is `Send + Sync`.
//!
//! Messages sent in a burst are written together (one syscall for many messages) without any
//! flush call; a lone message on an idle socket goes out at once.
//!
//! ```
//! use driver_tokio::{Socket, SocketType};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let rep = Socket::new(SocketType::Rep);
//! let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
//! let req = Socket::new(SocketType::Req);
//! req.connect(&endpoint).await?;
//! req.send("hello").await?;
//! let request = rep.recv().await?;
//! rep.send(request).await?;
//! assert_eq!(&req.recv().await?[0][..], b"hello");
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```
//!
//! # Cancel safety
//!
//! `send` and `recv` futures hold no I/O: dropping a `send` future before it completes means
//! the message was not queued; dropping a `recv` future takes nothing out of the socket.

mod io;
mod transport;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use zmtp_async::{DriverTask, Signal};
use zmtp_proto::Endpoint;

pub use crate::io::TokioIo;
pub use crate::transport::Listener;
pub use zmtp_async::prelude::*;

/// A ZeroMQ socket on the tokio runtime (see [`zmtp_async::Socket`] for its methods).
///
/// Create it inside a tokio runtime (current-thread or multi-thread): it spawns its driver
/// task at once.
pub type Socket = zmtp_async::Socket<Tokio>;

/// A stream of [`MonitorEvent`]s from [`Socket::monitor`](zmtp_async::Socket::monitor).
pub type Monitor = zmtp_async::Monitor<Tokio>;

/// The tokio runtime, as the sockets use it. Sockets work on a multi-thread runtime too, and
/// move between tasks:
///
/// ```
/// use std::sync::Arc;
/// use driver_tokio::{Socket, SocketType};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// rt.block_on(async {
///     let pull = Arc::new(Socket::new(SocketType::Pull));
///     let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
///     let receiver = tokio::spawn({
///         let pull = pull.clone();
///         async move { pull.recv().await.unwrap() }
///     });
///     let push = Socket::new(SocketType::Push);
///     push.connect(&ep).await.unwrap();
///     push.send("across tasks").await.unwrap();
///     assert_eq!(&receiver.await.unwrap()[0][..], b"across tasks");
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

impl Runtime for Tokio {
    type Io = TokioIo;
    type Shared = Arc<Mutex<zmtp_async::Shared<TokioIo>>>;
    type Sleep = std::pin::Pin<Box<tokio::time::Sleep>>;

    const NAME: &'static str = "tokio";
    // A write from the sender is a plain `writev` (measured against yielding:
    // docs/benchmarks.md, "The shared async layer").
    const WRITE_FULL_BATCH_INLINE: bool = true;

    fn new_io(signal: &Arc<Signal>) -> TokioIo {
        TokioIo::new(signal)
    }

    fn spawn(task: DriverTask<Self>) {
        tokio::spawn(task);
    }

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
            deadline,
        )))
    }

    fn bind(
        endpoint: &Endpoint,
        tcp: &zmtp_async::net::TcpSettings,
    ) -> impl Future<Output = std::io::Result<(Listener, String)>> {
        transport::bind(endpoint, tcp)
    }

    fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(future))
    }
}
