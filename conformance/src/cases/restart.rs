//! Peer restarts under every connect-side socket type (issue 16; RFC 37 "Socket Semantics":
//! connections are remade after a delay, a connect-side queue exists before the connection and
//! outlives it; §1.12; S3: SUB and XSUB subscribe again on every new connection).
//!
//! One table (`ROWS`) names each socket type of ours that connects and the peer it talks to,
//! bound at a fixed endpoint; the peer is closed and bound again there, over TCP and IPC,
//! against libzmq and our own sockets, while the application is in one of three states:
//!
//! * parked in `recv` ([`parked_recv_redials_libzmq`]): the `recv` that waited all along gets
//!   the restarted peer's first message;
//! * parked in `send` at the high-water mark ([`parked_send_redials_libzmq`]): the parked
//!   `send` completes and only what the dying connection held is lost;
//! * busy elsewhere ([`busy_redials_libzmq`]): the application does not touch the socket
//!   while the peer is down (it only reads the monitor), sends what it has meanwhile, and
//!   comes back to find it delivered.
//!
//! In every state the socket must redial within `reconnect_ivl` (+ slack) of the new bind with
//! no call from the application, and its monitor must report `Disconnected` for the lost
//! connection (`Closed`) and `ConnectRetried` with the `reconnect_ivl` delay for each refused redial,
//! naming the endpoint as given. TCP rows connect to `tcp://localhost:PORT` (the peer binds
//! `127.0.0.1`), so every redial resolves the host name again.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use zmtp_async::Monitor;

use crate::cases::faults::{fill_to_hwm, FILL_SIZE, RECONNECT_IVL, SNDHWM};
use crate::cases::semantics::bind_retrying_with;
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{
    check_seq, free_tcp_endpoint, is_handshake, join, msg, prefixed, seq_msg, timeout, wait_event,
    within, TempDir, Transport,
};
use crate::{Driver, Either, Error, Msg, Sock, SocketEvent, SocketOptions, SocketType};

/// How long after the new bind the redial must have completed its handshake: `reconnect_ivl`
/// plus generous slack for a loaded two-core machine (the defect this guards against took
/// 28 s).
const REDIAL_BOUND: Duration = Duration::from_millis(RECONNECT_IVL.as_millis() as u64 + 300);

/// Routing id of the peer in the ROUTER row.
const SRV: &[u8] = b"srv";

/// The topic every message starts with and every subscriber subscribes to.
const TOPIC: &[u8] = b"t";

/// One connect-side socket type of ours and the peer type bound at the other end.
#[derive(Debug, Clone, Copy)]
struct Row {
    ours: SocketType,
    peer: SocketType,
}

/// Every socket type of ours, connecting, with a peer it talks to.
const ROWS: [Row; 11] = [
    Row::new(SocketType::Pull, SocketType::Push),
    Row::new(SocketType::Sub, SocketType::Pub),
    Row::new(SocketType::XSub, SocketType::Pub),
    Row::new(SocketType::Rep, SocketType::Req),
    Row::new(SocketType::Req, SocketType::Rep),
    Row::new(SocketType::Dealer, SocketType::Dealer),
    Row::new(SocketType::Pair, SocketType::Pair),
    Row::new(SocketType::Router, SocketType::Dealer),
    Row::new(SocketType::Push, SocketType::Pull),
    Row::new(SocketType::Pub, SocketType::Sub),
    Row::new(SocketType::XPub, SocketType::Sub),
];

impl Row {
    const fn new(ours: SocketType, peer: SocketType) -> Self {
        Self { ours, peer }
    }

    /// The peer sends messages our application receives (REQ's replies are handled with its
    /// requests).
    fn peer_sends(self) -> bool {
        use SocketType::*;
        matches!(self.ours, Pull | Sub | XSub | Rep | Dealer | Pair | Router)
    }

    /// Our application sends messages the peer receives.
    fn ours_sends(self) -> bool {
        use SocketType::*;
        matches!(self.ours, Req | Dealer | Pair | Router | Push | Pub | XPub)
    }

    /// What ours sends while disconnected is queued and delivered after the reconnect (the
    /// types that block rather than drop, and ROUTER, which keeps a connect-side peer's id).
    fn queues(self) -> bool {
        use SocketType::*;
        matches!(self.ours, Req | Dealer | Pair | Router | Push)
    }

    /// Messages pass only once a subscription has reached the publisher: they are sent again
    /// until one arrives.
    fn filtered(self) -> bool {
        use SocketType::*;
        matches!(self.ours, Sub | XSub | Pub | XPub)
    }

    /// The peer's options (each restart binds a new peer with them).
    fn peer_options(self) -> PeerOptions {
        PeerOptions {
            routing_id: (self.ours == SocketType::Router).then(|| SRV.into()),
            ..PeerOptions::default()
        }
    }

    /// Our socket's options.
    fn our_options(self) -> SocketOptions {
        let mut o = PeerOptions::default().to_socket_options();
        o.reconnect_ivl = RECONNECT_IVL;
        o.linger = Some(Duration::ZERO);
        o
    }

    /// What our socket receives when the peer sends `m`.
    fn incoming(self, m: &Msg) -> Msg {
        match self.ours {
            SocketType::Router => prefixed(&[SRV], m),
            _ => m.clone(),
        }
    }

    /// What our socket sends for the peer to receive `m`.
    fn outgoing(self, m: &Msg) -> Msg {
        self.incoming(m)
    }
}

/// The endpoint the peer binds and the one our socket connects to: for TCP, a fixed port on
/// `127.0.0.1` reached as `localhost`.
fn endpoints(transport: Transport, dir: &TempDir) -> (String, String) {
    match transport {
        Transport::Tcp => {
            let bind = free_tcp_endpoint();
            let port = bind.rsplit_once(':').expect("a port").1;
            let connect = format!("tcp://localhost:{port}");
            (bind, connect)
        }
        Transport::Ipc => {
            let ep = dir.ipc("restart.sock");
            (ep.clone(), ep)
        }
    }
}

/// One row's sockets: our connecting socket with its monitor, the bound peer and where. The
/// peer and the monitor are in cells, so that a restart runs while a `recv` or `send` of ours
/// is parked (on the same task, joined); no borrow of a cell lasts across an `await` (the peer
/// is shared by `Rc`, the monitor taken out while it is read).
struct Link<D: Driver> {
    row: Row,
    kind: PeerKind,
    ours: Sock<D>,
    mon: Cell<Option<Monitor<D::Runtime>>>,
    peer: RefCell<Option<Rc<Peer<D>>>>,
    bind: String,
    connect: String,
    _dir: TempDir,
}

impl<D: Driver> Link<D> {
    /// Binds the peer (with `peer_options`), connects ours (with `options`), and waits for the
    /// handshake.
    async fn start(
        row: Row,
        kind: PeerKind,
        transport: Transport,
        options: SocketOptions,
        peer_options: &PeerOptions,
    ) -> Self {
        let dir = TempDir::new();
        let (bind, connect) = endpoints(transport, &dir);
        let peer = bind_retrying_with::<D>(kind, row.peer, &bind, peer_options).await;
        if row.peer == SocketType::Sub {
            peer.subscribe(TOPIC).await;
        }
        let ours = D::socket(row.ours, options);
        let mut mon = ours.monitor();
        if matches!(row.ours, SocketType::Sub | SocketType::XSub) {
            ours.subscribe(TOPIC).await.expect("subscribe");
        }
        ours.connect(&connect).await.expect("connect");
        wait_event::<D, _>(&mut mon, Duration::from_secs(5), "handshake", is_handshake).await;
        Self {
            row,
            kind,
            ours,
            mon: Cell::new(Some(mon)),
            peer: RefCell::new(Some(Rc::new(peer))),
            bind,
            connect,
            _dir: dir,
        }
    }

    /// The current peer.
    fn peer(&self) -> Rc<Peer<D>> {
        self.peer.borrow().clone().expect("a peer")
    }

    /// Takes the current peer out (to close it): nothing else holds it by then.
    fn take_peer(&self) -> Option<Peer<D>> {
        let peer = self.peer.borrow_mut().take()?;
        Some(Rc::try_unwrap(peer).unwrap_or_else(|_| panic!("the peer is in use")))
    }

    /// Waits for a monitor event of ours, as [`wait_event`] does.
    async fn wait_event(&self, what: &str, pred: impl FnMut(&SocketEvent) -> bool) -> SocketEvent {
        let mut mon = self.mon.take().expect("the monitor");
        let e = wait_event::<D, _>(&mut mon, Duration::from_secs(5), what, pred).await;
        self.mon.set(Some(mon));
        e
    }

    fn what(&self) -> String {
        format!(
            "{}: {} peer, ours {:?} to {:?}",
            D::NAME,
            self.kind,
            self.row.ours,
            self.row.peer
        )
    }

    /// Closes the peer, waits for our `Disconnected`, leaves the endpoint free for `down`,
    /// then [`Link::come_back`]; returns when the peer was closed and how long after the new
    /// bind the handshake came.
    async fn restart(&self, down: Duration) -> (Instant, Duration) {
        let closed_at = self.go_down().await;
        (closed_at, self.come_back(down).await)
    }

    /// Closes the peer and waits for our `Disconnected`; returns when the peer was closed.
    async fn go_down(&self) -> Instant {
        let old = self.take_peer().expect("a peer");
        old.close().await;
        let closed_at = Instant::now();
        let e = self
            .wait_event("Disconnected", |e| {
                matches!(e, SocketEvent::Disconnected { .. })
            })
            .await;
        // A peer that closes (FIN, or RST when it had unread input) is reported `Closed`.
        assert!(
            matches!(
                e,
                SocketEvent::Disconnected {
                    error: Error::Closed,
                    ..
                }
            ),
            "{}: {e:?}",
            self.what()
        );
        closed_at
    }

    /// After `down`, binds a new peer where the old one was and waits for our handshake, with
    /// no call on our socket. Checks the events in between (each `ConnectRetried` announces
    /// `reconnect_ivl` and names the endpoint as given to `connect`; at least one if `down`
    /// spans two redials) and that the handshake came within [`REDIAL_BOUND`] of the new
    /// bind; returns how long after the new bind it came.
    async fn come_back(&self, down: Duration) -> Duration {
        let row = self.row;
        D::sleep(down).await;
        let peer =
            bind_retrying_with::<D>(self.kind, row.peer, &self.bind, &row.peer_options()).await;
        let bound_at = Instant::now();
        if row.peer == SocketType::Sub {
            peer.subscribe(TOPIC).await;
        }
        *self.peer.borrow_mut() = Some(Rc::new(peer));
        let mut retried = Vec::new();
        self.wait_event("a new handshake", |e| {
            if let SocketEvent::ConnectRetried {
                delay, endpoint, ..
            } = e
            {
                retried.push((*delay, endpoint.to_string()));
            }
            is_handshake(e)
        })
        .await;
        let took = bound_at.elapsed();
        let what = self.what();
        eprintln!(
            "{what}: redialled {took:?} after the new bind; {} refused redials announced \
             {:?}",
            retried.len(),
            retried.first().map(|r| r.0)
        );
        assert!(
            took <= REDIAL_BOUND,
            "{what}: redialled {took:?} after the peer came back (reconnect_ivl \
             {RECONNECT_IVL:?})"
        );
        for (delay, endpoint) in &retried {
            assert_eq!(
                (*delay, endpoint.as_str()),
                (RECONNECT_IVL, self.connect.as_str()),
                "{what}: ConnectRetried announces reconnect_ivl and the endpoint as given"
            );
        }
        if down >= RECONNECT_IVL * 2 {
            assert!(
                !retried.is_empty(),
                "{what}: no ConnectRetried while the peer was down for {down:?}"
            );
        }
        took
    }

    /// The peer sends `m`; for a filtered row again every 100 ms until `got` is set.
    async fn feed(&self, m: &Msg, got: &Cell<bool>) {
        for _ in 0..50 {
            self.peer().send(m.clone()).await;
            if !self.row.filtered() {
                return;
            }
            for _ in 0..10 {
                D::sleep(Duration::from_millis(10)).await;
                if got.get() {
                    return;
                }
            }
        }
        panic!("{}: never received {m:?}", self.what());
    }

    /// Our socket receives `got`, sent by the peer as `m`: checks it; late copies of a
    /// filtered row are swallowed (nothing else may come); REP answers.
    async fn took(&self, got: Msg, m: &Msg) {
        assert_eq!(got, self.row.incoming(m), "{}", self.what());
        if self.row.filtered() {
            while let Some(late) =
                timeout::<D, _>(Duration::from_millis(150), self.ours.recv()).await
            {
                assert_eq!(late.expect("recv"), self.row.incoming(m), "only copies");
            }
        }
        if self.row.ours == SocketType::Rep {
            let reply = prefixed(&[b"re"], m);
            self.ours.send(reply.clone()).await.expect("reply");
            assert_eq!(self.peer().recv().await, reply, "{}", self.what());
        }
    }

    /// Our `recv`, setting `got` once it completes.
    async fn recv(&self, what: &str, got: &Cell<bool>) -> Msg {
        let r = within::<D, _>(Duration::from_secs(10), what, self.ours.recv()).await;
        got.set(true);
        r.expect("recv")
    }

    /// The peer sends `m` and our socket receives it.
    async fn peer_to_ours(&self, m: &Msg) {
        let got = Cell::new(false);
        let (r, ()) = join(self.recv("recv", &got), self.feed(m, &got)).await;
        self.took(r, m).await;
    }

    /// Our socket sends `m` and the peer receives it (REQ: and the reply comes back).
    async fn ours_to_peer(&self, m: &Msg) {
        if self.row.filtered() {
            let peer = self.peer();
            for _ in 0..50 {
                self.ours.send(m.clone()).await.expect("send");
                if let Some(got) = peer.recv_timeout(Duration::from_millis(100)).await {
                    assert_eq!(&got, m);
                    for late in peer.drain(Duration::from_millis(100)).await {
                        assert_eq!(&late, m, "only copies");
                    }
                    return;
                }
            }
            panic!("{}: the peer never received {m:?}", self.what());
        }
        self.ours.send(self.row.outgoing(m)).await.expect("send");
        self.peer_takes(m).await;
    }

    /// The peer receives `m`, sent by ours; REQ gets its reply.
    async fn peer_takes(&self, m: &Msg) {
        assert_eq!(self.peer().recv().await, *m, "{}", self.what());
        if self.row.ours == SocketType::Req {
            let reply = prefixed(&[b"re"], m);
            self.peer().send(reply.clone()).await;
            let got = within::<D, _>(Duration::from_secs(10), "reply", self.ours.recv()).await;
            assert_eq!(got.expect("recv"), reply, "{}", self.what());
        }
    }

    /// One message each way the row allows.
    async fn exchange(&self, tag: &str) {
        let m = msg(&[tag]);
        if self.row.peer_sends() {
            self.peer_to_ours(&m).await;
        }
        if self.row.ours_sends() {
            self.ours_to_peer(&m).await;
        }
    }

    async fn close(self) {
        if let Some(peer) = self.take_peer() {
            peer.close().await;
        }
        within::<D, _>(Duration::from_secs(5), "close", self.ours.close()).await;
    }
}

/// What the application does while its peer restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ParkedRecv,
    ParkedSend,
    Busy,
}

impl Mode {
    /// The rows the mode applies to.
    fn applies(self, row: Row) -> bool {
        use SocketType::*;
        match self {
            Self::ParkedRecv => row.peer_sends() || row.ours == Req,
            // The types whose `send` waits at the high-water mark.
            Self::ParkedSend => matches!(row.ours, Push | Dealer | Pair),
            Self::Busy => true,
        }
    }
}

/// Runs `mode` for every row it applies to, over TCP and IPC, against peers of `kind`.
async fn restart_rows<D: Driver>(kind: PeerKind, mode: Mode) {
    let started = Instant::now();
    for transport in Transport::ALL {
        for row in ROWS.into_iter().filter(|&r| mode.applies(r)) {
            eprintln!(
                "-- {mode:?}, {kind} peer, {transport:?}: ours {:?} to {:?}",
                row.ours, row.peer
            );
            let mut options = row.our_options();
            let mut peer_options = row.peer_options();
            if mode == Mode::ParkedSend {
                // A peer that does not read, so that the path fills.
                options.sndhwm = SNDHWM;
                peer_options.rcvhwm = Some(1);
            }
            let link = Link::<D>::start(row, kind, transport, options, &peer_options).await;
            match mode {
                Mode::ParkedRecv if row.ours == SocketType::Req => parked_req(&link).await,
                Mode::ParkedRecv => parked_recv(&link).await,
                Mode::ParkedSend => parked_send(&link).await,
                Mode::Busy => busy(&link).await,
            }
            link.close().await;
        }
    }
    eprintln!(
        "{}: {mode:?}, {kind} peer: {:?}",
        D::NAME,
        started.elapsed()
    );
}

// ---- parked in `recv` ------------------------------------------------------------------------

/// The `recv` that waits while the peer restarts gets the new peer's first message.
async fn parked_recv<D: Driver>(link: &Link<D>) {
    link.exchange("t-before").await;
    let m = msg(&["t-after"]);
    let got = Cell::new(false);
    let restart = async {
        // Let the `recv` park first.
        D::sleep(Duration::from_millis(100)).await;
        link.restart(Duration::from_millis(50)).await;
        link.feed(&m, &got).await;
    };
    let (r, ()) = join(link.recv("the parked recv", &got), restart).await;
    link.took(r, &m).await;
    link.exchange("t-again").await;
}

/// REQ waits for the reply to a request the old peer took and never answered: it redials
/// while parked; the request is not sent again, as with libzmq; the `recv` keeps waiting.
async fn parked_req<D: Driver>(link: &Link<D>) {
    link.exchange("t-before").await;
    let request = msg(&["t-lost"]);
    link.ours.send(request.clone()).await.expect("send");
    assert_eq!(link.peer().recv().await, request);
    let restart = async {
        D::sleep(Duration::from_millis(100)).await;
        link.restart(Duration::from_millis(50)).await;
        link.peer().recv_timeout(Duration::from_millis(300)).await
    };
    match D::race(link.ours.recv(), restart).await {
        Either::Right(None) => {}
        Either::Right(Some(m)) => panic!(
            "{}: the request in flight was sent again to the new peer: {m:?}",
            link.what()
        ),
        Either::Left(r) => panic!("{}: the parked recv returned {r:?}", link.what()),
    }
}

/// A libzmq peer of each connect-side type restarts while our socket waits in `recv`.
pub async fn parked_recv_redials_libzmq<D: Driver>() {
    restart_rows::<D>(PeerKind::Libzmq, Mode::ParkedRecv).await;
}

/// Our own peer of each connect-side type restarts while our socket waits in `recv`.
pub async fn parked_recv_redials_ours<D: Driver>() {
    restart_rows::<D>(PeerKind::Ours, Mode::ParkedRecv).await;
}

// ---- parked in `send` at the high-water mark ---------------------------------------------------

/// §1.12 (PUSH, DEALER and PAIR block at the high-water mark and SHALL NOT drop; a message is
/// never delivered twice; messages between two peers arrive in order): our socket (`sndhwm`
/// 4) fills the path to a peer that does not read (`rcvhwm` 1) until a `send` parks; the peer
/// is closed and bound again 50 ms after our `Disconnected`. The parked `send` completes.
/// Only what was already written into the dying connection may be lost: the new peer gets an
/// in-order run without duplicates that ends with the last message sent and starts at or
/// before the parked one (everything queued after the disconnection arrives).
async fn parked_send<D: Driver>(link: &Link<D>) {
    let what = link.what();
    let fill_started = Instant::now();
    let parked = fill_to_hwm::<D>(&link.ours, 0).await;
    eprintln!(
        "{what}: at the high-water mark after {parked} messages of {FILL_SIZE} B ({:?})",
        fill_started.elapsed()
    );
    let restart = async {
        // Let the `send` park first.
        D::sleep(Duration::from_millis(100)).await;
        link.restart(Duration::from_millis(50)).await
    };
    let send = async {
        let r = within::<D, _>(
            Duration::from_secs(10),
            "the parked send",
            link.ours.send(seq_msg(parked, FILL_SIZE)),
        )
        .await;
        (r, Instant::now())
    };
    let ((sent, sent_at), (closed_at, _)) = join(send, restart).await;
    sent.expect("the parked send");
    eprintln!(
        "{what}: the parked send completed {:?} after the peer closed",
        sent_at - closed_at
    );
    assert!(
        sent_at >= closed_at,
        "{what}: the send meant to park at the high-water mark completed before the peer left"
    );
    let last = parked + 5;
    for i in parked + 1..=last {
        within::<D, _>(
            Duration::from_secs(5),
            "send after the reconnect",
            link.ours.send(seq_msg(i, FILL_SIZE)),
        )
        .await
        .expect("send");
    }
    let peer = link.peer();
    let id = |m: &Msg| u64::from_be_bytes(m[0][..8].try_into().expect("a sequence number"));
    let mut got = Vec::new();
    loop {
        let m = peer.recv().await;
        let i = id(&m);
        check_seq(&m, i, FILL_SIZE).unwrap_or_else(|e| panic!("{what}: {e}"));
        got.push(i);
        if i == last {
            break;
        }
    }
    got.extend(peer.drain(Duration::from_millis(100)).await.iter().map(id));
    let first = got[0];
    let want: Vec<u64> = (first..=last).collect();
    assert_eq!(
        got, want,
        "{what}: after the reconnect, an in-order run without duplicates ending with the last"
    );
    assert!(
        first <= parked,
        "{what}: message {parked}, queued after the disconnection, was lost (first delivered: \
         {first})"
    );
    eprintln!(
        "{what}: lost with the dying connection: {first} of {} messages",
        last + 1
    );
}

/// A libzmq peer restarts while our PUSH, DEALER or PAIR waits in `send` at the high-water
/// mark.
pub async fn parked_send_redials_libzmq<D: Driver>() {
    restart_rows::<D>(PeerKind::Libzmq, Mode::ParkedSend).await;
}

/// Our own peer restarts while our PUSH, DEALER or PAIR waits in `send` at the high-water
/// mark.
pub async fn parked_send_redials_ours<D: Driver>() {
    restart_rows::<D>(PeerKind::Ours, Mode::ParkedSend).await;
}

// ---- busy elsewhere --------------------------------------------------------------------------

/// The application leaves the socket alone while the peer is down for 250 ms (two redials are
/// refused), except to send what it has (the types that queue: four messages, REQ one
/// request, none of which may wait), and only reads the monitor. The socket redials on its
/// own; what was queued arrives first, in order; then the two exchange as before (SUB and
/// XSUB subscribed again, PUB and XPUB serving the new subscriber).
async fn busy<D: Driver>(link: &Link<D>) {
    link.exchange("t-before").await;
    link.go_down().await;
    let n = match link.row.ours {
        _ if !link.row.queues() => 0,
        SocketType::Req => 1,
        _ => 4,
    };
    let queued: Vec<Msg> = (0..n).map(|i| msg(&[&format!("t-queued-{i}")])).collect();
    for m in &queued {
        within::<D, _>(
            Duration::from_secs(1),
            "a send while disconnected",
            link.ours.send(link.row.outgoing(m)),
        )
        .await
        .expect("send");
    }
    link.come_back(Duration::from_millis(250)).await;
    for m in &queued {
        link.peer_takes(m).await;
    }
    link.exchange("t-after").await;
}

/// A libzmq peer of each connect-side type restarts while the application is busy elsewhere.
pub async fn busy_redials_libzmq<D: Driver>() {
    restart_rows::<D>(PeerKind::Libzmq, Mode::Busy).await;
}

/// Our own peer of each connect-side type restarts while the application is busy elsewhere.
pub async fn busy_redials_ours<D: Driver>() {
    restart_rows::<D>(PeerKind::Ours, Mode::Busy).await;
}
