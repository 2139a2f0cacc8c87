//! Socket-level interop with a real libzmq (4.3.5, bundled with pyzmq): a [`Socket`] driven by
//! a tiny non-blocking `std::net` poll loop against the peers in `tests/py/sock_peer.py`.
//!
//! Covered: REQ ↔ REP both ways (R1, R2, with an empty frame inside the body), ROUTER ↔ DEALER
//! with identities on both sides (R3: libzmq's ROUTER sees our routing id; our ROUTER sees
//! libzmq's and generates a 5-byte one for an anonymous DEALER), PUB → SUB filtering both ways
//! (S1: our PUB filters for a libzmq XSUB, which does not filter locally; our SUB's
//! subscription reaches a libzmq PUB), and XPUB receiving subscriptions from libzmq SUB/XSUB
//! (S4).
//!
//! If `python3` or `zmq` is missing the tests FAIL, unless `MONOCOQUE_SKIP_INTEROP=1`.
//! Every wait is bounded; nothing can hang.
#![allow(missing_docs, unreachable_pub)]

mod pypeer;

use std::collections::{BTreeSet, HashMap};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pypeer::{python_available, PyPeer};
use zmtp_proto::{Action, PeerId, SocketEvent, SocketOptions};
use zmtp_proto::{Frame, Msg, Socket, SocketType};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sock_peer.py");
/// Upper bound for any wait in these tests.
const TIMEOUT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------
// The Python peer
// ------------------------------------------------------------------------------------------

/// The running `sock_peer.py`.
struct Peer(PyPeer);

impl Peer {
    fn spawn(args: &[&str]) -> Self {
        Self(PyPeer::spawn(SCRIPT, args))
    }

    /// A binding peer and its port.
    fn binding(scenario: &str) -> (Self, u16) {
        let peer = Self::spawn(&[scenario, "bind"]);
        let line = peer.line();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}; stderr: {}", peer.stderr()));
        (peer, port)
    }

    fn connecting(scenario: &str, port: u16) -> Self {
        Self::spawn(&[scenario, "connect", &port.to_string()])
    }

    fn stderr(&self) -> String {
        self.0.stderr()
    }

    fn line(&self) -> String {
        self.0.line(TIMEOUT)
    }

    fn exited(&mut self) -> bool {
        self.0.try_wait().is_some()
    }

    /// Waits for a successful exit after "OK", driving `driver` meanwhile (the peer may still
    /// need us to read or write).
    fn finish(mut self, driver: &mut Driver) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.0.try_wait() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "sock_peer.py did not exit; stderr: {}",
                self.stderr()
            );
            if !driver.turn() {
                thread::sleep(Duration::from_millis(2));
            }
        };
        thread::sleep(Duration::from_millis(50));
        assert!(status.success(), "sock_peer.py failed: {}", self.stderr());
        assert_eq!(self.line(), "OK", "stderr: {}", self.stderr());
    }
}

// ------------------------------------------------------------------------------------------
// A tiny blocking-free driver: non-blocking std::net sockets and a poll loop
// ------------------------------------------------------------------------------------------

struct Driver {
    socket: Socket,
    listener: Option<TcpListener>,
    streams: HashMap<PeerId, TcpStream>,
    /// Peers named by poll_transmit whose output is not written yet.
    want_write: BTreeSet<PeerId>,
    events: Vec<SocketEvent>,
    buf: Vec<u8>,
}

impl Driver {
    fn new(ty: SocketType, options: SocketOptions) -> Self {
        Self {
            socket: Socket::new(ty, options, Instant::now()),
            listener: None,
            streams: HashMap::new(),
            want_write: BTreeSet::new(),
            events: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    fn bind(&mut self) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        self.listener = Some(l);
        port
    }

    fn connect(&mut self, port: u16) -> PeerId {
        self.socket
            .connect(format!("tcp://127.0.0.1:{port}"), Instant::now())
    }

    fn add_stream(&mut self, peer: PeerId, stream: TcpStream) {
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        self.streams.insert(peer, stream);
    }

    fn drop_stream(&mut self, peer: PeerId) {
        if let Some(s) = self.streams.remove(&peer) {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.want_write.remove(&peer);
        self.socket.detach(peer, Instant::now());
    }

    /// One pass over everything; true if anything happened.
    fn turn(&mut self) -> bool {
        let mut progress = false;
        let now = Instant::now();
        if let Some(l) = &self.listener {
            let mut accepted = Vec::new();
            loop {
                match l.accept() {
                    Ok((s, _)) => accepted.push(s),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("accept: {e}"),
                }
            }
            for s in accepted {
                let peer = self.socket.accept(now);
                self.add_stream(peer, s);
                progress = true;
            }
        }
        while let Some(action) = self.socket.poll_action() {
            progress = true;
            match action {
                Action::Dial { peer, endpoint } => {
                    let addr: SocketAddr = endpoint
                        .strip_prefix("tcp://")
                        .and_then(|a| a.parse().ok())
                        .expect("tcp endpoint");
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                        Ok(s) => {
                            self.socket.attach(peer, Instant::now());
                            self.add_stream(peer, s);
                        }
                        Err(_) => self.socket.dial_failed(peer, Instant::now()),
                    }
                }
                Action::Close { peer } => {
                    self.write(peer);
                    self.drop_stream(peer);
                }
            }
        }
        while let Some(peer) = self.socket.poll_transmit() {
            self.want_write.insert(peer);
        }
        for peer in self.want_write.clone() {
            progress |= self.write(peer);
        }
        let peers: Vec<PeerId> = self.streams.keys().copied().collect();
        for peer in peers {
            progress |= self.read(peer);
        }
        if self
            .socket
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.socket.handle_timeout(Instant::now());
            progress = true;
        }
        while let Some(e) = self.socket.poll_event() {
            self.events.push(e);
            progress = true;
        }
        progress
    }

    fn write(&mut self, peer: PeerId) -> bool {
        let Some(stream) = self.streams.get_mut(&peer) else {
            self.want_write.remove(&peer);
            return false;
        };
        let mut wrote = false;
        loop {
            let mut slices = [IoSlice::new(&[]); 16];
            let n = self
                .socket
                .connection(peer)
                .map_or(0, |c| c.transmit_chunks(&mut slices));
            if n == 0 {
                self.want_write.remove(&peer);
                return wrote;
            }
            match stream.write_vectored(&slices[..n]) {
                Ok(0) => break,
                Ok(k) => {
                    if let Some(ps) = self.socket.bytes(peer) {
                        ps.advance_transmit(k);
                    }
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return wrote,
                Err(_) => break,
            }
        }
        self.drop_stream(peer);
        true
    }

    fn read(&mut self, peer: PeerId) -> bool {
        let mut got = false;
        while self.socket.connection(peer).is_some_and(|c| c.wants_read()) {
            let Some(stream) = self.streams.get_mut(&peer) else {
                return got;
            };
            match stream.read(&mut self.buf) {
                Ok(0) => {
                    self.drop_stream(peer);
                    return true;
                }
                Ok(n) => {
                    if let Some(ps) = self.socket.bytes(peer) {
                        ps.handle_input(&self.buf[..n], Instant::now());
                    }
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return got,
                Err(_) => {
                    self.drop_stream(peer);
                    return true;
                }
            }
        }
        got
    }

    /// Drives until `cond` holds; panics after TIMEOUT.
    fn until(&mut self, what: &str, peer: &Peer, mut cond: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if cond(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; peer stderr: {}",
                peer.stderr()
            );
            if !self.turn() {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// The next message, driving the loop meanwhile.
    fn recv(&mut self, peer: &Peer) -> Msg {
        let mut got = None;
        self.until("a message", peer, |d| {
            got = d.socket.recv().unwrap();
            got.is_some()
        });
        got.expect("checked")
    }
}

fn named(id: &'static str) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.connection.routing_id = Bytes::from_static(id.as_bytes());
    o
}

fn frames(m: &Msg) -> Vec<&[u8]> {
    m.iter().map(|f| &f[..]).collect()
}

// ------------------------------------------------------------------------------------------
// REQ / REP
// ------------------------------------------------------------------------------------------

/// R1: our REQ against libzmq's REP.
#[test]
fn our_req_libzmq_rep() {
    if !python_available() {
        return;
    }
    let (peer, port) = Peer::binding("rep");
    let mut d = Driver::new(SocketType::Req, SocketOptions::default());
    d.connect(port);
    for i in 0..5 {
        let q = format!("req-{i}");
        d.socket.send(Msg::from([q.clone(), "x".into()])).unwrap();
        let reply = d.recv(&peer);
        assert_eq!(frames(&reply), [q.as_bytes(), b"x", b"reply"]);
    }
    peer.finish(&mut d);
}

/// R2: our REP against libzmq's REQ; the body keeps its own empty frame (only the envelope up
/// to the first empty frame is stripped).
#[test]
fn libzmq_req_our_rep() {
    if !python_available() {
        return;
    }
    let mut d = Driver::new(SocketType::Rep, SocketOptions::default());
    let port = d.bind();
    let peer = Peer::connecting("req", port);
    for i in 0..5 {
        let request = d.recv(&peer);
        assert_eq!(frames(&request), [format!("q{i}").as_bytes(), b""]);
        let mut reply = request.clone();
        reply.push("ok");
        d.socket.send(reply).unwrap();
    }
    peer.finish(&mut d);
}

// ------------------------------------------------------------------------------------------
// ROUTER / DEALER
// ------------------------------------------------------------------------------------------

/// R3: libzmq's ROUTER sees our DEALER's routing id and routes replies back by it.
#[test]
fn our_dealer_libzmq_router() {
    if !python_available() {
        return;
    }
    let (peer, port) = Peer::binding("router");
    let mut d = Driver::new(SocketType::Dealer, named("rust-dealer"));
    d.connect(port);
    for i in 0..5 {
        d.socket
            .send(Msg::from(["hello".to_string(), i.to_string()]))
            .unwrap();
    }
    for i in 0..5 {
        let m = d.recv(&peer);
        assert_eq!(
            frames(&m),
            [&b"echo"[..], b"hello", i.to_string().as_bytes()]
        );
    }
    peer.finish(&mut d);
}

/// R3: our ROUTER takes libzmq DEALER's `Identity`, generates `0x00` + u32 for an anonymous
/// one, and routes replies to both.
#[test]
fn libzmq_dealers_our_router() {
    if !python_available() {
        return;
    }
    let mut d = Driver::new(SocketType::Router, SocketOptions::default());
    let port = d.bind();
    let peer = Peer::connecting("dealer", port);
    let mut identities = BTreeSet::new();
    for _ in 0..6 {
        let m = d.recv(&peer);
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(&m[1][..], b"hello");
        identities.insert(m[0].to_vec());
        d.socket
            .send(Msg::from_frames([
                m[0].clone(),
                Frame::from_static(b"world"),
                m[2].clone(),
            ]))
            .unwrap();
    }
    assert_eq!(identities.len(), 2);
    assert!(identities.contains(b"py-dealer".as_slice()));
    let generated = identities.iter().find(|i| *i != b"py-dealer").unwrap();
    assert_eq!(generated.len(), 5);
    assert_eq!(generated[0], 0);
    peer.finish(&mut d);
}

// ------------------------------------------------------------------------------------------
// PUB / SUB / XPUB
// ------------------------------------------------------------------------------------------

/// Publishes rounds (A, B, AB) every 10 ms until the Python subscribers are done.
fn publish_until_done(d: &mut Driver, mut peer: Peer) {
    let deadline = Instant::now() + TIMEOUT;
    let mut round = 0u32;
    let mut next = Instant::now();
    while !peer.exited() {
        assert!(Instant::now() < deadline, "stderr: {}", peer.stderr());
        if Instant::now() >= next {
            for topic in ["A", "B", "AB"] {
                d.socket
                    .send(Msg::from([topic.to_string(), round.to_string()]))
                    .unwrap();
            }
            round += 1;
            next += Duration::from_millis(10);
        }
        if !d.turn() {
            thread::sleep(Duration::from_millis(1));
        }
    }
    peer.finish(d);
}

/// S1: our PUB filters for libzmq's SUB and XSUB (the XSUB does not filter locally, so a "B"
/// reaching it would be our bug).
#[test]
fn our_pub_libzmq_sub_and_xsub() {
    if !python_available() {
        return;
    }
    let mut d = Driver::new(SocketType::Pub, SocketOptions::default());
    let port = d.bind();
    let peer = Peer::connecting("subscribers", port);
    publish_until_done(&mut d, peer);
}

/// S4: our XPUB receives the subscriptions of libzmq's SUB (SUBSCRIBE command or `0x01`
/// message) and XSUB (`0x01` message), then filters for them.
#[test]
fn our_xpub_receives_libzmq_subscriptions() {
    if !python_available() {
        return;
    }
    let mut o = SocketOptions::default();
    o.xpub_verbose = true;
    let mut d = Driver::new(SocketType::XPub, o);
    let port = d.bind();
    let peer = Peer::connecting("subscribers", port);
    let first = d.recv(&peer);
    let second = d.recv(&peer);
    assert_eq!(frames(&first), [b"\x01A"]);
    assert_eq!(frames(&second), [b"\x01A"], "verbose: both subscribers");
    publish_until_done(&mut d, peer);
}

/// S1–S3: our SUB's subscription reaches libzmq's PUB, and only matching messages arrive.
#[test]
fn libzmq_pub_our_sub() {
    if !python_available() {
        return;
    }
    let (peer, port) = Peer::binding("publisher");
    let mut d = Driver::new(SocketType::Sub, SocketOptions::default());
    let sub_peer = d.connect(port);
    d.socket.subscribe(b"A").unwrap();
    let mut got = Vec::new();
    while got.len() < 9 {
        let m = d.recv(&peer);
        got.push(m[0].clone());
    }
    assert!(
        got.iter().all(|t| &t[..] == b"A" || &t[..] == b"AB"),
        "{got:?}"
    );
    assert!(got.iter().any(|t| &t[..] == b"AB"));
    // Leave: the publisher sees us disconnect and finishes.
    let now = Instant::now();
    d.socket.disconnect(sub_peer, now);
    peer.finish(&mut d);
}
