//! The three kinds of peer behind one type, [`Peer`]: our own socket, a libzmq socket in a
//! std thread ([`Libzmq`]) and a zmq.rs socket on its own tokio runtime in a std thread
//! ([`ZmqRs`]).
//!
//! The remote kinds are actors: [`Op`]s go to the thread over a channel, and the answer comes
//! back on a runtime-agnostic [`oneshot`], so awaiting it lets the driver
//! under test run. Every blocking call in a peer thread has a timeout, so no peer can hang a
//! test; a peer whose thread died answers with an error.

use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::util::{check_seq, oneshot, seq_msg, timeout, OneshotSender};
use crate::{Driver, Msg, Sock, SocketOptions, SocketType};
use zmtp_proto::MechanismConfig;
use zmtp_proto::{PlainCredentials, PlainUsers};

/// How long any single receive waits before the case fails.
pub const RECV_LIMIT: Duration = Duration::from_secs(10);

/// Which implementation a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// A socket of the driver under test.
    Ours,
    /// libzmq 4.3.4 (the `zmq` crate).
    Libzmq,
    /// zmq.rs 0.7 (the `zeromq` crate).
    ZmqRs,
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ours => "ours",
            Self::Libzmq => "libzmq",
            Self::ZmqRs => "zmq.rs",
        })
    }
}

/// Heartbeat settings (libzmq's `ZMQ_HEARTBEAT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// PING interval.
    pub ivl: Duration,
    /// How long to wait for traffic after a PING.
    pub timeout: Duration,
    /// TTL announced in our PINGs: the peer drops us if it hears nothing for this long.
    pub ttl: Option<Duration>,
}

/// Options a peer of any kind can take (those the kind does not support are ignored where
/// noted).
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Routing id sent as `Identity` (`ZMQ_ROUTING_ID`; zmq.rs: `peer_identity`).
    pub routing_id: Option<Bytes>,
    /// Heartbeats (not supported by zmq.rs: ignored there).
    pub heartbeat: Option<Heartbeat>,
    /// Send high-water mark (zmq.rs: ignored).
    pub sndhwm: Option<usize>,
    /// Receive high-water mark (zmq.rs: ignored).
    pub rcvhwm: Option<usize>,
    /// The PLAIN mechanism (not supported by zmq.rs: ignored there).
    pub plain: Option<Plain>,
    /// ROUTER: a newcomer with a routing id in use takes it over (`ZMQ_ROUTER_HANDOVER`;
    /// zmq.rs: ignored).
    pub router_handover: bool,
    /// Delay before redialling a lost connection (`ZMQ_RECONNECT_IVL`; 100 ms when unset;
    /// zmq.rs: ignored).
    pub reconnect_ivl: Option<Duration>,
}

/// A PLAIN role (RFC 24).
#[derive(Debug, Clone)]
pub enum Plain {
    /// A client presenting these credentials (`ZMQ_PLAIN_USERNAME`, `ZMQ_PLAIN_PASSWORD`).
    Client {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A server letting in these `(user name, password)` pairs (`ZMQ_PLAIN_SERVER`; libzmq
    /// checks them in a ZAP handler the peer runs in its context, RFC 27).
    Server {
        /// Who may connect.
        users: Vec<(String, String)>,
    },
    /// A server given no users at all: libzmq's `ZMQ_PLAIN_SERVER` with no ZAP handler in its
    /// context; ours with [`PlainUsers::none`]. Both refuse every client.
    ServerWithoutUsers,
}

impl PeerOptions {
    /// Our socket options for these settings.
    pub fn to_socket_options(&self) -> SocketOptions {
        let mut o = SocketOptions::default();
        if let Some(id) = &self.routing_id {
            o.connection.routing_id = id.clone();
        }
        if let Some(hb) = self.heartbeat {
            o.connection.heartbeat_ivl = Some(hb.ivl);
            o.connection.heartbeat_timeout = Some(hb.timeout);
            o.connection.heartbeat_ttl = hb.ttl;
        }
        if let Some(h) = self.sndhwm {
            o.sndhwm = h;
        }
        if let Some(h) = self.rcvhwm {
            o.connection.rcvhwm = h;
        }
        match &self.plain {
            None => {}
            Some(Plain::Client { username, password }) => {
                o.connection.mechanism = MechanismConfig::PlainClient(
                    PlainCredentials::new(username.clone(), password.clone())
                        .expect("credentials of at most 255 bytes"),
                );
            }
            Some(Plain::Server { users }) => {
                o.connection.mechanism =
                    MechanismConfig::PlainServer(PlainUsers::new(users.clone()));
            }
            Some(Plain::ServerWithoutUsers) => {
                o.connection.mechanism = MechanismConfig::PlainServer(PlainUsers::none());
            }
        }
        o.router_handover = self.router_handover;
        if let Some(ivl) = self.reconnect_ivl {
            o.reconnect_ivl = ivl;
        }
        o.linger = Some(Duration::from_secs(2));
        o
    }
}

/// What a remote peer's monitor reported (libzmq's `zmq_socket_monitor` events; zmq.rs maps
/// the few it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// Connected (TCP level).
    Connected,
    /// Accepted a connection.
    Accepted,
    /// ZMTP handshake done.
    HandshakeSucceeded,
    /// ZMTP handshake failed (protocol, auth or other).
    HandshakeFailed,
    /// A connection ended.
    Disconnected,
    /// Anything else (raw libzmq event number).
    Other(u16),
}

/// A command for a remote peer's thread.
#[derive(Debug)]
pub enum Op {
    /// Bind; answers the endpoint bound.
    Bind(String),
    /// Connect.
    Connect(String),
    /// Send one message.
    Send(Msg),
    /// Receive one message, waiting at most this long.
    Recv(Duration),
    /// Subscribe (SUB: option; XSUB: `0x01 topic` message).
    Subscribe(Bytes),
    /// Unsubscribe.
    Unsubscribe(Bytes),
    /// Send [`seq_msg`]`(0..n, size)`, sleeping `pause` after every `pause_every` messages
    /// (0 = never).
    SendSeq {
        /// How many.
        n: u64,
        /// Frame size.
        size: usize,
        /// Pause period in messages.
        pause_every: u64,
        /// Pause length.
        pause: Duration,
    },
    /// Receive and check [`seq_msg`]`(0..n, size)`, waiting at most `timeout` for each;
    /// sleeps `pause` after every `pause_every` messages (0 = never). Answers the count.
    RecvSeq {
        /// How many.
        n: u64,
        /// Frame size.
        size: usize,
        /// Wait per message.
        timeout: Duration,
        /// Pause period in messages.
        pause_every: u64,
        /// Pause length.
        pause: Duration,
    },
    /// Monitor events recorded since the last call.
    Events,
    /// Close the socket; the thread ends.
    Close,
}

/// A remote peer's answer.
#[derive(Debug)]
pub enum Reply {
    /// Done.
    Unit,
    /// The endpoint bound.
    Endpoint(String),
    /// A message.
    Msg(Msg),
    /// A count.
    Count(u64),
    /// Monitor events.
    Events(Vec<PeerEvent>),
}

type Answer = Result<Reply, String>;
type Job = (Op, OneshotSender<Answer>);

async fn ask(name: &str, send: impl FnOnce(Job) -> bool, op: Op) -> Answer {
    let what = format!("{op:?}");
    let what = if what.len() > 80 { &what[..80] } else { &what };
    let (tx, rx) = oneshot();
    if !send((op, tx)) {
        return Err(format!("{name}: peer thread is gone ({what})"));
    }
    rx.await
        .unwrap_or_else(|| Err(format!("{name}: peer thread died during {what}")))
}

// ---- libzmq --------------------------------------------------------------------------------

/// A libzmq socket owned by a std thread.
#[derive(Debug)]
pub struct Libzmq {
    name: String,
    tx: Option<mpsc::Sender<Job>>,
}

fn lz_type(ty: SocketType) -> zmq::SocketType {
    match ty {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        SocketType::Pull => zmq::PULL,
        SocketType::Push => zmq::PUSH,
        SocketType::XPub => zmq::XPUB,
        SocketType::XSub => zmq::XSUB,
        SocketType::Stream => zmq::STREAM,
    }
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

struct LzState {
    ty: SocketType,
    sock: zmq::Socket,
    monitor: zmq::Socket,
}

impl Libzmq {
    /// A libzmq socket of type `ty` with `opts`, monitored from the start.
    pub fn new(ty: SocketType, opts: &PeerOptions) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let opts = opts.clone();
        let name = format!("libzmq {ty}");
        let thread_name = name.clone();
        thread::Builder::new()
            .name(name.replace(' ', "-"))
            .spawn(move || {
                let ctx = zmq::Context::new();
                let state = match lz_open(&ctx, ty, &opts) {
                    Ok(s) => s,
                    Err(e) => {
                        // Answer every job with the error.
                        for (_, reply) in rx {
                            reply.send(Err(format!("{thread_name}: setup failed: {e}")));
                        }
                        return;
                    }
                };
                let mut state = Some(state);
                for (op, reply) in rx {
                    let Some(s) = state.as_mut() else {
                        reply.send(Err(format!("{thread_name}: socket closed")));
                        continue;
                    };
                    let close = matches!(op, Op::Close);
                    let answer = lz_run(s, op).map_err(|e| format!("{thread_name}: {e}"));
                    if close {
                        state = None; // zmq_close; the context ends with the thread
                    }
                    reply.send(answer);
                }
                // Terminate the context explicitly: a ZAP handler's socket holds it too and
                // leaves its thread once `zmq_ctx_term` interrupts its receive (ETERM).
                drop(state);
                let mut ctx = ctx;
                let _ = ctx.destroy();
            })
            .expect("spawn libzmq peer thread");
        Self { name, tx: Some(tx) }
    }

    /// Runs one operation in the peer's thread.
    pub async fn op(&self, op: Op) -> Answer {
        let tx = self.tx.as_ref();
        ask(
            &self.name,
            |job| tx.is_some_and(|t| t.send(job).is_ok()),
            op,
        )
        .await
    }
}

fn lz_open(ctx: &zmq::Context, ty: SocketType, o: &PeerOptions) -> zmq::Result<LzState> {
    static MONITORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sock = ctx.socket(lz_type(ty))?;
    sock.set_linger(1000)?;
    sock.set_sndtimeo(ms(RECV_LIMIT))?;
    sock.set_reconnect_ivl(o.reconnect_ivl.map_or(100, ms))?;
    if o.router_handover {
        sock.set_router_handover(true)?;
    }
    if let Some(id) = &o.routing_id {
        sock.set_identity(id)?;
    }
    if let Some(hb) = o.heartbeat {
        sock.set_heartbeat_ivl(ms(hb.ivl))?;
        sock.set_heartbeat_timeout(ms(hb.timeout))?;
        if let Some(ttl) = hb.ttl {
            sock.set_heartbeat_ttl(ms(ttl))?;
        }
    }
    if let Some(h) = o.sndhwm {
        sock.set_sndhwm(h as i32)?;
    }
    if let Some(h) = o.rcvhwm {
        sock.set_rcvhwm(h as i32)?;
    }
    match &o.plain {
        None => {}
        Some(Plain::Client { username, password }) => {
            sock.set_plain_username(Some(username))?;
            sock.set_plain_password(Some(password))?;
        }
        Some(Plain::Server { users }) => {
            lz_zap_handler(ctx, users.clone())?;
            sock.set_plain_server(true)?;
        }
        Some(Plain::ServerWithoutUsers) => sock.set_plain_server(true)?,
    }
    let n = MONITORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mon_ep = format!("inproc://monitor-{}-{n}", std::process::id());
    sock.monitor(&mon_ep, zmq::SocketEvent::ALL as i32)?;
    let monitor = ctx.socket(zmq::PAIR)?;
    monitor.set_linger(0)?;
    monitor.connect(&mon_ep)?;
    Ok(LzState { ty, sock, monitor })
}

/// Starts a ZAP handler (RFC 27) in `ctx`: a REP socket at `inproc://zeromq.zap.01` in its own
/// thread that answers PLAIN requests with 200 for `users` and 400 for anyone else. The thread
/// ends when the context terminates.
fn lz_zap_handler(ctx: &zmq::Context, users: Vec<(String, String)>) -> zmq::Result<()> {
    let zap = ctx.socket(zmq::REP)?;
    zap.set_linger(0)?;
    zap.bind("inproc://zeromq.zap.01")?;
    thread::Builder::new()
        .name("libzmq-zap".into())
        .spawn(move || {
            // Request: version, request id, domain, address, identity, mechanism,
            // credentials... (RFC 27).
            while let Ok(req) = zap.recv_multipart(0) {
                let ok = req.len() == 8
                    && req[5] == b"PLAIN"
                    && users
                        .iter()
                        .any(|(u, p)| req[6] == u.as_bytes() && req[7] == p.as_bytes());
                let (code, text, user): (&[u8], &[u8], &[u8]) = if ok {
                    (b"200", b"OK", &req[6])
                } else {
                    (b"400", b"bad credentials", b"")
                };
                let id = req.get(1).cloned().unwrap_or_default();
                let reply: [&[u8]; 6] = [b"1.0", &id, code, text, user, b""];
                if zap.send_multipart(reply, 0).is_err() {
                    break;
                }
            }
        })
        .map_err(|_| zmq::Error::EFAULT)?;
    Ok(())
}

fn lz_recv(sock: &zmq::Socket, limit: Duration) -> Result<Msg, String> {
    sock.set_rcvtimeo(ms(limit)).map_err(|e| e.to_string())?;
    match sock.recv_multipart(0) {
        Ok(frames) => Ok(frames.into_iter().map(Bytes::from).collect()),
        Err(zmq::Error::EAGAIN) => Err(format!("no message within {limit:?}")),
        Err(e) => Err(format!("recv: {e}")),
    }
}

fn lz_send(sock: &zmq::Socket, msg: &Msg) -> Result<(), String> {
    let frames: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
    sock.send_multipart(frames, 0)
        .map_err(|e| format!("send: {e}"))
}

fn lz_run(s: &mut LzState, op: Op) -> Answer {
    let e = |e: zmq::Error| e.to_string();
    match op {
        Op::Bind(ep) => {
            s.sock.bind(&ep).map_err(|x| format!("bind {ep}: {x}"))?;
            let last = s.sock.get_last_endpoint().map_err(e)?;
            Ok(Reply::Endpoint(last.unwrap_or(ep)))
        }
        Op::Connect(ep) => {
            s.sock
                .connect(&ep)
                .map_err(|x| format!("connect {ep}: {x}"))?;
            Ok(Reply::Unit)
        }
        Op::Send(m) => lz_send(&s.sock, &m).map(|()| Reply::Unit),
        Op::Recv(limit) => lz_recv(&s.sock, limit).map(Reply::Msg),
        Op::Subscribe(t) => lz_subscribe(s, &t, true),
        Op::Unsubscribe(t) => lz_subscribe(s, &t, false),
        Op::SendSeq {
            n,
            size,
            pause_every,
            pause,
        } => {
            for i in 0..n {
                lz_send(&s.sock, &seq_msg(i, size)).map_err(|x| format!("message {i}: {x}"))?;
                if pause_every > 0 && (i + 1) % pause_every == 0 {
                    thread::sleep(pause);
                }
            }
            Ok(Reply::Unit)
        }
        Op::RecvSeq {
            n,
            size,
            timeout,
            pause_every,
            pause,
        } => {
            for i in 0..n {
                let m = lz_recv(&s.sock, timeout)
                    .map_err(|x| format!("after {i} of {n} messages: {x}"))?;
                check_seq(&m, i, size)?;
                if pause_every > 0 && (i + 1) % pause_every == 0 {
                    thread::sleep(pause);
                }
            }
            Ok(Reply::Count(n))
        }
        Op::Events => {
            let mut out = Vec::new();
            while let Ok(frames) = s.monitor.recv_multipart(zmq::DONTWAIT) {
                let Some(head) = frames.first().filter(|f| f.len() >= 2) else {
                    continue;
                };
                let raw = u16::from_le_bytes([head[0], head[1]]);
                out.push(match zmq::SocketEvent::from_raw(raw) {
                    zmq::SocketEvent::CONNECTED => PeerEvent::Connected,
                    zmq::SocketEvent::ACCEPTED => PeerEvent::Accepted,
                    zmq::SocketEvent::HANDSHAKE_SUCCEEDED => PeerEvent::HandshakeSucceeded,
                    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL
                    | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL
                    | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH => PeerEvent::HandshakeFailed,
                    zmq::SocketEvent::DISCONNECTED => PeerEvent::Disconnected,
                    _ => PeerEvent::Other(raw),
                });
            }
            Ok(Reply::Events(out))
        }
        Op::Close => Ok(Reply::Unit),
    }
}

fn lz_subscribe(s: &LzState, topic: &[u8], on: bool) -> Answer {
    match s.ty {
        SocketType::Sub => {
            if on {
                s.sock.set_subscribe(topic)
            } else {
                s.sock.set_unsubscribe(topic)
            }
            .map_err(|e| e.to_string())?;
        }
        SocketType::XSub => {
            let mut frame = Vec::with_capacity(topic.len() + 1);
            frame.push(u8::from(on));
            frame.extend_from_slice(topic);
            s.sock.send(frame, 0).map_err(|e| e.to_string())?;
        }
        other => return Err(format!("{other} cannot subscribe")),
    }
    Ok(Reply::Unit)
}

// ---- zmq.rs --------------------------------------------------------------------------------

/// A zmq.rs socket on a current-thread tokio runtime of its own, in a std thread (so it works
/// next to any driver's runtime, compio's included).
#[derive(Debug)]
pub struct ZmqRs {
    name: String,
    tx: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
}

enum ZSock {
    Req(zeromq::ReqSocket),
    Rep(zeromq::RepSocket),
    Dealer(zeromq::DealerSocket),
    Router(zeromq::RouterSocket),
    Pub(zeromq::PubSocket),
    Sub(zeromq::SubSocket),
    XPub(zeromq::XPubSocket),
    XSub(zeromq::XSubSocket),
    Push(zeromq::PushSocket),
    Pull(zeromq::PullSocket),
}

macro_rules! zs_all {
    ($s:expr, $x:ident => $body:expr) => {
        match $s {
            ZSock::Req($x) => $body,
            ZSock::Rep($x) => $body,
            ZSock::Dealer($x) => $body,
            ZSock::Router($x) => $body,
            ZSock::Pub($x) => $body,
            ZSock::Sub($x) => $body,
            ZSock::XPub($x) => $body,
            ZSock::XSub($x) => $body,
            ZSock::Push($x) => $body,
            ZSock::Pull($x) => $body,
        }
    };
}

impl ZSock {
    fn new(ty: SocketType, o: &PeerOptions) -> Result<Self, String> {
        use zeromq::Socket as _;
        let opts = || {
            let mut so = zeromq::SocketOptions::default();
            if let Some(id) = &o.routing_id {
                if let Ok(pid) = zeromq::util::PeerIdentity::try_from(id.clone()) {
                    so.peer_identity(pid);
                }
            }
            so
        };
        Ok(match ty {
            SocketType::Req => Self::Req(zeromq::ReqSocket::with_options(opts())),
            SocketType::Rep => Self::Rep(zeromq::RepSocket::with_options(opts())),
            SocketType::Dealer => Self::Dealer(zeromq::DealerSocket::with_options(opts())),
            SocketType::Router => Self::Router(zeromq::RouterSocket::with_options(opts())),
            SocketType::Pub => Self::Pub(zeromq::PubSocket::with_options(opts())),
            SocketType::Sub => Self::Sub(zeromq::SubSocket::with_options(opts())),
            SocketType::XPub => Self::XPub(zeromq::XPubSocket::with_options(opts())),
            SocketType::XSub => Self::XSub(zeromq::XSubSocket::with_options(opts())),
            SocketType::Push => Self::Push(zeromq::PushSocket::with_options(opts())),
            SocketType::Pull => Self::Pull(zeromq::PullSocket::with_options(opts())),
            SocketType::Pair => return Err("zmq.rs has no PAIR socket".into()),
            SocketType::Stream => return Err("zmq.rs has no STREAM socket".into()),
        })
    }

    /// Sends; where libzmq would queue (no peer connected yet) or drop (ROUTER: unknown
    /// identity), zmq.rs returns an error at once: retry for up to [`RECV_LIMIT`], so that
    /// cases can treat zmq.rs like the others.
    async fn send(&mut self, m: Msg) -> Result<(), String> {
        let deadline = Instant::now() + RECV_LIMIT;
        loop {
            match self.send_once(m.clone()).await {
                Err(e)
                    if (e.contains("Not connected to peers")
                        || e.contains("not found by identity"))
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                r => return r,
            }
        }
    }

    async fn send_once(&mut self, m: Msg) -> Result<(), String> {
        use zeromq::SocketSend as _;
        let zm = zeromq::ZmqMessage::try_from(m.into_iter().map(Bytes::from).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
        let r = match self {
            Self::Req(s) => s.send(zm).await,
            Self::Rep(s) => s.send(zm).await,
            Self::Dealer(s) => s.send(zm).await,
            Self::Router(s) => s.send(zm).await,
            Self::Pub(s) => s.send(zm).await,
            Self::XPub(s) => s.send(zm).await,
            Self::XSub(s) => s.send(zm).await,
            Self::Push(s) => s.send(zm).await,
            Self::Sub(_) | Self::Pull(_) => return Err("this type cannot send".into()),
        };
        r.map_err(|e| format!("send: {e}"))
    }

    async fn recv(&mut self, limit: Duration) -> Result<Msg, String> {
        use zeromq::SocketRecv as _;
        let fut = async {
            match self {
                Self::Req(s) => s.recv().await,
                Self::Rep(s) => s.recv().await,
                Self::Dealer(s) => s.recv().await,
                Self::Router(s) => s.recv().await,
                Self::Sub(s) => s.recv().await,
                Self::XPub(s) => s.recv().await,
                Self::XSub(s) => s.recv().await,
                Self::Pull(s) => s.recv().await,
                Self::Pub(_) | Self::Push(_) => Err(zeromq::ZmqError::Other("cannot receive")),
            }
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(m)) => Ok(m.into_vec().into_iter().collect()),
            Ok(Err(e)) => Err(format!("recv: {e}")),
            Err(_) => Err(format!("no message within {limit:?}")),
        }
    }
}

struct ZState {
    ty: SocketType,
    sock: ZSock,
}

impl ZmqRs {
    /// A zmq.rs socket of type `ty` (routing id honoured; heartbeats and HWMs are not
    /// supported by zmq.rs and ignored).
    pub fn new(ty: SocketType, opts: &PeerOptions) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let opts = opts.clone();
        let name = format!("zmq.rs {ty}");
        let thread_name = name.clone();
        thread::Builder::new()
            .name(name.replace(' ', "-"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for zmq.rs");
                rt.block_on(async move {
                    let mut state = match ZSock::new(ty, &opts) {
                        Ok(sock) => Some(ZState { ty, sock }),
                        Err(e) => {
                            while let Some((_, reply)) = rx.recv().await {
                                reply.send(Err(format!("{thread_name}: {e}")));
                            }
                            return;
                        }
                    };
                    while let Some((op, reply)) = rx.recv().await {
                        let Some(s) = state.as_mut() else {
                            reply.send(Err(format!("{thread_name}: socket closed")));
                            continue;
                        };
                        if matches!(op, Op::Close) {
                            if let Some(s) = state.take() {
                                use zeromq::Socket as _;
                                zs_all!(s.sock, x => { let _ = x.close().await; });
                            }
                            reply.send(Ok(Reply::Unit));
                            continue;
                        }
                        let answer = zs_run(s, op).await;
                        reply.send(answer.map_err(|e| format!("{thread_name}: {e}")));
                    }
                });
            })
            .expect("spawn zmq.rs peer thread");
        Self { name, tx: Some(tx) }
    }

    /// Runs one operation in the peer's thread.
    pub async fn op(&self, op: Op) -> Answer {
        let tx = self.tx.as_ref();
        ask(
            &self.name,
            |job| tx.is_some_and(|t| t.send(job).is_ok()),
            op,
        )
        .await
    }
}

async fn zs_run(s: &mut ZState, op: Op) -> Answer {
    use zeromq::Socket as _;
    match op {
        Op::Bind(ep) => {
            // zmq.rs wants a numeric port: `*` becomes 0.
            let ep = match ep.strip_suffix(":*") {
                Some(head) if ep.starts_with("tcp://") => format!("{head}:0"),
                _ => ep,
            };
            let bound = zs_all!(&mut s.sock, x => x.bind(&ep).await)
                .map_err(|e| format!("bind {ep}: {e}"))?;
            Ok(Reply::Endpoint(bound.to_string()))
        }
        Op::Connect(ep) => {
            zs_all!(&mut s.sock, x => x.connect(&ep).await)
                .map_err(|e| format!("connect {ep}: {e}"))?;
            Ok(Reply::Unit)
        }
        Op::Send(m) => s.sock.send(m).await.map(|()| Reply::Unit),
        Op::Recv(limit) => s.sock.recv(limit).await.map(Reply::Msg),
        Op::Subscribe(t) => zs_subscribe(s, &t, true).await,
        Op::Unsubscribe(t) => zs_subscribe(s, &t, false).await,
        Op::SendSeq {
            n,
            size,
            pause_every,
            pause,
        } => {
            for i in 0..n {
                s.sock
                    .send(seq_msg(i, size))
                    .await
                    .map_err(|x| format!("message {i}: {x}"))?;
                if pause_every > 0 && (i + 1) % pause_every == 0 {
                    tokio::time::sleep(pause).await;
                }
            }
            Ok(Reply::Unit)
        }
        Op::RecvSeq {
            n,
            size,
            timeout,
            pause_every,
            pause,
        } => {
            for i in 0..n {
                let m = s
                    .sock
                    .recv(timeout)
                    .await
                    .map_err(|x| format!("after {i} of {n} messages: {x}"))?;
                check_seq(&m, i, size)?;
                if pause_every > 0 && (i + 1) % pause_every == 0 {
                    tokio::time::sleep(pause).await;
                }
            }
            Ok(Reply::Count(n))
        }
        Op::Events => Err("zmq.rs monitor events are not collected".into()),
        Op::Close => Ok(Reply::Unit),
    }
}

async fn zs_subscribe(s: &mut ZState, topic: &[u8], on: bool) -> Answer {
    let t = std::str::from_utf8(topic).map_err(|_| "zmq.rs topics must be UTF-8".to_owned())?;
    let r = match &mut s.sock {
        ZSock::Sub(x) if on => x.subscribe(t).await,
        ZSock::Sub(x) => x.unsubscribe(t).await,
        ZSock::XSub(x) if on => x.subscribe(t).await,
        ZSock::XSub(x) => x.unsubscribe(t).await,
        _ => return Err(format!("{} cannot subscribe", s.ty)),
    };
    r.map_err(|e| format!("subscribe: {e}"))?;
    Ok(Reply::Unit)
}

// ---- any peer ------------------------------------------------------------------------------

/// A peer of any kind, with panicking helpers (a failed peer operation fails the case, with
/// the peer's name and the reason).
pub enum Peer<D: Driver> {
    /// A socket of the driver under test.
    Ours(Sock<D>, SocketType),
    /// libzmq.
    Libzmq(Libzmq, SocketType),
    /// zmq.rs.
    ZmqRs(ZmqRs, SocketType),
}

impl<D: Driver> fmt::Debug for Peer<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.socket_type())
    }
}

impl<D: Driver> Peer<D> {
    /// A peer with default options.
    pub fn new(kind: PeerKind, ty: SocketType) -> Self {
        Self::with(kind, ty, &PeerOptions::default())
    }

    /// A peer with `opts`.
    pub fn with(kind: PeerKind, ty: SocketType, opts: &PeerOptions) -> Self {
        match kind {
            PeerKind::Ours => Self::Ours(D::socket(ty, opts.to_socket_options()), ty),
            PeerKind::Libzmq => Self::Libzmq(Libzmq::new(ty, opts), ty),
            PeerKind::ZmqRs => Self::ZmqRs(ZmqRs::new(ty, opts), ty),
        }
    }

    /// Which implementation this is.
    pub fn kind(&self) -> PeerKind {
        match self {
            Self::Ours(..) => PeerKind::Ours,
            Self::Libzmq(..) => PeerKind::Libzmq,
            Self::ZmqRs(..) => PeerKind::ZmqRs,
        }
    }

    /// Its socket type.
    pub fn socket_type(&self) -> SocketType {
        match self {
            Self::Ours(_, t) | Self::Libzmq(_, t) | Self::ZmqRs(_, t) => *t,
        }
    }

    /// Our socket, if this is one.
    pub fn ours(&self) -> Option<&Sock<D>> {
        match self {
            Self::Ours(s, _) => Some(s),
            _ => None,
        }
    }

    async fn remote(&self, op: Op) -> Answer {
        match self {
            Self::Libzmq(p, _) => p.op(op).await,
            Self::ZmqRs(p, _) => p.op(op).await,
            Self::Ours(..) => unreachable!("remote op on our own socket"),
        }
    }

    fn fail(&self, what: &str, e: impl fmt::Display) -> ! {
        panic!("{} peer {self:?}: {what} failed: {e}", D::NAME)
    }

    /// Binds; returns the endpoint bound.
    pub async fn bind(&self, endpoint: &str) -> String {
        let r = match self {
            Self::Ours(s, _) => s.bind(endpoint).await.map_err(|e| e.to_string()),
            _ => self
                .remote(Op::Bind(endpoint.to_owned()))
                .await
                .map(|r| match r {
                    Reply::Endpoint(e) => e,
                    other => panic!("unexpected reply {other:?}"),
                }),
        };
        r.unwrap_or_else(|e| self.fail(&format!("bind {endpoint}"), e))
    }

    /// Connects.
    pub async fn connect(&self, endpoint: &str) {
        let r = self.try_connect(endpoint).await;
        r.unwrap_or_else(|e| self.fail(&format!("connect {endpoint}"), e));
    }

    /// Connects, returning the error (zmq.rs's `connect` waits for the handshake and fails
    /// when the peer refuses it).
    pub async fn try_connect(&self, endpoint: &str) -> Result<(), String> {
        match self {
            Self::Ours(s, _) => s.connect(endpoint).await.map_err(|e| e.to_string()),
            _ => self
                .remote(Op::Connect(endpoint.to_owned()))
                .await
                .map(drop),
        }
    }

    /// Sends one message (waits at most [`RECV_LIMIT`]).
    pub async fn send(&self, msg: Msg) {
        self.try_send(msg)
            .await
            .unwrap_or_else(|e| self.fail("send", e));
    }

    /// Sends one message (waits at most [`RECV_LIMIT`]), reporting a failure instead of
    /// failing the case: for a peer that may have no connection left to send on (a refused
    /// libzmq client drops its pipe and does not redial).
    pub async fn try_send(&self, msg: Msg) -> Result<(), String> {
        match self {
            Self::Ours(s, _) => match timeout::<D, _>(RECV_LIMIT, s.send(msg)).await {
                Some(r) => r.map_err(|e| e.to_string()),
                None => Err(format!("blocked for {RECV_LIMIT:?}")),
            },
            _ => self.remote(Op::Send(msg)).await.map(drop),
        }
    }

    /// Receives one message, or `None` after `limit`.
    pub async fn recv_timeout(&self, limit: Duration) -> Option<Msg> {
        match self {
            Self::Ours(s, _) => timeout::<D, _>(limit, s.recv())
                .await
                .map(|r| r.unwrap_or_else(|e| self.fail("recv", e))),
            _ => match self.remote(Op::Recv(limit)).await {
                Ok(Reply::Msg(m)) => Some(m),
                Ok(other) => panic!("unexpected reply {other:?}"),
                Err(e) if e.contains("no message within") => None,
                Err(e) => self.fail("recv", e),
            },
        }
    }

    /// Receives one message (fails the case after [`RECV_LIMIT`]).
    pub async fn recv(&self) -> Msg {
        match self.recv_timeout(RECV_LIMIT).await {
            Some(m) => m,
            None => self.fail("recv", format!("nothing within {RECV_LIMIT:?}")),
        }
    }

    /// Subscribes (SUB and XSUB).
    pub async fn subscribe(&self, topic: &[u8]) {
        let r = match self {
            Self::Ours(s, _) => s.subscribe(topic).await.map_err(|e| e.to_string()),
            _ => self
                .remote(Op::Subscribe(Bytes::copy_from_slice(topic)))
                .await
                .map(drop),
        };
        r.unwrap_or_else(|e| self.fail("subscribe", e));
    }

    /// Unsubscribes (SUB and XSUB).
    pub async fn unsubscribe(&self, topic: &[u8]) {
        let r = match self {
            Self::Ours(s, _) => s.unsubscribe(topic).await.map_err(|e| e.to_string()),
            _ => self
                .remote(Op::Unsubscribe(Bytes::copy_from_slice(topic)))
                .await
                .map(drop),
        };
        r.unwrap_or_else(|e| self.fail("unsubscribe", e));
    }

    /// Sends [`seq_msg`]`(0..n, size)`. For a remote peer the work happens in its thread, so
    /// this future may be joined with work on our sockets.
    pub async fn send_seq(&self, n: u64, size: usize) {
        self.send_seq_paced(n, size, 0, Duration::ZERO).await;
    }

    /// Like [`Peer::send_seq`], sleeping `pause` after every `pause_every` messages.
    pub async fn send_seq_paced(&self, n: u64, size: usize, pause_every: u64, pause: Duration) {
        let r = match self {
            Self::Ours(s, _) => {
                let mut r = Ok(());
                for i in 0..n {
                    match timeout::<D, _>(RECV_LIMIT, s.send(seq_msg(i, size))).await {
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            r = Err(format!("message {i}: {e}"));
                            break;
                        }
                        None => {
                            r = Err(format!("message {i}: blocked for {RECV_LIMIT:?}"));
                            break;
                        }
                    }
                    if pause_every > 0 && (i + 1) % pause_every == 0 {
                        D::sleep(pause).await;
                    }
                }
                r
            }
            _ => self
                .remote(Op::SendSeq {
                    n,
                    size,
                    pause_every,
                    pause,
                })
                .await
                .map(drop),
        };
        r.unwrap_or_else(|e| self.fail("send_seq", e));
    }

    /// Receives and checks [`seq_msg`]`(0..n, size)`, pausing `pause` every `pause_every`
    /// messages (0 = never).
    pub async fn recv_seq(&self, n: u64, size: usize, pause_every: u64, pause: Duration) {
        let r = match self {
            Self::Ours(s, _) => {
                let mut r = Ok(());
                for i in 0..n {
                    let m = match timeout::<D, _>(RECV_LIMIT, s.recv()).await {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => {
                            r = Err(format!("after {i} of {n}: {e}"));
                            break;
                        }
                        None => {
                            r = Err(format!("after {i} of {n}: nothing within {RECV_LIMIT:?}"));
                            break;
                        }
                    };
                    if let Err(e) = check_seq(&m, i, size) {
                        r = Err(e);
                        break;
                    }
                    if pause_every > 0 && (i + 1) % pause_every == 0 {
                        D::sleep(pause).await;
                    }
                }
                r
            }
            _ => self
                .remote(Op::RecvSeq {
                    n,
                    size,
                    timeout: RECV_LIMIT,
                    pause_every,
                    pause,
                })
                .await
                .map(drop),
        };
        r.unwrap_or_else(|e| self.fail("recv_seq", e));
    }

    /// Receives everything that arrives until the peer is quiet for `quiet`; returns the
    /// messages.
    pub async fn drain(&self, quiet: Duration) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(m) = self.recv_timeout(quiet).await {
            out.push(m);
        }
        out
    }

    /// The remote peer's monitor events since the last call (libzmq only).
    pub async fn events(&self) -> Vec<PeerEvent> {
        match self.remote(Op::Events).await {
            Ok(Reply::Events(v)) => v,
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(e) => self.fail("events", e),
        }
    }

    /// Closes the socket (ours: flushes for its linger, 2 s).
    pub async fn close(self) {
        match self {
            Self::Ours(s, _) => {
                if timeout::<D, _>(Duration::from_secs(5), s.close())
                    .await
                    .is_none()
                {
                    panic!("{}: our socket did not close within 5 s", D::NAME);
                }
            }
            other => {
                let r = other.remote(Op::Close).await;
                r.unwrap_or_else(|e| other.fail("close", e));
            }
        }
    }
}

/// Waits until `f` is true, checking every 10 ms, for at most `limit`.
pub async fn eventually<D: Driver>(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        D::sleep(Duration::from_millis(10)).await;
    }
}

/// A future that is just `f`, typed for joining (helps inference in generic cases).
pub fn boxed_local<'a, T>(
    f: impl Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(f)
}
