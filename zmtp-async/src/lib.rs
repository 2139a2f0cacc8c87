//! # zmtp-async: the async layer every monocoque driver shares
//!
//! Between the sans-IO machines of [`zmtp_proto`] and a runtime's I/O calls sits everything an
//! async socket needs that is not I/O, written once:
//!
//! | module | what it owns |
//! |---|---|
//! | [`Socket`] (`socket.rs`) | the socket API: bind, connect, send, recv, subscribe, monitor, close, `Stream`/`Sink` |
//! | [`SocketState`] (`state.rs`) | what a handle shares with its driver task: the machine (private), waiting tasks, the monitor queue |
//! | [`Proxy`] (`proxy.rs`) | `zmq_proxy` and `zmq_proxy_steerable`: messages moved between sockets on the caller's task |
//! | [`Signal`] (`signal/`) | where a socket's I/O reports events, and whom that wakes; a pinned socket's home table (`signal/home.rs`) |
//! | `rounds.rs` | who runs I/O: the driver task ([`DriverTask`]) and inline rounds on the application's task, and what every round does at its end |
//! | [`Runtime`], [`Io`] (`runtime.rs`) | what a driver implements: spawn, timers, bind, and the rounds that move its peers' bytes |
//! | [`net`] (`net.rs`) | TCP listeners and dials set up from the socket's options (buffers, keepalive, TOS, device, `ipv6`, interface names, `connect_timeout`), for every driver |
//! | `options.rs` | reading and changing a live socket's options: [`Socket::options`], [`Socket::set_options`], [`Socket::try_with_options`] |
//! | `thread_slab.rs` | what one thread keeps for its pinned sockets without a lock (inproc's same-thread pipes, the signal's home registrations), by keys that name the thread |
//!
//! A driver crate (`driver-tokio`, `driver-compio`) implements [`Runtime`] and [`Io`] and
//! re-exports `Socket<ItsRuntime>` as its `Socket`. Code that works with any driver is generic
//! over `R: Runtime` and names [`Socket<R>`](Socket):
//!
//! ```
//! use zmtp_async::{Runtime, Socket};
//! use zmtp_proto::SocketType;
//!
//! /// A request and its reply, on whichever runtime `R` is.
//! async fn ping<R: Runtime>() -> std::io::Result<()> {
//!     let rep = Socket::<R>::new(SocketType::Rep);
//!     let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
//!     let req = Socket::<R>::new(SocketType::Req);
//!     req.connect(&endpoint).await?;
//!     req.send("ping").await?;
//!     let request = rep.recv().await?;
//!     rep.send(request).await?;
//!     assert_eq!(&req.recv().await?[0][..], b"ping");
//!     Ok(())
//! }
//!
//! driver_compio::Compio::block_on(ping::<driver_compio::Compio>()).unwrap().unwrap();
//! driver_tokio::Tokio::block_on(ping::<driver_tokio::Tokio>()).unwrap().unwrap();
//! ```
//!
//! `docs/architecture.md` in the repository tells the layering and the protocol of the rounds
//! in one page.

mod inproc;
mod lifecycle;
mod monitor;
pub mod net;
mod options;
mod outbound;
mod proxy;
mod raw;
mod rounds;
mod runtime;
mod signal;
mod socket;
mod state;
#[cfg(test)]
mod test_util;
mod thread_slab;

/// Locks `m`, poisoned or not: nothing here panics while holding one of this crate's locks,
/// and what they guard stays sound if something ever did.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The types a program names besides the socket, re-exported by every driver crate at its
/// root (`use driver_tokio::{Error, Frame, Msg, SendError};` needs no `zmtp-proto`).
pub mod prelude {
    pub use crate::lifecycle::{running_sockets, shutdown, terminate};
    pub use crate::monitor::MonitorEvent;
    pub use crate::outbound::IntoOutbound;
    pub use crate::proxy::{proxy, proxy_steerable, Proxy, ProxyStatistics};
    pub use crate::runtime::Runtime;
    /// Security: PLAIN credentials (client) and the users a PLAIN server lets in; CURVE keys,
    /// client and server settings and the clients a server lets in. All are set through
    /// the `mechanism` of [`SocketOptions::connection`].
    pub use zmtp_proto::{
        CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
        CurveServerConfig, PlainCredentials, PlainUsers,
    };
    pub use zmtp_proto::{
        EndpointOp, Error, Frame, MechanismConfig, Msg, PeerInfo, SendError, SocketType,
    };
    pub use zmtp_proto::{PeerId, SocketEvent, SocketOptions};
}

#[doc(hidden)]
pub use inproc::{inproc_locks, InprocProbe};
pub use lifecycle::{running_sockets, shutdown, terminate};
pub use monitor::{Monitor, MonitorEvent};
pub use outbound::IntoOutbound;
pub use proxy::{proxy, proxy_steerable, Proxy, ProxyStatistics};
pub use rounds::DriverTask;
pub use runtime::{remove_bound, Clock, Io, Round, Runtime, Share, Shared};
pub use signal::{shared_signal_ops, Signal};
pub use socket::Socket;
pub use state::{Outbound, SocketState, WakerKey, MONITOR_CAPACITY};
