//! An omq.rs peer ([`Omq`]): one `omq-tokio` 0.33 socket, with CURVE when asked, on a
//! current-thread tokio runtime of its own in a std thread, so it works next to any driver's
//! runtime (compio's included), as [`crate::peer::ZmqRs`] does for zmq.rs.
//!
//! It is an actor: [`OmqOp`]s go to the thread over a channel and the answer comes back on a
//! runtime-agnostic [`oneshot`], so awaiting it lets the driver under test run. Every operation
//! is bounded by a timeout in the peer's thread ([`OP_LIMIT`], or the receive limit given), so
//! a peer always answers. omq's monitor is read from the start by a task of the peer's runtime;
//! [`Omq::events`] hands over what it recorded, in the peer's own words ([`OmqEvent`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use omq_tokio::{
    CurveKeypair, CurvePublicKey, CurveSecretKey, CurveServerOptions, DisconnectReason, Message,
    MonitorEvent, MonitorRecvError, Options, PeerPublicKey, Socket,
};

use crate::util::{check_seq, oneshot, seq_msg, OneshotSender};
use crate::{Driver, Msg, SocketType};

/// The longest any operation may take in the peer's thread (a send blocked at the high-water
/// mark, a connect, a close, a whole [`OmqOp::RecvSeq`]) before it answers with an error; just
/// under [`crate::CASE_LIMIT`].
pub const OP_LIMIT: Duration = Duration::from_secs(50);

/// omq's CURVE role. Keys are raw 32-byte Curve25519 keys; omq derives its own public key from
/// its secret one (`CurveSecretKey::derive_public`).
#[derive(Debug, Clone)]
pub enum OmqCurve {
    /// No security (NULL).
    Null,
    /// A CURVE server (`Options::curve_server_with_options`): with `allow`, omq's authenticator
    /// admits only these client keys; without, any client that knows the server's key.
    Server {
        /// omq's long-term secret key.
        secret: [u8; 32],
        /// The client keys admitted (`None`: any).
        allow: Option<Vec<[u8; 32]>>,
    },
    /// A CURVE client (`Options::curve_client`).
    Client {
        /// omq's long-term secret key.
        secret: [u8; 32],
        /// The server's long-term public key, as omq is told it.
        server: [u8; 32],
    },
}

/// The options of an omq peer.
#[derive(Debug, Clone)]
pub struct OmqOptions {
    /// The security mechanism.
    pub curve: OmqCurve,
    /// PINGs every `.0`, dropping the peer after `.1` without traffic
    /// (`heartbeat_interval`, `heartbeat_timeout`).
    pub heartbeat: Option<(Duration, Duration)>,
}

impl OmqOptions {
    /// Just this mechanism, no heartbeats.
    pub fn curve(curve: OmqCurve) -> Self {
        Self {
            curve,
            heartbeat: None,
        }
    }
}

/// What omq's monitor reported, reduced to what the cases check (the detail stays in the
/// strings, for failure messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OmqEvent {
    /// `Listening`.
    Listening,
    /// `Accepted` (TCP level).
    Accepted,
    /// `Connected` (TCP level).
    Connected,
    /// `HandshakeSucceeded`, with the peer's long-term CURVE key as omq authenticated it.
    HandshakeSucceeded {
        /// `PeerInfo::authentication`'s public key, if any.
        curve_key: Option<[u8; 32]>,
    },
    /// `HandshakeFailed { reason }`.
    HandshakeFailed(String),
    /// `ConnectStopped` or `Disconnected` because the peer sent ERROR during the handshake:
    /// the ERROR's reason (`HandshakeRefusal::reason`, `"400"` for a refusal).
    Refused(String),
    /// `Disconnected`, with its reason.
    Disconnected(String),
    /// `SubscribeReceived` (PUB/XPUB), the prefix.
    SubscribeReceived(Bytes),
    /// Anything else (the monitor event's `Debug`).
    Other(String),
}

fn classify(e: &MonitorEvent) -> OmqEvent {
    match e {
        MonitorEvent::Listening { .. } => OmqEvent::Listening,
        MonitorEvent::Accepted { .. } => OmqEvent::Accepted,
        MonitorEvent::Connected { .. } => OmqEvent::Connected,
        MonitorEvent::HandshakeSucceeded { peer, .. } => OmqEvent::HandshakeSucceeded {
            curve_key: match &peer.authentication.public_key {
                Some(PeerPublicKey::Curve(k)) => Some(*k),
                _ => None,
            },
        },
        MonitorEvent::HandshakeFailed { reason, .. } => OmqEvent::HandshakeFailed(reason.clone()),
        MonitorEvent::ConnectStopped {
            reason: DisconnectReason::HandshakeRefused(r),
            ..
        }
        | MonitorEvent::Disconnected {
            reason: DisconnectReason::HandshakeRefused(r),
            ..
        } => OmqEvent::Refused(r.reason.clone()),
        MonitorEvent::Disconnected { reason, .. } => OmqEvent::Disconnected(format!("{reason:?}")),
        MonitorEvent::SubscribeReceived { prefix, .. } => {
            OmqEvent::SubscribeReceived(prefix.clone())
        }
        other => OmqEvent::Other(format!("{other:?}")),
    }
}

/// A command for the omq peer's thread.
#[derive(Debug)]
pub enum OmqOp {
    /// Bind (`tcp://host:*` becomes port 0); answers the endpoint bound.
    Bind(String),
    /// Connect.
    Connect(String),
    /// Subscribe (SUB).
    Subscribe(Bytes),
    /// Send one message.
    Send(Msg),
    /// Receive one message, waiting at most this long.
    Recv(Duration),
    /// Send [`seq_msg`]`(0..n, size)`.
    SendSeq {
        /// How many.
        n: u64,
        /// Frame size.
        size: usize,
    },
    /// Receive and check [`seq_msg`]`(0..n, size)`, waiting at most `timeout` for each.
    /// Answers the count.
    RecvSeq {
        /// How many.
        n: u64,
        /// Frame size.
        size: usize,
        /// Wait per message.
        timeout: Duration,
    },
    /// Receive `n` messages, waiting at most `timeout` for each; answers them.
    RecvMany {
        /// How many.
        n: usize,
        /// Wait per message.
        timeout: Duration,
    },
    /// Publish one message per topic (`topic` then a number), round after round, 100 rounds
    /// at a time then a millisecond's pause, until `stop` is set; answers the rounds sent.
    PublishUntil {
        /// The topics of each round.
        topics: Vec<Bytes>,
        /// Set by the case when it has seen enough.
        stop: Arc<AtomicBool>,
    },
    /// The client keys omq's authenticator was asked about (CURVE server with `allow`).
    AskedKeys,
    /// Monitor events recorded since the last call.
    Events,
    /// Close the socket (linger 2 s).
    Close,
}

/// The omq peer's answer.
#[derive(Debug)]
pub enum OmqReply {
    /// Done.
    Unit,
    /// The endpoint bound.
    Endpoint(String),
    /// A message.
    Msg(Msg),
    /// Messages.
    Msgs(Vec<Msg>),
    /// A count.
    Count(u64),
    /// Keys.
    Keys(Vec<[u8; 32]>),
    /// Monitor events.
    Events(Vec<OmqEvent>),
}

type Answer = Result<OmqReply, String>;
type Job = (OmqOp, OneshotSender<Answer>);

/// One omq.rs socket on a current-thread tokio runtime in a thread of its own.
pub struct Omq {
    name: String,
    tx: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
}

impl fmt::Debug for Omq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn omq_type(ty: SocketType) -> omq_tokio::SocketType {
    use omq_tokio::SocketType as O;
    match ty {
        SocketType::Pair => O::Pair,
        SocketType::Pub => O::Pub,
        SocketType::Sub => O::Sub,
        SocketType::Req => O::Req,
        SocketType::Rep => O::Rep,
        SocketType::Dealer => O::Dealer,
        SocketType::Router => O::Router,
        SocketType::Pull => O::Pull,
        SocketType::Push => O::Push,
        SocketType::XPub => O::XPub,
        SocketType::XSub => O::XSub,
        SocketType::Stream => O::Stream,
    }
}

fn keypair(secret: [u8; 32]) -> CurveKeypair {
    let secret = CurveSecretKey::from_bytes(secret);
    CurveKeypair {
        public: secret.derive_public(),
        secret,
    }
}

/// omq's options for `o`; the keys its authenticator is asked about go to `asked`.
fn omq_options(o: &OmqOptions, asked: &Arc<Mutex<Vec<[u8; 32]>>>) -> Options {
    let mut opts = Options::default().linger(Duration::from_secs(2));
    if let Some((ivl, timeout)) = o.heartbeat {
        opts = opts.heartbeat_interval(ivl).heartbeat_timeout(timeout);
    }
    match &o.curve {
        OmqCurve::Null => opts,
        OmqCurve::Server { secret, allow } => {
            let mut server = CurveServerOptions::default();
            if let Some(allow) = allow.clone() {
                let asked = Arc::clone(asked);
                server = server.authenticator(move |info| {
                    asked.lock().expect("asked keys").push(info.public_key);
                    allow.contains(&info.public_key)
                });
            }
            opts.curve_server_with_options(keypair(*secret), server)
        }
        OmqCurve::Client { secret, server } => {
            opts.curve_client(keypair(*secret), CurvePublicKey::from_bytes(*server))
        }
    }
}

fn to_omq(m: Msg) -> Message {
    Message::multipart(m.into_iter().map(Bytes::from).collect::<Vec<_>>())
}

fn from_omq(m: &Message) -> Msg {
    m.iter().collect()
}

struct State {
    sock: Option<Socket>,
    events: Arc<Mutex<Vec<OmqEvent>>>,
    asked: Arc<Mutex<Vec<[u8; 32]>>>,
}

impl Omq {
    /// An omq socket of type `ty` with `opts`, monitored from the start.
    pub fn new(ty: SocketType, opts: OmqOptions) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let name = format!("omq.rs {ty}");
        let thread_name = name.clone();
        thread::Builder::new()
            .name(name.replace(' ', "-"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for omq.rs");
                rt.block_on(async move {
                    let asked = Arc::new(Mutex::new(Vec::new()));
                    let sock = Socket::new(omq_type(ty), omq_options(&opts, &asked));
                    let events = Arc::new(Mutex::new(Vec::new()));
                    let mut monitor = sock.monitor();
                    let record = Arc::clone(&events);
                    tokio::spawn(async move {
                        loop {
                            let e = match monitor.recv().await {
                                Ok(e) => classify(&e),
                                Err(MonitorRecvError::Lagged(n)) => {
                                    OmqEvent::Other(format!("monitor lagged by {n}"))
                                }
                                Err(_) => break,
                            };
                            record.lock().expect("events").push(e);
                        }
                    });
                    let mut state = State {
                        sock: Some(sock),
                        events,
                        asked,
                    };
                    while let Some((op, reply)) = rx.recv().await {
                        let what = format!("{op:?}");
                        let what = if what.len() > 60 { &what[..60] } else { &what };
                        let answer = match tokio::time::timeout(OP_LIMIT, run(&mut state, op)).await
                        {
                            Ok(a) => a,
                            Err(_) => Err(format!("{what} took over {OP_LIMIT:?}")),
                        };
                        reply.send(answer.map_err(|e| format!("{thread_name}: {e}")));
                    }
                });
            })
            .expect("spawn omq.rs peer thread");
        Self { name, tx: Some(tx) }
    }

    /// Runs one operation in the peer's thread.
    pub async fn op(&self, op: OmqOp) -> Answer {
        let what = format!("{op:?}");
        let what = if what.len() > 60 { &what[..60] } else { &what };
        let (tx, rx) = oneshot();
        if self.tx.as_ref().is_none_or(|t| t.send((op, tx)).is_err()) {
            return Err(format!("{}: peer thread is gone ({what})", self.name));
        }
        rx.await
            .unwrap_or_else(|| Err(format!("{}: peer thread died during {what}", self.name)))
    }

    async fn must(&self, op: OmqOp) -> OmqReply {
        let what = format!("{op:?}");
        let what = if what.len() > 60 { &what[..60] } else { &what };
        match self.op(op).await {
            Ok(r) => r,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Binds; the endpoint bound. Panics on failure.
    pub async fn bind(&self, endpoint: &str) -> String {
        match self.must(OmqOp::Bind(endpoint.into())).await {
            OmqReply::Endpoint(e) => e,
            r => panic!("{}: bind answered {r:?}", self.name),
        }
    }

    /// Connects. Panics on failure.
    pub async fn connect(&self, endpoint: &str) {
        self.must(OmqOp::Connect(endpoint.into())).await;
    }

    /// Subscribes (SUB). Panics on failure.
    pub async fn subscribe(&self, prefix: &[u8]) {
        self.must(OmqOp::Subscribe(Bytes::copy_from_slice(prefix)))
            .await;
    }

    /// Sends one message. Panics on failure.
    pub async fn send(&self, m: Msg) {
        self.must(OmqOp::Send(m)).await;
    }

    /// The next message, waiting at most `limit`; `None` if none came.
    pub async fn recv_timeout(&self, limit: Duration) -> Result<Msg, String> {
        match self.op(OmqOp::Recv(limit)).await? {
            OmqReply::Msg(m) => Ok(m),
            r => Err(format!("{}: recv answered {r:?}", self.name)),
        }
    }

    /// Sends [`seq_msg`]`(0..n, size)`. Panics on failure.
    pub async fn send_seq(&self, n: u64, size: usize) {
        self.must(OmqOp::SendSeq { n, size }).await;
    }

    /// Receives and checks [`seq_msg`]`(0..n, size)`, each within `timeout`. Panics on a
    /// missing, reordered or corrupt message.
    pub async fn recv_seq(&self, n: u64, size: usize, timeout: Duration) {
        self.must(OmqOp::RecvSeq { n, size, timeout }).await;
    }

    /// Receives `n` messages, each within `timeout`. Panics if one does not come.
    pub async fn recv_many(&self, n: usize, timeout: Duration) -> Vec<Msg> {
        match self.must(OmqOp::RecvMany { n, timeout }).await {
            OmqReply::Msgs(m) => m,
            r => panic!("{}: recv answered {r:?}", self.name),
        }
    }

    /// Publishes `topics` round after round until `stop` is set; the rounds sent.
    pub async fn publish_until(&self, topics: &[&[u8]], stop: Arc<AtomicBool>) -> u64 {
        let topics = topics.iter().map(|t| Bytes::copy_from_slice(t)).collect();
        match self.must(OmqOp::PublishUntil { topics, stop }).await {
            OmqReply::Count(n) => n,
            r => panic!("{}: publish answered {r:?}", self.name),
        }
    }

    /// The client keys omq's authenticator was asked about so far.
    pub async fn asked_keys(&self) -> Vec<[u8; 32]> {
        match self.must(OmqOp::AskedKeys).await {
            OmqReply::Keys(k) => k,
            r => panic!("{}: asked keys answered {r:?}", self.name),
        }
    }

    /// The monitor events recorded since the last call.
    pub async fn events(&self) -> Vec<OmqEvent> {
        match self.must(OmqOp::Events).await {
            OmqReply::Events(e) => e,
            r => panic!("{}: events answered {r:?}", self.name),
        }
    }

    /// Waits (up to `limit`) until omq's monitor reports an event matching `pred`; answers
    /// every event seen until then. Panics on timeout, listing them.
    pub async fn wait_event<D: Driver>(
        &self,
        limit: Duration,
        what: &str,
        mut pred: impl FnMut(&OmqEvent) -> bool,
    ) -> Vec<OmqEvent> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let new = self.events().await;
            let found = new.iter().any(&mut pred);
            seen.extend(new);
            if found {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} reported no {what} within {limit:?}; it saw {seen:?}",
                D::NAME,
                self.name
            );
            D::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes the socket (2 s linger) and lets the thread end.
    pub async fn close(mut self) {
        let r = self.op(OmqOp::Close).await;
        self.tx = None;
        if let Err(e) = r {
            panic!("close: {e}");
        }
    }
}

async fn run(s: &mut State, op: OmqOp) -> Answer {
    if matches!(op, OmqOp::Events) {
        return Ok(OmqReply::Events(std::mem::take(
            &mut *s.events.lock().expect("events"),
        )));
    }
    if matches!(op, OmqOp::AskedKeys) {
        return Ok(OmqReply::Keys(s.asked.lock().expect("asked").clone()));
    }
    if matches!(op, OmqOp::Close) {
        return match s.sock.take() {
            Some(sock) => sock
                .close()
                .await
                .map(|()| OmqReply::Unit)
                .map_err(|e| format!("close: {e}")),
            None => Err("already closed".into()),
        };
    }
    let Some(sock) = s.sock.as_ref() else {
        return Err("socket closed".into());
    };
    match op {
        OmqOp::Bind(ep) => {
            let ep = match ep.strip_suffix(":*") {
                Some(head) if ep.starts_with("tcp://") => format!("{head}:0"),
                _ => ep,
            };
            let bound = sock
                .bind(ep.as_str())
                .await
                .map_err(|e| format!("bind {ep}: {e}"))?;
            Ok(OmqReply::Endpoint(bound.to_string()))
        }
        OmqOp::Connect(ep) => {
            sock.connect(ep.as_str())
                .await
                .map_err(|e| format!("connect {ep}: {e}"))?;
            Ok(OmqReply::Unit)
        }
        OmqOp::Subscribe(p) => {
            sock.subscribe(p)
                .await
                .map_err(|e| format!("subscribe: {e}"))?;
            Ok(OmqReply::Unit)
        }
        OmqOp::Send(m) => {
            sock.send(to_omq(m))
                .await
                .map_err(|e| format!("send: {e}"))?;
            Ok(OmqReply::Unit)
        }
        OmqOp::Recv(limit) => recv(sock, limit).await.map(OmqReply::Msg),
        OmqOp::SendSeq { n, size } => {
            for i in 0..n {
                sock.send(to_omq(seq_msg(i, size)))
                    .await
                    .map_err(|e| format!("message {i}: send: {e}"))?;
            }
            Ok(OmqReply::Unit)
        }
        OmqOp::RecvSeq { n, size, timeout } => {
            for i in 0..n {
                let m = recv(sock, timeout)
                    .await
                    .map_err(|e| format!("after {i} of {n} messages: {e}"))?;
                check_seq(&m, i, size)?;
            }
            Ok(OmqReply::Count(n))
        }
        OmqOp::RecvMany { n, timeout } => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(
                    recv(sock, timeout)
                        .await
                        .map_err(|e| format!("after {i} of {n} messages: {e}"))?,
                );
            }
            Ok(OmqReply::Msgs(out))
        }
        OmqOp::PublishUntil { topics, stop } => {
            let mut round = 0u64;
            while !stop.load(Ordering::Acquire) {
                for _ in 0..100 {
                    for t in &topics {
                        let mut body = t.to_vec();
                        body.extend_from_slice(round.to_string().as_bytes());
                        sock.send(Message::single(body))
                            .await
                            .map_err(|e| format!("publish: {e}"))?;
                    }
                    round += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(OmqReply::Count(round))
        }
        OmqOp::AskedKeys | OmqOp::Events | OmqOp::Close => unreachable!("handled above"),
    }
}

async fn recv(sock: &Socket, limit: Duration) -> Result<Msg, String> {
    match tokio::time::timeout(limit, sock.recv()).await {
        Ok(Ok(m)) => Ok(from_omq(&m)),
        Ok(Err(e)) => Err(format!("recv: {e}")),
        Err(_) => Err(format!("no message within {limit:?}")),
    }
}
