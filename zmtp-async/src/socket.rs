//! The socket API, written once for every runtime.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use zmtp_proto::Endpoint;
use zmtp_proto::{EndpointOp, Error, Msg, SocketType};
use zmtp_proto::{SendError, Socket as Machine, SocketOptions};

use crate::monitor::Monitor;
use crate::outbound::IntoOutbound;
use crate::rounds::{DriverTask, Wait, SEND_BUDGET};
use crate::runtime::{Io, Runtime, Share, Shared};
use crate::signal::Signal;
use crate::state::{Outbound, SocketState};

/// A ZeroMQ socket on the runtime `R`; the driver crates name it `driver_tokio::Socket` and
/// `driver_compio::Socket`.
///
/// Create it inside a runtime of that kind: it spawns its driver task at once. Receiving
/// sockets are also [`Stream`](futures_core::Stream)s of messages and sending sockets
/// [`Sink`](futures_sink::Sink)s.
///
/// ```
/// use driver_compio::{Socket, SocketType};
/// use futures_util::{SinkExt, StreamExt};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let mut pull = Socket::new(SocketType::Pull);
///     let endpoint = pull.bind("ipc://@zmtp-async-socket-doc").await.unwrap();
///     let mut push = Socket::new(SocketType::Push);
///     push.connect(&endpoint).await.unwrap();
///     push.send("one").await.unwrap(); // the inherent method
///     SinkExt::send(&mut push, "two").await.unwrap(); // the Sink
///     assert_eq!(&pull.recv().await.unwrap()[0][..], b"one");
///     assert_eq!(&pull.next().await.unwrap().unwrap()[0][..], b"two");
/// });
/// ```
///
/// # Cancel safety
///
/// `send` and `recv` futures own no I/O (the driver task does), so dropping them loses
/// nothing: a dropped `send` did not queue its message, a dropped `recv` took nothing out of
/// the socket.
pub struct Socket<R: Runtime> {
    pub(crate) shared: R::Shared,
    signal: Arc<Signal>,
    sink_item: Option<Outbound<'static>>,
}

impl<R: Runtime> std::fmt::Debug for Socket<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.shared.lock();
        f.debug_struct("Socket")
            .field("runtime", &R::NAME)
            .field("type", &shared.state.machine().socket_type())
            .field("peers", &shared.state.machine().peer_count())
            .finish()
    }
}

/// An endpoint call's failure, naming the call and the endpoint (see [`Error::Endpoint`]).
fn endpoint_error(
    operation: EndpointOp,
    endpoint: &str,
    kind: io::ErrorKind,
    reason: impl std::fmt::Display,
) -> io::Error {
    Error::Endpoint {
        operation,
        endpoint: endpoint.into(),
        kind,
        reason: reason.to_string().into(),
    }
    .into()
}

impl<R: Runtime> Socket<R> {
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
    /// options.connection.heartbeat_ivl = Some(std::time::Duration::from_secs(1));
    /// let push = Socket::with_options(SocketType::Push, options);
    /// # });
    /// ```
    pub fn with_options(socket_type: SocketType, mut options: SocketOptions) -> Self {
        if options.seed.is_none() {
            use std::hash::BuildHasher;
            // RandomState is seeded randomly per process (libzmq starts its counter at random).
            let random = std::collections::hash_map::RandomState::new().hash_one(0u8) as u32;
            options.seed = Some(random);
        }
        let mut machine = Machine::new(socket_type, options, Instant::now());
        // The core reads no OS source: CURVE's transient keys come from this seed.
        let mut seed = [0; 32];
        getrandom::getrandom(&mut seed).expect("the OS random number generator failed");
        machine.seed_rng(seed);
        zeroize::Zeroize::zeroize(&mut seed);
        let state = SocketState::new(machine);
        let signal = state.signal().clone();
        if R::PINNED {
            // The socket never leaves this thread: events reported here wake without a lock.
            signal.pin_to_this_thread();
        }
        crate::lifecycle::register(&signal);
        let io = R::new_io(&signal);
        let inproc = crate::inproc::Inproc::new(&signal, R::PINNED);
        let shared = R::Shared::new(Shared { state, io, inproc });
        R::spawn(DriverTask::new(shared.clone()));
        Self {
            shared,
            signal,
            sink_item: None,
        }
    }

    /// The state shared with the driver task (for the proxy, which drives several sockets).
    pub(crate) fn shared(&self) -> &R::Shared {
        &self.shared
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.lock().state.machine().socket_type()
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
    /// let name = format!("ipc://@zmtp-async-doc-{}", std::process::id());
    /// assert_eq!(pull.bind(&name).await.unwrap(), name);
    /// # });
    /// ```
    ///
    /// A failure is an [`Error::Endpoint`] naming the endpoint, whose kind (also the
    /// `io::Error`'s) says why: `AddrInUse`, `AddrNotAvailable` (no such host or interface),
    /// `PermissionDenied`, `InvalidInput` (not an endpoint); [`Error::Terminated`] once closed.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::io::ErrorKind;
    /// use driver_compio::{EndpointOp, Error, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let taken = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// let err = Socket::new(SocketType::Pull).bind(&taken).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AddrInUse);
    /// match Error::of(&err) {
    ///     Some(Error::Endpoint { operation: EndpointOp::Bind, endpoint, .. }) => assert_eq!(*endpoint, taken),
    ///     other => panic!("{other:?}"),
    /// }
    /// # });
    /// ```
    pub async fn bind(&self, endpoint: &str) -> io::Result<String> {
        self.refuse_if_terminated()?;
        if endpoint.starts_with("inproc://") {
            crate::state::refuse_raw_over_inproc(self.socket_type(), endpoint).map_err(|e| {
                endpoint_error(
                    EndpointOp::Bind,
                    endpoint,
                    io::ErrorKind::InvalidInput,
                    e.reason,
                )
            })?;
            return crate::inproc::bind(&mut self.shared.lock(), endpoint);
        }
        let parsed: Endpoint = endpoint.parse().map_err(|e| {
            endpoint_error(EndpointOp::Bind, endpoint, io::ErrorKind::InvalidInput, e)
        })?;
        let tcp = crate::net::TcpSettings::from(self.shared.lock().state.machine().options());
        let (listener, resolved) = R::bind(&parsed, &tcp).await.map_err(|e| {
            Error::endpoint(
                EndpointOp::Bind,
                endpoint,
                &e,
                io::ErrorKind::AddrNotAvailable,
            )
        })?;
        let mut shared = self.shared.lock();
        shared.io.add_listener(listener, &resolved);
        shared.state.add_bound(&resolved);
        shared.state.notify_driver();
        Ok(resolved)
    }

    /// [`Error::Terminated`] once the socket was closed.
    fn refuse_if_terminated(&self) -> io::Result<()> {
        let mut shared = self.shared.lock();
        shared.state.check_shutdown();
        if shared.state.is_terminated() {
            return Err(Error::Terminated.into());
        }
        Ok(())
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
    /// Each listener closed is reported as [`MonitorEvent::ListenerClosed`](crate::MonitorEvent::ListenerClosed). An endpoint not
    /// bound is an [`Error::Endpoint`] of kind `NotFound`.
    pub async fn unbind(&self, endpoint: &str) -> io::Result<()> {
        let mut shared = self.shared.lock();
        let Shared {
            io, inproc, state, ..
        } = &mut *shared;
        // A listener (tcp, ipc) or an in-process name.
        if io.unbind(endpoint) || inproc.unbind(endpoint) {
            state.remove_bound(endpoint);
            Ok(())
        } else {
            Err(endpoint_error(
                EndpointOp::Unbind,
                endpoint,
                io::ErrorKind::NotFound,
                "not bound",
            ))
        }
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
    ///
    /// A malformed endpoint is an [`Error::Endpoint`] of kind `InvalidInput`; why a dial fails
    /// is reported by the monitor ([`SocketEvent::ConnectRetried`](crate::prelude::SocketEvent)).
    pub async fn connect(&self, endpoint: &str) -> io::Result<()> {
        self.refuse_if_terminated()?;
        let mut shared = self.shared.lock();
        shared
            .state
            .connect(endpoint, Instant::now())
            .map_err(|e| {
                endpoint_error(
                    EndpointOp::Connect,
                    endpoint,
                    io::ErrorKind::InvalidInput,
                    e,
                )
            })?;
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
        if self
            .shared
            .lock()
            .state
            .disconnect(endpoint, Instant::now())
        {
            Ok(())
        } else {
            Err(endpoint_error(
                EndpointOp::Disconnect,
                endpoint,
                io::ErrorKind::NotFound,
                "not connected",
            ))
        }
    }

    /// Sends a message: owned data is moved in, borrowed data (`line.as_str()`, `&buf[..]`,
    /// `[a.as_str(), b.as_str()]`) is copied, as `zmq_send` copies (see [`IntoOutbound`]).
    /// Waits only at the high-water mark (or, for types that block, while no peer is
    /// available); otherwise it queues and returns at once. Messages sent in a burst
    /// leave together in few writes, with no flush call; a lone message on an idle socket
    /// leaves at once.
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
    pub async fn send<'m>(&self, msg: impl IntoOutbound<'m>) -> io::Result<()> {
        let mut pending = Some(msg.into_outbound());
        let wait = Wait::new(&self.signal);
        poll_fn(|cx| self.poll_send(cx, &mut pending, Some(&wait))).await
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
        let mut pending = Some(Outbound::Slice(body));
        let wait = Wait::new(&self.signal);
        poll_fn(|cx| self.poll_send(cx, &mut pending, Some(&wait))).await
    }

    /// Offers the message in `pending`; `live`: called from a future guarded by a [`Wait`].
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        pending: &mut Option<Outbound<'_>>,
        live: Option<&Wait<'_>>,
    ) -> Poll<io::Result<()>> {
        let mut shared = self.shared.lock();
        shared.state.check_shutdown();
        if Wait::is_parked(live) && shared.is_still_parked(cx.waker(), false) {
            // Polled again with nothing changed since it parked at the high-water mark.
            return Poll::Pending;
        }
        if shared.state.spend_send_budget(SEND_BUDGET) {
            // A long run of sends that never had to wait: yield once, before taking the
            // message, so the driver writes what piled up.
            shared.state.notify_driver();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // The message is sent in place: it stays in `pending` until the machine takes it.
        let out = pending.as_mut().expect("polled after completion");
        match shared.state.offer_quiet(out) {
            Ok(()) => {}
            Err(zmtp_proto::Error::WouldBlock) => {
                // At the high-water mark: write out what we can right here, then retry once.
                shared.run_inline(cx.waker(), Wait::arm(live));
                if shared.state.offer_quiet(out).is_err() {
                    // Still full (or failing: the offer in `poll_send` reports it).
                    let poll = shared.state.poll_send(cx, pending).map_err(io::Error::from);
                    if poll.is_pending() {
                        Wait::set_parked(live);
                    }
                    return poll;
                }
            }
            Err(e) => {
                *pending = None;
                return Poll::Ready(Err(e.into()));
            }
        }
        *pending = None;
        if shared.state.take_waited() {
            // The first send since the application waited in `recv` (a reply after its
            // request, the next request after a reply): nothing else is coming right behind
            // it to share a write, so it is written now, from this task, instead of waking the
            // driver task to do it. A loop of sends never waits in `recv` between them, so it
            // still batches.
            shared.flush();
        } else {
            shared.state.notify_driver();
        }
        if shared.state.machine_mut().take_flush_hint() {
            // A full batch is encoded: write it now, or have the next send yield so the
            // driver writes it (see `Runtime::WRITE_FULL_BATCH_INLINE`), instead of letting a
            // run of large messages pile up (cold in memory) until the budget runs out.
            if R::WRITE_FULL_BATCH_INLINE {
                shared.flush();
            } else {
                shared.state.exhaust_send_budget(SEND_BUDGET);
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Sends without waiting; fails with [`Error::WouldBlock`] at the high-water mark, with
    /// [`Error::NoPeer`] when a type that blocks has no peer at all, and with
    /// [`Error::Terminated`] once closed, handing the message back in the [`SendError`].
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Error, Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// // No peer yet: PUSH blocks, so the message comes back.
    /// let err = push.try_send("hi").unwrap_err();
    /// assert_eq!(err.error, Error::NoPeer);
    /// assert_eq!(&err.msg[0][..], b"hi");
    /// # });
    /// ```
    #[allow(clippy::result_large_err)] // reason: the message is handed back unboxed, as `zmtp_proto::Socket::send` does
    pub fn try_send<'m>(&self, msg: impl IntoOutbound<'m>) -> Result<(), SendError> {
        let mut shared = self.shared.lock();
        shared.state.check_shutdown();
        match msg.into_outbound() {
            Outbound::Msg(msg) => shared.state.try_send(msg),
            Outbound::Slice(body) => shared.state.try_send_slice(body),
        }
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
        let wait = Wait::new(&self.signal);
        poll_fn(|cx| self.poll_recv(cx, Some(&wait))).await
    }

    /// Takes the next message, or parks; `live` as for [`Socket::poll_send`].
    fn poll_recv(&self, cx: &mut Context<'_>, live: Option<&Wait<'_>>) -> Poll<io::Result<Msg>> {
        let mut shared = self.shared.lock();
        shared.state.check_shutdown();
        if Wait::is_parked(live) && shared.is_still_parked(cx.waker(), true) {
            // Polled again with nothing changed: a `join!` or `select!` polls every future of
            // its task when any of them is woken.
            return Poll::Pending;
        }
        // Received in place: the message is written once, here, rather than moved out through
        // every layer's return value.
        let mut msg = Msg::new();
        match shared.state.try_recv_into(&mut msg) {
            Ok(true) => {}
            Ok(false) => {
                // About to wait: run the I/O here first, without a task switch.
                let got = shared.run_inline(cx.waker(), Wait::arm(live))
                    && match shared.state.try_recv_into(&mut msg) {
                        Ok(got) => got,
                        Err(e) => return Poll::Ready(Err(e.into())),
                    };
                if !got {
                    shared.state.park_recv(cx.waker());
                    shared.state.set_waited();
                    Wait::set_parked(live);
                    return Poll::Pending;
                }
            }
            Err(e) => return Poll::Ready(Err(e.into())),
        }
        shared.after_recv();
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
        let mut shared = self.shared.lock();
        shared.state.check_shutdown();
        let mut msg = Msg::new();
        if !shared.state.try_recv_into(&mut msg)? {
            return Ok(None);
        }
        shared.after_recv();
        Ok(Some(msg))
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
        Ok(self.shared.lock().state.subscribe(topic.as_ref(), true)?)
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
        Ok(self.shared.lock().state.subscribe(topic.as_ref(), false)?)
    }

    /// A new stream of monitor events: every event from now on, and every monitor gets every
    /// event (two monitors see the same events). Events before the call are not recorded; at
    /// most [`MONITOR_CAPACITY`](crate::MONITOR_CAPACITY) unread events are kept per monitor.
    /// The stream ends after [`MonitorEvent::Closed`](crate::MonitorEvent::Closed).
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
    pub fn monitor(&self) -> Monitor<R> {
        let id = self.shared.lock().state.start_monitor();
        Monitor {
            shared: self.shared.clone(),
            id,
        }
    }

    /// How many times this socket's driver task has been polled: a diagnostic for tests and
    /// tuning (one relaxed atomic increment per poll). An idle socket with no deadline (no
    /// heartbeat, redial or handshake timer) is polled only when something happens: the
    /// driver task sleeps until exactly the machine's next deadline, with no periodic tick.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// pull.bind("tcp://127.0.0.1:*").await.unwrap();
    /// compio::time::sleep(std::time::Duration::from_millis(50)).await;
    /// let before = pull.driver_polls();
    /// assert!(before > 0); // it ran when it was spawned and when the listener was added
    /// # });
    /// ```
    pub fn driver_polls(&self) -> u64 {
        self.signal.driver_polls()
    }

    /// The socket's [`Signal`], for diagnostics (a stress test prints its state when it sees a
    /// stall). Not part of the API a program uses.
    #[doc(hidden)]
    pub fn signal(&self) -> &Arc<Signal> {
        &self.signal
    }

    /// Closes the socket: no more sends; queued messages are flushed for up to the `linger`
    /// option (forever if it is `None`, like libzmq's default; see [`Socket::set_linger`] and
    /// [`Socket::close_with_linger`]), then every connection closes, dialling stops and the
    /// listeners close. Returns once that is done.
    ///
    /// It takes `&self`, so any task can close a shared socket (an `Arc<Socket>`): every
    /// `send` and `recv` waiting on it, in any task, and every later call ends with
    /// [`Error::Terminated`] (libzmq's `ETERM`); as a [`Stream`](futures_core::Stream) it
    /// ends. Closing twice is harmless; dropping the socket closes it too, in the background.
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
    pub async fn close(&self) {
        self.shared.lock().state.terminate(Instant::now());
        poll_fn(|cx| self.shared.lock().state.poll_finished(cx)).await;
    }
}

impl<R: Runtime> Drop for Socket<R> {
    fn drop(&mut self) {
        // Like libzmq's zmq_close: the driver keeps flushing in the background for `linger`.
        if let Some(mut shared) = self.shared.try_lock() {
            shared.state.close(Instant::now());
        }
    }
}

/// Receiving sockets are streams of messages (errors end nothing: they are yielded), until
/// the socket is closed.
impl<R: Runtime> futures_core::Stream for Socket<R> {
    type Item = io::Result<Msg>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.poll_recv(cx, None) {
            Poll::Ready(Err(e)) if matches!(Error::of(&e), Some(Error::Terminated)) => {
                Poll::Ready(None)
            }
            poll => poll.map(Some),
        }
    }
}

/// Sending sockets are sinks of messages.
impl<R: Runtime, M: Into<Msg>> futures_sink::Sink<M> for Socket<R> {
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
        let mut pending = this.sink_item.take();
        let result = this.poll_send(cx, &mut pending, None);
        this.sink_item = pending;
        result
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        <Self as futures_sink::Sink<M>>::poll_flush(self, cx)
    }
}
