//! # driver-compio: ZeroMQ sockets over compio (io_uring)
//!
//! Real sockets for all eleven standard ZeroMQ types over `tcp://` and `ipc://` (abstract
//! `ipc://@name` too), driven by the sans-IO machines of [`zmtp_proto`] through the shared
//! async layer [`zmtp_async`], on compio's thread-per-core runtime: io_uring where the kernel
//! offers it, epoll otherwise. The API is the tokio driver's ([`zmtp_async::Socket`] for
//! both); switching is a matter of changing the dependency and the runtime.
//!
//! This crate is the compio edge: [`Compio`] (spawn, timers, binding) and the socket's I/O.
//! Each socket has one driver task on the thread that created it. The task owns every I/O
//! operation (accepts, dials, one read and at most one write per peer) and shares the machine
//! with the socket handle through an `Rc<RefCell<_>>`: no lock, no channel, no task per
//! connection. Reads land straight in the machine's buffer and small messages are handed out
//! as slices of it; messages sent in a burst leave in one vectored write, with no flush call,
//! while a lone message on an idle socket leaves at once.
//!
//! ```
//! use driver_compio::{Socket, SocketType};
//!
//! compio::runtime::Runtime::new().unwrap().block_on(async {
//!     let rep = Socket::new(SocketType::Rep);
//!     let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
//!     let req = Socket::new(SocketType::Req);
//!     req.connect(&endpoint).await?;
//!     req.send("hello").await?;
//!     let request = rep.recv().await?;
//!     rep.send(request).await?;
//!     assert_eq!(&req.recv().await?[0][..], b"hello");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! # Cancel safety
//!
//! `send` and `recv` futures own no I/O operation (those live in the driver task), so dropping
//! them loses nothing: a dropped `send` did not queue its message, a dropped `recv` took
//! nothing out of the socket. This matters on io_uring, where dropping an operation in flight
//! cancels it and loses the bytes the kernel already delivered.
//!
//! # Threads
//!
//! A [`Socket`] is neither `Send` nor `Sync`: it lives on the runtime thread that created it,
//! like everything else on compio. Run one runtime per core and give each its own sockets.

mod io;
mod ops;
mod transport;

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use zmtp_async::{DriverTask, Signal};
use zmtp_proto::Endpoint;

pub use crate::io::CompioIo;
pub use crate::transport::Listener;
pub use zmtp_async::prelude::*;

/// A ZeroMQ socket on the compio runtime (see [`zmtp_async::Socket`] for its methods).
///
/// Create it inside a compio runtime: it spawns its driver task at once, on the current
/// thread.
pub type Socket = zmtp_async::Socket<Compio>;

/// A stream of [`MonitorEvent`]s from [`Socket::monitor`](zmtp_async::Socket::monitor).
pub type Monitor = zmtp_async::Monitor<Compio>;

/// The compio runtime, as the sockets use it: one runtime per thread, each with its own
/// sockets (`Runtime::block_on` makes one on the calling thread).
///
/// ```
/// use driver_compio::{Compio, Runtime, Socket, SocketType};
///
/// let echoed = Compio::block_on(async {
///     let rep = Socket::new(SocketType::Rep);
///     let ep = rep.bind("ipc://@driver-compio-runtime-doc").await?;
///     let req = Socket::new(SocketType::Req);
///     req.connect(&ep).await?;
///     req.send("ping").await?;
///     rep.send(rep.recv().await?).await?;
///     req.recv().await
/// });
/// assert_eq!(&echoed.unwrap().unwrap()[0][..], b"ping");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Compio;

impl Runtime for Compio {
    type Io = CompioIo;
    type Shared = Rc<RefCell<zmtp_async::Shared<CompioIo>>>;
    type Sleep = Pin<Box<dyn Future<Output = ()>>>;

    const NAME: &'static str = "compio";
    // The yield lets the runtime submit the write with its next `io_uring_enter` (measured
    // against writing inline: docs/benchmarks.md, "The shared async layer").
    const WRITE_FULL_BATCH_INLINE: bool = false;
    // A compio socket is `!Send`: it stays on the thread that made it.
    const PINNED: bool = true;

    fn new_io(signal: &Arc<Signal>) -> CompioIo {
        CompioIo::new(signal)
    }

    fn spawn(task: DriverTask<Self>) {
        compio::runtime::spawn(task).detach();
    }

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        Box::pin(compio::time::sleep_until(deadline))
    }

    async fn bind(
        endpoint: &Endpoint,
        tcp: &zmtp_async::net::TcpSettings,
    ) -> std::io::Result<((Listener, Option<PathBuf>), String)> {
        let (listener, resolved, ipc_path) = transport::bind(endpoint, tcp).await?;
        Ok(((listener, ipc_path), resolved))
    }

    fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
        Ok(compio::runtime::Runtime::new()?.block_on(future))
    }
}
