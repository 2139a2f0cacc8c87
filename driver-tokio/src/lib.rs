//! # driver-tokio: ZeroMQ sockets over tokio
//!
//! Real sockets for all eleven standard ZeroMQ types over `tcp://` and `ipc://`, driven by the
//! sans-IO machines of [`zmtp_proto`]. Each socket has one driver task that accepts, dials,
//! reads straight into the machine's arena and writes what the machine hands out; the socket
//! handle shares the machine with it under an uncontended mutex. There are no channels and no
//! task per connection: `send` encodes into the machine and returns, `recv` takes a decoded
//! message out of it.
//!
//! Messages sent in a burst are written together (one syscall for many messages) without any
//! flush call; a lone message on an idle socket goes out at once.
//!
//! ```no_run
//! use driver_tokio::{Socket, SocketType};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let rep = Socket::new(SocketType::Rep);
//! let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
//! let req = Socket::new(SocketType::Req);
//! req.connect(&endpoint).await?;
//! req.send("hello").await?;
//! let request = rep.recv().await?;
//! rep.send(request).await?;
//! assert_eq!(&req.recv().await?[0][..], b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Cancel safety
//!
//! `send` and `recv` futures hold no I/O: dropping a `send` future before it completes means
//! the message was not queued; dropping a `recv` future takes nothing out of the socket.

mod driver;
mod transport;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

pub use zmtp_proto::handle::MonitorEvent;
use zmtp_proto::handle::Outbound;
/// Security: PLAIN credentials (client) and the users a PLAIN server lets in, set through
/// [`SocketOptions::mechanism`].
pub use zmtp_proto::mechanism::{PlainCredentials, PlainUsers};
pub use zmtp_proto::socket::{PeerId, SocketEvent, SocketOptions};
pub use zmtp_proto::MechanismConfig;
pub use zmtp_proto::{Msg, SocketType};

use driver::{lock, Driver, State};
use zmtp_proto::endpoint::{names_bound, Endpoint};
use zmtp_proto::handle::Handle;
use zmtp_proto::socket::Socket as Machine;

/// A ZeroMQ socket on the tokio runtime.
///
/// Create it inside a tokio runtime (current-thread or multi-thread): it spawns its driver
/// task at once.
pub struct Socket {
    shared: Arc<Mutex<State>>,
    sink_item: Option<Outbound<'static>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("Socket")
            .field("type", &state.handle.machine.socket_type())
            .field("peers", &state.handle.machine.peer_count())
            .finish()
    }
}

/// Sends per unit of tokio's cooperative budget (128 units per task turn): a run of sends
/// yields every 1,024 messages.
const SENDS_PER_BUDGET_UNIT: u32 = 8;

fn invalid_input(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

impl Socket {
    /// A socket of the given type with libzmq's default options.
    pub fn new(socket_type: SocketType) -> Self {
        Self::with_options(socket_type, SocketOptions::default())
    }

    /// A socket with the given options.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use driver_tokio::{Socket, SocketOptions, SocketType};
    /// let mut options = SocketOptions::default();
    /// options.sndhwm = 10_000;
    /// options.heartbeat_ivl = Some(std::time::Duration::from_secs(1));
    /// let push = Socket::with_options(SocketType::Push, options);
    /// # }
    /// ```
    pub fn with_options(socket_type: SocketType, mut options: SocketOptions) -> Self {
        if options.seed == SocketOptions::default().seed {
            use std::hash::BuildHasher;
            // RandomState is seeded randomly per process (libzmq starts its counter at random).
            options.seed = std::collections::hash_map::RandomState::new().hash_one(0u8) as u32;
        }
        let machine = Machine::new(socket_type, options, Instant::now());
        let shared = Arc::new(Mutex::new(State::new(Handle::new(machine))));
        tokio::spawn(Driver::new(shared.clone()));
        Self {
            shared,
            sink_item: None,
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        lock(&self.shared).handle.machine.socket_type()
    }

    /// Binds to `endpoint` and returns the endpoint actually bound: `tcp://127.0.0.1:*` picks
    /// an ephemeral port and reports it, `tcp://*:5555` reports `tcp://0.0.0.0:5555`.
    pub async fn bind(&self, endpoint: &str) -> io::Result<String> {
        let parsed: Endpoint = endpoint.parse().map_err(invalid_input)?;
        let (listener, resolved) = transport::bind(&parsed).await?;
        let mut state = lock(&self.shared);
        state.listeners.push(driver::Bound {
            endpoint: resolved.clone(),
            listener,
        });
        state.handle.push_monitor(MonitorEvent::Listening {
            endpoint: resolved.clone(),
        });
        state.handle.notify_driver();
        Ok(resolved)
    }

    /// Stops listening on an endpoint returned by [`Socket::bind`] (or given to it).
    pub async fn unbind(&self, endpoint: &str) -> io::Result<()> {
        let mut state = lock(&self.shared);
        let before = state.listeners.len();
        state
            .listeners
            .retain(|b| !names_bound(endpoint, &b.endpoint));
        if state.listeners.len() == before {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("not bound to {endpoint}"),
            ));
        }
        Ok(())
    }

    /// Connects to `endpoint`. Like libzmq, this returns at once: the connection is made (and
    /// remade after failures) in the background, and messages sent meanwhile are queued.
    pub async fn connect(&self, endpoint: &str) -> io::Result<()> {
        let mut state = lock(&self.shared);
        state
            .handle
            .connect(endpoint, Instant::now())
            .map_err(invalid_input)?;
        Ok(())
    }

    /// Disconnects from an endpoint given to [`Socket::connect`]; its queued messages are
    /// dropped.
    pub async fn disconnect(&self, endpoint: &str) -> io::Result<()> {
        let mut state = lock(&self.shared);
        if state.handle.disconnect(endpoint, Instant::now()) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("not connected to {endpoint}"),
            ))
        }
    }

    /// Sends a message. Waits only at the high-water mark (or, for types that block, while no
    /// peer is available); otherwise it queues and returns at once.
    ///
    /// Cancel safe: if the future is dropped before it completes, the message was not queued.
    pub async fn send(&self, msg: impl Into<Msg>) -> io::Result<()> {
        let mut slot = Some(Outbound::Msg(msg.into()));
        poll_fn(|cx| self.poll_send(cx, &mut slot)).await
    }

    /// Sends `body` as a one-frame message, copied straight from the caller's buffer into the
    /// socket's coalescing buffer when the peer has nothing queued (DEALER, PUSH, PAIR; see
    /// [`zmtp_proto::Socket::send_slice`]): the one copy a message needs, with no [`Msg`] and
    /// no allocation. Waits like [`Socket::send`]; cancel safe in the same way.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use driver_tokio::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// push.connect("tcp://127.0.0.1:5555").await?;
    /// let mut buf = [0u8; 64];
    /// for i in 0..10u8 {
    ///     buf.fill(i);
    ///     push.send_slice(&buf).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_slice(&self, body: &[u8]) -> io::Result<()> {
        let mut slot = Some(Outbound::Slice(body));
        poll_fn(|cx| self.poll_send(cx, &mut slot)).await
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<Outbound<'_>>,
    ) -> Poll<io::Result<()>> {
        // Take part in tokio's cooperative budget: a loop of sends that never has to wait would
        // otherwise keep the driver task (and, on one thread, the receivers) from running until
        // the high-water mark, where a PUB drops. When the budget runs out the task yields and
        // the driver writes what piled up. The message is not taken before that. One unit of
        // budget is spent per `SENDS_PER_BUDGET_UNIT` sends: a unit per send made the driver
        // write every 128 small messages (~2 KB), waking the receiver for each; a send is far
        // cheaper than the I/O operations the budget is sized for.
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let mut state = lock(&self.shared);
        // The message is sent in place: it stays in the slot until the machine takes it.
        let out = slot.as_mut().expect("polled after completion");
        match out.offer(&mut state.handle.machine) {
            Ok(()) => {
                state.sends = state.sends.wrapping_add(1);
                if state.sends % SENDS_PER_BUDGET_UNIT == 0 {
                    coop.made_progress();
                }
                *slot = None;
                if std::mem::take(&mut state.waited) {
                    // The first send since the application waited in `recv` on this socket
                    // (a reply after its request, the next request after a reply): nothing
                    // else is coming right behind it to share a write, so write it now, from
                    // this task, instead of waking the driver task to do it. What the socket
                    // does not take waits for writability, which wakes the driver too. A
                    // loop of sends never waits in `recv` between them, so it still batches
                    // (a wait at the high-water mark does not count: the sends after it are
                    // a stream).
                    state.run_inline(cx.waker(), false);
                } else {
                    state.handle.notify_driver();
                }
                if state.handle.machine.take_flush_hint() {
                    // A full batch is encoded: write it now instead of letting a run of large
                    // messages pile up (and go cold in memory) until the task yields.
                    state.run_inline(cx.waker(), false);
                }
                Poll::Ready(Ok(()))
            }
            Err(zmtp_proto::Error::WouldBlock) => {
                // At the high-water mark: write out what we can right here, then retry once.
                state.run_inline(cx.waker(), false);
                if state.handle.try_offer(out).is_ok() {
                    coop.made_progress();
                    *slot = None;
                    return Poll::Ready(Ok(()));
                }
                state.handle.park_send(cx.waker());
                Poll::Pending
            }
            Err(e) => {
                *slot = None;
                Poll::Ready(Err(e.into()))
            }
        }
    }

    /// Sends without waiting; fails with `WouldBlock` (the message is handed back inside the
    /// error's [`zmtp_proto::SendError`]) at the high-water mark.
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), zmtp_proto::SendError> {
        lock(&self.shared).handle.try_send(msg.into())
    }

    /// Receives the next message.
    ///
    /// Cancel safe: dropping the future takes nothing out of the socket.
    pub async fn recv(&self) -> io::Result<Msg> {
        let wait = Wait {
            shared: &self.shared,
            armed: AtomicBool::new(false),
            parked: AtomicBool::new(false),
        };
        poll_fn(|cx| self.poll_recv(cx, Some(&wait))).await
    }

    /// `live`: called from a future that ends with a [`Wait`] guard (see
    /// `State::run_inline`).
    fn poll_recv(&self, cx: &mut Context<'_>, live: Option<&Wait<'_>>) -> Poll<io::Result<Msg>> {
        let mut state = lock(&self.shared);
        if live.is_some_and(|w| w.parked.load(Ordering::Relaxed))
            && state.is_still_parked(cx.waker())
        {
            // Polled again with nothing changed: a `join!` or `select!` polls every future of
            // its task when any of them is woken.
            return Poll::Pending;
        }
        // Received in place: the message is written once, here, rather than moved out through
        // every layer's return value.
        let mut msg = Msg::new();
        match state.try_recv_into(&mut msg) {
            Ok(true) => Poll::Ready(Ok(msg)),
            Ok(false) => {
                let is_live = live.is_some_and(|w| {
                    w.armed.store(true, Ordering::Relaxed);
                    true
                });
                if state.run_inline(cx.waker(), is_live) {
                    if let Ok(true) = state.try_recv_into(&mut msg) {
                        return Poll::Ready(Ok(msg));
                    }
                }
                state.handle.park_recv(cx.waker());
                state.waited = true;
                if let Some(w) = live {
                    w.parked.store(true, Ordering::Relaxed);
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    /// Receives a message if one is ready.
    pub fn try_recv(&self) -> io::Result<Option<Msg>> {
        Ok(lock(&self.shared).handle.try_recv()?)
    }

    /// SUB/XSUB: subscribes to messages whose first frame starts with `topic` (`b""` for all).
    pub async fn subscribe(&self, topic: impl AsRef<[u8]>) -> io::Result<()> {
        Ok(lock(&self.shared).handle.subscribe(topic.as_ref(), true)?)
    }

    /// SUB/XSUB: removes one subscription to `topic`.
    pub async fn unsubscribe(&self, topic: impl AsRef<[u8]>) -> io::Result<()> {
        Ok(lock(&self.shared).handle.subscribe(topic.as_ref(), false)?)
    }

    /// Starts recording monitor events and returns a stream of them. Events that happen before
    /// the first call are not recorded; at most 4096 unread events are kept.
    pub fn monitor(&self) -> Monitor {
        lock(&self.shared).handle.start_monitor();
        Monitor {
            shared: self.shared.clone(),
        }
    }

    /// Closes the socket: no more sends; queued messages are flushed for up to the `linger`
    /// option (forever if it is `None`, like libzmq's default), then every connection closes.
    pub async fn close(self) {
        lock(&self.shared).handle.close(Instant::now());
        poll_fn(|cx| lock(&self.shared).handle.poll_finished(cx)).await;
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Like libzmq's zmq_close: the driver keeps flushing in the background for `linger`.
        lock(&self.shared).handle.close(Instant::now());
    }
}

/// Ends a `recv` future's live wait (see `State::run_inline`) when it completes or is
/// dropped.
struct Wait<'a> {
    shared: &'a Mutex<State>,
    armed: AtomicBool,
    /// The future parked its task with no message (see `Socket::poll_recv`).
    parked: AtomicBool,
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.armed.load(Ordering::Relaxed) {
            lock(self.shared).end_wait();
        }
    }
}

/// A stream of [`MonitorEvent`]s from [`Socket::monitor`].
pub struct Monitor {
    shared: Arc<Mutex<State>>,
}

impl Monitor {
    /// The next event; `None` once the socket is closed and all events were read.
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        lock(&self.shared).handle.poll_monitor(cx)
    }
}

impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.get_mut().poll_event(cx)
    }
}

/// Receiving sockets are streams of messages (errors end nothing: they are yielded).
impl futures_core::Stream for Socket {
    type Item = io::Result<Msg>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_recv(cx, None).map(Some)
    }
}

/// Sending sockets are sinks of messages.
impl<M: Into<Msg>> futures_sink::Sink<M> for Socket {
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        <Self as futures_sink::Sink<M>>::poll_flush(self, cx)
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> io::Result<()> {
        let this = self.get_mut();
        debug_assert!(this.sink_item.is_none(), "start_send without poll_ready");
        this.sink_item = Some(Outbound::Msg(item.into()));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.sink_item.is_none() {
            return Poll::Ready(Ok(()));
        }
        let mut slot = this.sink_item.take();
        let result = this.poll_send(cx, &mut slot);
        this.sink_item = slot;
        result
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        <Self as futures_sink::Sink<M>>::poll_flush(self, cx)
    }
}
