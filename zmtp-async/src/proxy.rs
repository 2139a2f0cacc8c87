//! The proxy: messages moved between two sockets (and copied to a third), steered through a
//! fourth, as libzmq's `zmq_proxy` and `zmq_proxy_steerable` do.
//!
//! One future on the caller's task does all of it: it takes a message from one side only when
//! the other side (and the capture socket) can take it, so the high-water marks of both sides
//! hold all the way through; it moves each message's frames (no body is copied; the capture
//! copy shares them); it runs the sockets' I/O inline as `recv` and `send` do, and parks on
//! the sockets' own wake-ups. No channel, no task of its own.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use zmtp_proto::{Error, Msg, SocketType};

use crate::runtime::{Runtime, Share};
use crate::socket::Socket;

/// Messages moved in one direction per poll before the proxy yields to the other tasks of its
/// runtime (one write of the destination's output per batch).
const BATCH: usize = 256;

/// What a proxy counted, as `zmq_proxy_steerable`'s `STATISTICS` command reports it: frames
/// (message parts) and their bytes, received from and sent to each side.
///
/// ```
/// use zmtp_async::ProxyStatistics;
/// let stats = ProxyStatistics::default();
/// assert_eq!(stats.to_frames(), [0; 8]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStatistics {
    /// Frames received from the frontend.
    pub frontend_received_frames: u64,
    /// Bytes received from the frontend (frame bodies).
    pub frontend_received_bytes: u64,
    /// Frames sent to the frontend.
    pub frontend_sent_frames: u64,
    /// Bytes sent to the frontend.
    pub frontend_sent_bytes: u64,
    /// Frames received from the backend.
    pub backend_received_frames: u64,
    /// Bytes received from the backend.
    pub backend_received_bytes: u64,
    /// Frames sent to the backend.
    pub backend_sent_frames: u64,
    /// Bytes sent to the backend.
    pub backend_sent_bytes: u64,
}

impl ProxyStatistics {
    /// The eight counters in the order of libzmq's `STATISTICS` reply: frontend received
    /// (frames, bytes), frontend sent, backend received, backend sent.
    pub fn to_frames(&self) -> [u64; 8] {
        [
            self.frontend_received_frames,
            self.frontend_received_bytes,
            self.frontend_sent_frames,
            self.frontend_sent_bytes,
            self.backend_received_frames,
            self.backend_received_bytes,
            self.backend_sent_frames,
            self.backend_sent_bytes,
        ]
    }

    fn count(&mut self, dir: Dir, frames: usize, bytes: usize, sent: bool) {
        let (f, b) = match (dir, sent) {
            (Dir::Forward, false) => (
                &mut self.frontend_received_frames,
                &mut self.frontend_received_bytes,
            ),
            (Dir::Forward, true) => (&mut self.backend_sent_frames, &mut self.backend_sent_bytes),
            (Dir::Back, false) => (
                &mut self.backend_received_frames,
                &mut self.backend_received_bytes,
            ),
            (Dir::Back, true) => (
                &mut self.frontend_sent_frames,
                &mut self.frontend_sent_bytes,
            ),
        };
        *f += frames as u64;
        *b += bytes as u64;
    }
}

/// A command the control socket of a steerable proxy takes (the first frame of a message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Pause,
    Resume,
    Terminate,
    Statistics,
}

impl Command {
    fn parse(frame: &[u8]) -> Option<Self> {
        match frame {
            b"PAUSE" => Some(Self::Pause),
            b"RESUME" => Some(Self::Resume),
            b"TERMINATE" => Some(Self::Terminate),
            b"STATISTICS" => Some(Self::Statistics),
            _ => None,
        }
    }
}

/// Frontend to backend, or back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Forward,
    Back,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }
}

fn can_send(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Pull | SocketType::Sub)
}

fn can_recv(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Push | SocketType::Pub)
}

fn closed() -> io::Error {
    io::Error::from(Error::Closed)
}

/// A proxy between a frontend and a backend socket, with an optional capture socket (which
/// gets a copy of every message moved, either way) and an optional control socket (which
/// takes `PAUSE`, `RESUME`, `TERMINATE` and `STATISTICS` as `zmq_proxy_steerable`'s does).
///
/// Messages move both ways where the socket types allow it: ROUTER↔DEALER (a queue), XSUB↔XPUB
/// (a forwarder: subscriptions flow back), PULL→PUSH (a streamer). A message is taken from a
/// side only when the other side and the capture socket can take it at once, so a slow
/// consumer holds the messages back in the producer (each side's high-water mark bounds what
/// the proxy's sockets queue). ROUTER and PUB types never wait: they route or drop as they do
/// for any sender.
///
/// [`Proxy::run`] is cancel safe: a message is taken from one side and queued on the other in
/// the same poll, so dropping the future loses nothing. (The one exception: a destination that
/// refuses a message although it reported room — a ROUTER with `router_mandatory` at a peer's
/// high-water mark — has the message kept in the `Proxy`, offered again by the next `run`.)
///
/// ```
/// use driver_compio::{Proxy, Socket, SocketType};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let (front, back) = (Socket::new(SocketType::Pull), Socket::new(SocketType::Push));
///     let front_ep = front.bind("tcp://127.0.0.1:*").await.unwrap();
///     let back_ep = back.bind("tcp://127.0.0.1:*").await.unwrap();
///     let (producer, consumer) = (Socket::new(SocketType::Push), Socket::new(SocketType::Pull));
///     producer.connect(&front_ep).await.unwrap();
///     consumer.connect(&back_ep).await.unwrap();
///     let mut proxy = Proxy::new(&front, &back);
///     producer.send("work").await.unwrap();
///     // The proxy runs until the consumer has the message; then its future is dropped.
///     let msg = match futures_util::future::select(
///         Box::pin(proxy.run()),
///         Box::pin(consumer.recv()),
///     )
///     .await
///     {
///         futures_util::future::Either::Right((msg, _)) => msg.unwrap(),
///         futures_util::future::Either::Left(_) => unreachable!("no TERMINATE, no error"),
///     };
///     assert_eq!(&msg[0][..], b"work");
///     assert_eq!(proxy.statistics().frontend_received_frames, 1);
/// });
/// ```
pub struct Proxy<'a, R: Runtime> {
    frontend: &'a Socket<R>,
    backend: &'a Socket<R>,
    capture: Option<&'a Socket<R>>,
    control: Option<&'a Socket<R>>,
    /// Which directions the socket types allow (indexed by [`Dir::index`]).
    enabled: [bool; 2],
    paused: bool,
    stats: ProxyStatistics,
    /// A message a destination refused after reporting room (see the type's docs), per
    /// direction.
    held: [Option<Msg>; 2],
    /// A reply for the control socket it could not take yet.
    reply: Option<Msg>,
}

impl<R: Runtime> std::fmt::Debug for Proxy<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend)
            .field("backend", &self.backend)
            .field("paused", &self.paused)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a, R: Runtime> Proxy<'a, R> {
    /// A proxy between `frontend` and `backend`, neither captured nor steered.
    pub fn new(frontend: &'a Socket<R>, backend: &'a Socket<R>) -> Self {
        let (f, b) = (frontend.socket_type(), backend.socket_type());
        Self {
            frontend,
            backend,
            capture: None,
            control: None,
            enabled: [can_recv(f) && can_send(b), can_recv(b) && can_send(f)],
            paused: false,
            stats: ProxyStatistics::default(),
            held: [None, None],
            reply: None,
        }
    }

    /// Sends a copy of every message moved (either way) to `capture`: the frames are shared,
    /// not copied. A capture socket that blocks (PUSH, DEALER, PAIR) holds the proxy back at
    /// its high-water mark, as libzmq's does; a PUB one drops instead.
    pub fn with_capture(mut self, capture: &'a Socket<R>) -> Self {
        self.capture = Some(capture);
        self
    }

    /// Takes steering commands from `control` (typically a REP or PAIR socket): `PAUSE` stops
    /// moving messages, `RESUME` moves them again, `TERMINATE` ends [`Proxy::run`],
    /// `STATISTICS` replies with the eight counters of [`ProxyStatistics::to_frames`], each an
    /// 8-byte frame in native byte order, as libzmq does. A REP control socket gets an empty
    /// reply to every other command (libzmq 4.3.5 sends none, leaving a REQ client stuck). An
    /// unknown command is logged and ignored (libzmq 4.3 aborts the process).
    pub fn with_control(mut self, control: &'a Socket<R>) -> Self {
        self.control = Some(control);
        self
    }

    /// What the proxy has counted so far.
    pub fn statistics(&self) -> ProxyStatistics {
        self.stats
    }

    /// True while paused by a `PAUSE` command.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Moves messages until a `TERMINATE` command (`Ok`) or until a socket fails or is closed
    /// (`Err`). Without a control socket it runs until an error. Cancel safe (see the type's
    /// docs); calling it again resumes.
    pub async fn run(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_run(cx)).await
    }

    /// One turn of the proxy: the control socket's commands, then each direction's messages.
    pub fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.control.is_some() && self.poll_control(cx)? {
            return Poll::Ready(Ok(()));
        }
        if self.paused {
            return Poll::Pending;
        }
        let mut more = false;
        for dir in [Dir::Forward, Dir::Back] {
            if self.enabled[dir.index()] {
                more |= self.forward(dir, cx)?;
            }
        }
        if more {
            // A full batch moved: let the rest of the runtime run, then carry on.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Moves up to [`BATCH`] messages in direction `dir`; true if the batch ran out with more
    /// to move.
    fn forward(&mut self, dir: Dir, cx: &mut Context<'_>) -> io::Result<bool> {
        let (src, dst) = match dir {
            Dir::Forward => (self.frontend, self.backend),
            Dir::Back => (self.backend, self.frontend),
        };
        let mut moved = 0;
        let mut more = false;
        let mut msg = Msg::new();
        loop {
            if let Some(mut held) = self.held[dir.index()].take() {
                let (frames, bytes) = (held.len(), held.byte_len());
                match offer(dst, &mut held, cx)? {
                    Offered::Queued => self.stats.count(dir, frames, bytes, true),
                    Offered::Dropped => {}
                    Offered::Full => {
                        self.held[dir.index()] = Some(held);
                        break;
                    }
                }
            }
            if moved == BATCH {
                more = true;
                break;
            }
            if !has_room(dst, cx)? || !self.capture.map_or(Ok(true), |c| has_room(c, cx))? {
                break;
            }
            if !take(src, &mut msg, cx)? {
                break;
            }
            moved += 1;
            let (frames, bytes) = (msg.len(), msg.byte_len());
            self.stats.count(dir, frames, bytes, false);
            if let Some(capture) = self.capture {
                let mut copy = msg.clone();
                if offer(capture, &mut copy, cx)? == Offered::Full {
                    // It had room a moment ago: only a peer gone in between explains this.
                    tracing::debug!("proxy: the capture socket refused a copy; dropped");
                }
            }
            match offer(dst, &mut msg, cx)? {
                Offered::Queued => self.stats.count(dir, frames, bytes, true),
                Offered::Dropped => {}
                Offered::Full => {
                    self.held[dir.index()] = Some(std::mem::take(&mut msg));
                    break;
                }
            }
        }
        if moved > 0 {
            // Write the batch from this task now rather than waiting for the driver task.
            dst.shared().lock().flush();
            if let Some(capture) = self.capture {
                capture.shared().lock().flush();
            }
        }
        Ok(more)
    }

    /// Takes and answers the control socket's commands; true on `TERMINATE`.
    fn poll_control(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let control = self.control.expect("a control socket");
        let is_rep = control.socket_type() == SocketType::Rep;
        let mut msg = Msg::new();
        loop {
            if let Some(mut reply) = self.reply.take() {
                if offer(control, &mut reply, cx)? == Offered::Full {
                    self.reply = Some(reply);
                    return Ok(false);
                }
                control.shared().lock().flush();
            }
            if !take(control, &mut msg, cx)? {
                return Ok(false);
            }
            let first = msg.first().map_or(&[][..], |f| &f[..]);
            let command = Command::parse(first);
            match command {
                Some(Command::Pause) => self.paused = true,
                Some(Command::Resume) => self.paused = false,
                Some(Command::Terminate) | Some(Command::Statistics) => {}
                None => tracing::warn!(
                    command = %String::from_utf8_lossy(first),
                    "proxy: unknown control command ignored"
                ),
            }
            tracing::debug!(?command, "proxy: control command");
            if command == Some(Command::Statistics) {
                let frames = self.stats.to_frames();
                self.reply = Some(Msg::from_frames(
                    frames.iter().map(|v| v.to_ne_bytes().to_vec()),
                ));
            } else if is_rep {
                self.reply = Some(Msg::from(""));
            }
            if command == Some(Command::Terminate) {
                if let Some(mut reply) = self.reply.take() {
                    if offer(control, &mut reply, cx)? == Offered::Queued {
                        control.shared().lock().flush();
                    }
                }
                return Ok(true);
            }
        }
    }
}

/// True if `socket` would take a message now; otherwise the task is parked until it has room.
fn has_room<R: Runtime>(socket: &Socket<R>, cx: &mut Context<'_>) -> io::Result<bool> {
    let mut shared = socket.shared().lock();
    if shared.state.is_finished() {
        return Err(closed());
    }
    if shared.state.machine().is_writable() {
        return Ok(true);
    }
    // Write out what is queued here, then look again.
    shared.run_inline(cx.waker(), false);
    if shared.state.machine().is_writable() {
        return Ok(true);
    }
    shared.state.park_send(cx.waker());
    Ok(false)
}

/// Takes the next message of `socket` into `msg`; if there is none the task is parked until
/// there is.
fn take<R: Runtime>(socket: &Socket<R>, msg: &mut Msg, cx: &mut Context<'_>) -> io::Result<bool> {
    let mut shared = socket.shared().lock();
    if shared.state.is_finished() {
        return Err(closed());
    }
    let mut got = shared.state.try_recv_into(msg)?;
    if !got && shared.run_inline(cx.waker(), false) {
        got = shared.state.try_recv_into(msg)?;
    }
    if got {
        shared.after_recv();
    } else {
        shared.state.park_recv(cx.waker());
    }
    Ok(got)
}

/// What became of a message offered to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offered {
    /// Queued.
    Queued,
    /// Refused at the high-water mark: `msg` is untouched and the task parked until there is
    /// room.
    Full,
    /// Refused for good (an unroutable message for a `router_mandatory` ROUTER, say): dropped
    /// with a log line, as a `send` that failed would drop it.
    Dropped,
}

/// Offers `msg` to `socket` (see [`Offered`]).
fn offer<R: Runtime>(
    socket: &Socket<R>,
    msg: &mut Msg,
    cx: &mut Context<'_>,
) -> io::Result<Offered> {
    let mut shared = socket.shared().lock();
    match shared.state.machine_mut().send_from(msg) {
        Ok(()) => {
            shared.state.notify_driver();
            if shared.state.machine_mut().take_flush_hint() {
                shared.flush();
            }
            Ok(Offered::Queued)
        }
        Err(Error::WouldBlock) => {
            shared.state.park_send(cx.waker());
            Ok(Offered::Full)
        }
        Err(Error::Closed) => Err(closed()),
        Err(error) => {
            tracing::debug!(%error, "proxy: message refused by its destination; dropped");
            *msg = Msg::new();
            Ok(Offered::Dropped)
        }
    }
}

/// Runs a proxy between `frontend` and `backend` (copying every message to `capture` if
/// given) until a socket fails or is closed, like libzmq's `zmq_proxy`. See [`Proxy`] for what
/// it moves and how it honours high-water marks.
///
/// ```no_run
/// use driver_tokio::{proxy, Socket, SocketType};
///
/// # async fn broker() -> std::io::Result<()> {
/// let (front, back) = (Socket::new(SocketType::Router), Socket::new(SocketType::Dealer));
/// front.bind("tcp://*:5559").await?;
/// back.bind("tcp://*:5560").await?;
/// proxy(&front, &back, None).await
/// # }
///
/// // On tokio the future is `Send`: it may run on a multi-threaded runtime's `spawn`.
/// fn assert_send<T: Send>(_: T) {}
/// fn check(front: &Socket, back: &Socket) {
///     assert_send(proxy(front, back, None));
/// }
/// ```
pub async fn proxy<R: Runtime>(
    frontend: &Socket<R>,
    backend: &Socket<R>,
    capture: Option<&Socket<R>>,
) -> io::Result<()> {
    let mut proxy = Proxy::new(frontend, backend);
    if let Some(capture) = capture {
        proxy = proxy.with_capture(capture);
    }
    proxy.run().await
}

/// [`proxy`] steered through `control` (see [`Proxy::with_control`]), like libzmq's
/// `zmq_proxy_steerable`: returns `Ok` after a `TERMINATE` command.
///
/// ```no_run
/// use driver_tokio::{proxy_steerable, Socket, SocketType};
///
/// # async fn forwarder() -> std::io::Result<()> {
/// let (front, back) = (Socket::new(SocketType::XSub), Socket::new(SocketType::XPub));
/// front.bind("tcp://*:5556").await?;
/// back.bind("tcp://*:5557").await?;
/// let control = Socket::new(SocketType::Rep);
/// control.bind("ipc://@forwarder-control").await?;
/// proxy_steerable(&front, &back, None, &control).await // until "TERMINATE"
/// # }
/// ```
pub async fn proxy_steerable<R: Runtime>(
    frontend: &Socket<R>,
    backend: &Socket<R>,
    capture: Option<&Socket<R>>,
    control: &Socket<R>,
) -> io::Result<()> {
    let mut proxy = Proxy::new(frontend, backend).with_control(control);
    if let Some(capture) = capture {
        proxy = proxy.with_capture(capture);
    }
    proxy.run().await
}
