//! # driver-compio: ZeroMQ sockets over compio (io_uring)
//!
//! Real sockets for all eleven standard ZeroMQ types over `tcp://` and `ipc://` (abstract
//! `ipc://@name` too), driven by the sans-IO machines of [`zmtp_proto`] on compio's
//! thread-per-core runtime: io_uring where the kernel offers it, epoll otherwise. The API is
//! the one of the tokio driver; switching is a matter of changing the dependency and the
//! runtime.
//!
//! Each socket has one driver task on the thread that created it. The task owns every I/O
//! operation (accepts, dials, one read and at most one write per peer) and shares the machine
//! with the socket handle through an `Rc<RefCell<_>>`: no lock, no channel, no task per
//! connection. `send` encodes into the machine and returns; `recv` takes a decoded message out
//! of it. Reads land straight in the machine's buffer and small messages are handed out as
//! slices of it; messages sent in a burst leave in one vectored write, with no flush call,
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

mod driver;
mod transport;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

pub use zmtp_proto::handle::MonitorEvent;
/// Security: PLAIN credentials (client) and the users a PLAIN server lets in, set through
/// [`SocketOptions::mechanism`].
pub use zmtp_proto::mechanism::{PlainCredentials, PlainUsers};
pub use zmtp_proto::socket::{PeerId, SocketEvent, SocketOptions};
pub use zmtp_proto::MechanismConfig;
pub use zmtp_proto::{Msg, SendError, SocketType};

use driver::{Driver, Shared, State};
use zmtp_proto::endpoint::{names_bound, Endpoint};
use zmtp_proto::handle::{Handle, Outbound};
use zmtp_proto::socket::Socket as Machine;

/// A ZeroMQ socket on the compio runtime.
///
/// Create it inside a compio runtime: it spawns its driver task at once, on the current
/// thread. Receiving sockets are also [`Stream`](futures_core::Stream)s of messages and sending
/// sockets [`Sink`](futures_sink::Sink)s.
///
/// ```
/// use driver_compio::{Socket, SocketType};
/// use futures_util::{SinkExt, StreamExt};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let mut pull = Socket::new(SocketType::Pull);
///     let endpoint = pull.bind("ipc://@driver-compio-socket-doc").await.unwrap();
///     let mut push = Socket::new(SocketType::Push);
///     push.connect(&endpoint).await.unwrap();
///     push.send("one").await.unwrap(); // the inherent method
///     SinkExt::send(&mut push, "two").await.unwrap(); // the Sink
///     assert_eq!(&pull.recv().await.unwrap()[0][..], b"one");
///     assert_eq!(&pull.next().await.unwrap().unwrap()[0][..], b"two");
/// });
/// ```
pub struct Socket {
    shared: Shared,
    sink_item: Option<Outbound<'static>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.borrow();
        f.debug_struct("Socket")
            .field("type", &st.handle.machine.socket_type())
            .field("peers", &st.handle.machine.peer_count())
            .finish()
    }
}

fn invalid_input(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

impl Socket {
    /// A socket of the given type with libzmq's default options.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let dealer = Socket::new(SocketType::Dealer);
    /// assert_eq!(dealer.socket_type(), SocketType::Dealer);
    /// # });
    /// ```
    pub fn new(socket_type: SocketType) -> Self {
        Self::with_options(socket_type, SocketOptions::default())
    }

    /// A socket with the given options.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketOptions, SocketType};
    /// let mut options = SocketOptions::default();
    /// options.sndhwm = 10_000;
    /// options.heartbeat_ivl = Some(std::time::Duration::from_secs(1));
    /// let push = Socket::with_options(SocketType::Push, options);
    /// # });
    /// ```
    pub fn with_options(socket_type: SocketType, mut options: SocketOptions) -> Self {
        if options.seed == SocketOptions::default().seed {
            use std::hash::BuildHasher;
            // RandomState is seeded randomly per process.
            options.seed = std::collections::hash_map::RandomState::new().hash_one(0u8) as u32;
        }
        let machine = Machine::new(socket_type, options, Instant::now());
        let shared = Rc::new(RefCell::new(State::new(Handle::new(machine))));
        compio::runtime::spawn(Driver::new(shared.clone())).detach();
        Self {
            shared,
            sink_item: None,
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.borrow().handle.machine.socket_type()
    }

    /// Binds to `endpoint` and returns the endpoint actually bound: `tcp://127.0.0.1:*` picks
    /// an ephemeral port and reports it, `tcp://*:5555` reports `tcp://0.0.0.0:5555`.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let tcp = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// assert!(tcp.starts_with("tcp://127.0.0.1:"));
    /// let name = format!("ipc://@driver-compio-doc-{}", std::process::id());
    /// assert_eq!(pull.bind(&name).await.unwrap(), name);
    /// # });
    /// ```
    pub async fn bind(&self, endpoint: &str) -> io::Result<String> {
        let parsed: Endpoint = endpoint.parse().map_err(invalid_input)?;
        let (listener, resolved, ipc_path) = transport::bind(&parsed).await?;
        self.shared
            .borrow_mut()
            .add_listener(listener, resolved.clone(), ipc_path);
        Ok(resolved)
    }

    /// Stops listening on an endpoint returned by [`Socket::bind`] (or given to it).
    /// Connections already accepted stay up.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// pull.unbind(&ep).await.unwrap();
    /// assert!(pull.unbind(&ep).await.is_err());
    /// # });
    /// ```
    pub async fn unbind(&self, endpoint: &str) -> io::Result<()> {
        let mut st = self.shared.borrow_mut();
        let before = st.listeners.len();
        st.listeners.retain(|b| !names_bound(endpoint, &b.endpoint));
        if st.listeners.len() == before {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("not bound to {endpoint}"),
            ));
        }
        Ok(())
    }

    /// Connects to `endpoint`. Like libzmq, this returns at once: the connection is made (and
    /// remade after failures) in the background, and messages sent meanwhile are queued.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// push.connect("tcp://127.0.0.1:5555").await.unwrap(); // nobody there yet: fine
    /// push.send("queued until a peer shows up").await.unwrap();
    /// assert!(push.connect("tcp://*:5555").await.is_err());
    /// # });
    /// ```
    pub async fn connect(&self, endpoint: &str) -> io::Result<()> {
        let mut st = self.shared.borrow_mut();
        st.handle
            .connect(endpoint, Instant::now())
            .map_err(invalid_input)?;
        Ok(())
    }

    /// Disconnects from an endpoint given to [`Socket::connect`]; its queued messages are
    /// dropped.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// push.connect("ipc://@nobody-here").await.unwrap();
    /// push.disconnect("ipc://@nobody-here").await.unwrap();
    /// assert!(push.disconnect("ipc://@nobody-here").await.is_err());
    /// # });
    /// ```
    pub async fn disconnect(&self, endpoint: &str) -> io::Result<()> {
        let mut st = self.shared.borrow_mut();
        if st.handle.disconnect(endpoint, Instant::now()) {
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
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Msg, Socket, SocketType};
    /// let dealer = Socket::new(SocketType::Dealer);
    /// dealer.connect("tcp://127.0.0.1:5555").await.unwrap();
    /// dealer.send("one frame").await.unwrap();
    /// dealer.send(Msg::from(["two", "frames"])).await.unwrap();
    /// # });
    /// ```
    pub async fn send(&self, msg: impl Into<Msg>) -> io::Result<()> {
        let mut slot = Some(Outbound::Msg(msg.into()));
        let wait = Wait::new(&self.shared);
        poll_fn(|cx| poll_send(&self.shared, cx, &mut slot, Some(&wait))).await
    }

    /// Sends `body` as a one-frame message, copied straight from the caller's buffer into the
    /// socket's coalescing buffer when the peer has nothing queued (DEALER, PUSH, PAIR; see
    /// [`zmtp_proto::Socket::send_slice`]): the one copy a message needs, with no [`Msg`] and
    /// no allocation. Waits like [`Socket::send`]; cancel safe in the same way.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// let push = Socket::new(SocketType::Push);
    /// push.connect(&ep).await.unwrap();
    /// let buf = [7u8; 64];
    /// push.send_slice(&buf).await.unwrap();
    /// assert_eq!(&pull.recv().await.unwrap()[0][..], &buf[..]);
    /// # });
    /// ```
    pub async fn send_slice(&self, body: &[u8]) -> io::Result<()> {
        let mut slot = Some(Outbound::Slice(body));
        let wait = Wait::new(&self.shared);
        poll_fn(|cx| poll_send(&self.shared, cx, &mut slot, Some(&wait))).await
    }

    /// Sends without waiting; fails with [`zmtp_proto::Error::WouldBlock`] at the high-water
    /// mark, handing the message back in the [`SendError`].
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// // No peer yet: PUSH blocks, so the message comes back.
    /// let err = push.try_send("hi").unwrap_err();
    /// assert_eq!(&err.msg[0][..], b"hi");
    /// # });
    /// ```
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), SendError> {
        self.shared.borrow_mut().handle.try_send(msg.into())
    }

    /// Receives the next message.
    ///
    /// Cancel safe: dropping the future takes nothing out of the socket.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// let push = Socket::new(SocketType::Push);
    /// push.connect(&ep).await.unwrap();
    /// push.send("work").await.unwrap();
    /// assert_eq!(&pull.recv().await.unwrap()[0][..], b"work");
    /// # });
    /// ```
    pub async fn recv(&self) -> io::Result<Msg> {
        let wait = Wait::new(&self.shared);
        poll_fn(|cx| self.poll_recv(cx, Some(&wait))).await
    }

    /// `live`: called from a future that ends with a [`Wait`] guard (see
    /// `State::run_inline`).
    fn poll_recv(&self, cx: &mut Context<'_>, live: Option<&Wait<'_>>) -> Poll<io::Result<Msg>> {
        let mut st = self.shared.borrow_mut();
        if live.is_some_and(|w| w.parked.get()) && st.is_still_parked(cx.waker(), true) {
            // Polled again with nothing changed (a `join!` whose other future was woken, or
            // compio's `block_on`, which polls its future on every turn of its loop).
            return Poll::Pending;
        }
        let mut msg = Msg::new();
        match st.handle.machine.recv_into(&mut msg) {
            Ok(true) => {}
            Ok(false) => {
                // About to wait: run the I/O here first, without a task switch.
                let ran = st.run_inline(cx.waker(), Wait::arm(live));
                let got = if ran {
                    st.handle.machine.recv_into(&mut msg)
                } else {
                    Ok(false)
                };
                match got {
                    Ok(true) => {}
                    Ok(false) => {
                        st.handle.park_recv(cx.waker());
                        st.waited = true;
                        if let Some(w) = live {
                            w.parked.set(true);
                        }
                        return Poll::Pending;
                    }
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
            }
            Err(e) => return Poll::Ready(Err(e.into())),
        }
        // Taking a message may have resumed decoding (output such as a PONG, or reading).
        st.submit_output();
        Poll::Ready(Ok(msg))
    }

    /// Receives a message if one is ready.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// assert!(pull.try_recv().unwrap().is_none());
    /// # });
    /// ```
    pub fn try_recv(&self) -> io::Result<Option<Msg>> {
        Ok(self.shared.borrow_mut().handle.try_recv()?)
    }

    /// SUB/XSUB: subscribes to messages whose first frame starts with `topic` (`b""` for all).
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub);
    /// sub.subscribe("weather.").await.unwrap();
    /// assert!(Socket::new(SocketType::Pub).subscribe("x").await.is_err());
    /// # });
    /// ```
    pub async fn subscribe(&self, topic: impl AsRef<[u8]>) -> io::Result<()> {
        let mut st = self.shared.borrow_mut();
        Ok(st.handle.subscribe(topic.as_ref(), true)?)
    }

    /// SUB/XSUB: removes one subscription to `topic`.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub);
    /// sub.subscribe("a").await.unwrap();
    /// sub.unsubscribe("a").await.unwrap();
    /// # });
    /// ```
    pub async fn unsubscribe(&self, topic: impl AsRef<[u8]>) -> io::Result<()> {
        let mut st = self.shared.borrow_mut();
        Ok(st.handle.subscribe(topic.as_ref(), false)?)
    }

    /// Starts recording monitor events and returns a stream of them. Events that happen before
    /// the first call are not recorded; at most
    /// [`MONITOR_CAPACITY`](zmtp_proto::handle::MONITOR_CAPACITY) unread events are kept.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{MonitorEvent, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let mut events = pull.monitor();
    /// let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// assert_eq!(events.next().await, Some(MonitorEvent::Listening { endpoint: ep }));
    /// # });
    /// ```
    pub fn monitor(&self) -> Monitor {
        self.shared.borrow_mut().handle.start_monitor();
        Monitor {
            shared: self.shared.clone(),
        }
    }

    /// Closes the socket: no more sends; queued messages are flushed for up to the `linger`
    /// option (forever if it is `None`, like libzmq's default), then every connection closes.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketOptions, SocketType};
    /// let mut options = SocketOptions::default();
    /// options.linger = Some(std::time::Duration::from_millis(10));
    /// let push = Socket::with_options(SocketType::Push, options);
    /// push.connect("tcp://127.0.0.1:5555").await.unwrap();
    /// push.send("never delivered").await.unwrap();
    /// push.close().await; // gives up after 10 ms
    /// # });
    /// ```
    pub async fn close(self) {
        self.shared.borrow_mut().handle.close(Instant::now());
        poll_fn(|cx| self.shared.borrow_mut().handle.poll_finished(cx)).await;
    }
}

/// Sends in a row without waiting before `send` yields once, as in driver-tokio (which spends a
/// unit of tokio's 128-unit cooperative budget per 8 sends). A yield every 128 sends made the
/// driver submit ~2 KB writes of 16 B messages; 1,024 (or a full 256 KiB batch, see the flush
/// hint below) lets writes carry more while other tasks still get their turn.
const SEND_BUDGET: u32 = 1024;

/// Held by a `recv`/`send` future, armed once it waits with `live` (see
/// `State::run_inline`): when it completes or is dropped, completions wake the driver task
/// again. A call that never had to wait (the common case in a busy loop) has nothing to undo
/// and skips the shared state on drop.
struct Wait<'a> {
    shared: &'a Shared,
    armed: Cell<bool>,
    /// The future parked its task: `send` at the high-water mark, `recv` with no message
    /// (see `poll_send`, `Socket::poll_recv`).
    parked: Cell<bool>,
}

impl<'a> Wait<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            armed: Cell::new(false),
            parked: Cell::new(false),
        }
    }

    /// Arms the guard, if there is one; returns `live` for `State::run_inline`.
    fn arm(wait: Option<&Self>) -> bool {
        wait.inspect(|w| w.armed.set(true)).is_some()
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.armed.get() {
            State::end_wait(self.shared);
        }
    }
}

/// Offers the message in `slot` to the machine; `live` as for [`Socket::poll_recv`].
fn poll_send(
    shared: &Shared,
    cx: &mut Context<'_>,
    slot: &mut Option<Outbound<'_>>,
    live: Option<&Wait<'_>>,
) -> Poll<io::Result<()>> {
    let mut st = shared.borrow_mut();
    if live.is_some_and(|w| w.parked.get()) && st.is_still_parked(cx.waker(), false) {
        // Polled again with nothing changed: no round found room since this future parked
        // and no operation completed. compio's `block_on` polls its future on every turn of
        // its loop, woken or not; offering the message and running a round each time made a
        // sender at the high-water mark spin (~100 times per write in a 64 B PUSH/PULL run).
        return Poll::Pending;
    }
    // compio has no cooperative budget: count sends that did not have to wait and, every
    // SEND_BUDGET of them, yield once before taking the message, so that a loop of sends lets
    // the driver write what piled up (and, on one thread, the receivers run) long before the
    // high-water mark, where a PUB drops.
    if st.sends_without_yield >= SEND_BUDGET {
        st.sends_without_yield = 0;
        st.handle.notify_driver();
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    st.sends_without_yield += 1;
    // The message is sent in place: it stays in the slot until the machine takes it.
    let out = slot.as_mut().expect("polled after completion");
    match out.offer(&mut st.handle.machine) {
        Ok(()) => {}
        Err(zmtp_proto::Error::WouldBlock) => {
            // At the high-water mark: write out what we can right here, then retry once.
            st.run_inline(cx.waker(), Wait::arm(live));
            if out.offer(&mut st.handle.machine).is_err() {
                // Still full (or failing: the driver's round reports it on the next poll).
                let poll = st.handle.poll_send(cx, slot).map_err(io::Error::from);
                if let (Poll::Pending, Some(w)) = (&poll, live) {
                    w.parked.set(true);
                }
                return poll;
            }
        }
        Err(e) => {
            *slot = None;
            return Poll::Ready(Err(e.into()));
        }
    }
    *slot = None;
    if std::mem::take(&mut st.waited) {
        // The first send since the application waited in `recv` on this socket (a reply
        // after its request, the next request after a reply): nothing else is coming right
        // behind it to share a write, so write it now, from this task, instead of waking the
        // driver task to do it. A loop of sends never waits in `recv` between them, so it
        // still batches (a wait at the high-water mark does not count: the sends after it
        // are a stream).
        st.submit_output();
    } else {
        st.handle.notify_driver();
    }
    if st.handle.machine.take_flush_hint() {
        // A full batch is encoded: have the next send yield, so that the runtime submits
        // what is written and the driver writes the rest, instead of letting a run of large
        // messages pile up (cold in memory) until the budget runs out.
        st.sends_without_yield = SEND_BUDGET;
    }
    Poll::Ready(Ok(()))
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Like libzmq's zmq_close: the driver keeps flushing in the background for `linger`.
        if let Ok(mut st) = self.shared.try_borrow_mut() {
            st.handle.close(Instant::now());
        }
    }
}

/// A stream of [`MonitorEvent`]s from [`Socket::monitor`].
///
/// ```
/// use driver_compio::{MonitorEvent, Socket, SocketEvent, SocketType};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let push = Socket::new(SocketType::Push);
///     let mut events = push.monitor();
///     push.connect("tcp://127.0.0.1:9").await.unwrap(); // nobody listens there
///     match events.next().await {
///         Some(MonitorEvent::Socket(SocketEvent::ConnectRetried { .. })) => {}
///         other => panic!("unexpected {other:?}"),
///     }
/// });
/// ```
pub struct Monitor {
    shared: Shared,
}

impl Monitor {
    /// The next event; `None` once the socket is closed and all events were read.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{MonitorEvent, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let mut events = pull.monitor();
    /// pull.close().await;
    /// assert_eq!(events.next().await, None);
    /// # });
    /// ```
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        poll_fn(|cx| self.shared.borrow_mut().handle.poll_monitor(cx)).await
    }
}

impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.shared.borrow_mut().handle.poll_monitor(cx)
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
        poll_send(&this.shared, cx, &mut this.sink_item, None)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        <Self as futures_sink::Sink<M>>::poll_flush(self, cx)
    }
}
