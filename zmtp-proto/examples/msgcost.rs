//! Per-message CPU cost of the steady-state send and receive paths, with no I/O: in-memory
//! [`Socket`]s exchange messages (16 B unless `MZ` says otherwise) through the vectored driver calls
//! (`transmit_chunks` + `advance_transmit`, `read_buf` + `handle_read`), `MB` per batch
//! (default 4096: more than one 64 KiB output batch, so some messages wait in the peer's queue
//! as they do behind a busy driver).
//!
//! Meant for instruction counting: run it under `valgrind --tool=callgrind` with two message
//! counts and divide the difference by the difference of counts.
//!
//! `MC=case MN=count MB=batch [MS=from] [MZ=size] cargo run --release -p zmtp-proto --example msgcost`
//!
//! * `push`: PUSH → PULL, one frame;
//! * `dealer`: DEALER → ROUTER, one frame sent, two received (identity + body);
//! * `router`: ROUTER → DEALER, two frames sent (identity + body), one received;
//! * `rt`: DEALER → ROUTER → DEALER, the ROUTER echoing each message back (batched);
//! * `pub`: PUB → 4 SUB (each subscribed to everything); the count is of messages published;
//! * `req`: REQ → REP → REQ round trips, one at a time (no batching possible).

use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;
use zmtp_proto::{Msg, Socket, SocketType};
use zmtp_proto::{PeerId, SocketOptions};

/// Moves what `from` has to write to its peer `fp` into `to`'s arena for its peer `tp`.
fn flow(from: &mut Socket, fp: PeerId, to: &mut Socket, tp: PeerId, now: Instant) -> bool {
    while from.poll_transmit().is_some() {}
    let mut moved = false;
    while from.connection(fp).is_some_and(|c| c.has_transmit()) {
        let mut iov = [IoSlice::new(&[]); 8];
        let n = from
            .connection(fp)
            .expect("attached")
            .transmit_chunks(&mut iov);
        let mut to_view = to.bytes(tp).expect("attached");
        let buf = to_view.read_buf();
        let room = buf.capacity() - buf.len();
        let mut copied = 0;
        for s in &iov[..n] {
            let k = s.len().min(room - copied);
            buf.extend_from_slice(&s[..k]);
            copied += k;
            if copied == room {
                break;
            }
        }
        if let Some(view) = from.bytes(fp) {
            view.advance_transmit(copied);
        }
        to_view.handle_read(now);
        moved = true;
    }
    moved
}

/// One connecting socket `a` and several accepting sockets `b[i]`: `a`'s peer `ap[i]` is wired
/// to `b[i]`'s peer `bp[i]`.
struct Net {
    a: Socket,
    b: Vec<Socket>,
    ap: Vec<PeerId>,
    bp: Vec<PeerId>,
    now: Instant,
}

impl Net {
    fn new(a: SocketType, b: SocketType, fan: usize) -> Self {
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.connection.routing_id = Bytes::from_static(b"peer-a");
        let mut a = Socket::new(a, o, now);
        let mut bs = Vec::new();
        let mut ap = Vec::new();
        let mut bp = Vec::new();
        for i in 0..fan {
            let p = a.connect(format!("mem://b{i}"), now);
            while a.poll_action().is_some() {}
            a.attach(p, now);
            let mut s = Socket::new(b, SocketOptions::default(), now);
            bp.push(s.accept(now));
            ap.push(p);
            bs.push(s);
        }
        let mut net = Self {
            a,
            b: bs,
            ap,
            bp,
            now,
        };
        net.settle();
        net
    }

    fn settle(&mut self) {
        while (0..self.b.len()).any(|i| self.flow(i, true) | self.flow(i, false)) {}
        while self.a.poll_event().is_some() {}
        for b in &mut self.b {
            while b.poll_event().is_some() {}
        }
    }

    /// Moves bytes between `a` and `b[i]`, one way.
    fn flow(&mut self, i: usize, a_to_b: bool) -> bool {
        if a_to_b {
            flow(
                &mut self.a,
                self.ap[i],
                &mut self.b[i],
                self.bp[i],
                self.now,
            )
        } else {
            flow(
                &mut self.b[i],
                self.bp[i],
                &mut self.a,
                self.ap[i],
                self.now,
            )
        }
    }
}

fn recv(s: &mut Socket, in_place: bool, m: &mut Msg) -> bool {
    if in_place {
        s.recv_into(m).unwrap()
    } else {
        match s.recv().unwrap() {
            Some(got) => {
                *m = got;
                true
            }
            None => false,
        }
    }
}

fn send(s: &mut Socket, in_place: bool, mut m: Msg) {
    if in_place {
        s.send_from(&mut m).unwrap();
    } else {
        s.send(m).unwrap();
    }
}

fn main() {
    let case = std::env::var("MC").unwrap_or_else(|_| "push".into());
    let count: usize = std::env::var("MN")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let batch: usize = std::env::var("MB")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4096);
    // MS=from sends with `Socket::send_from` and receives with `Socket::recv_into`.
    let in_place = std::env::var("MS").is_ok_and(|v| v == "from");
    let (a, b, fan) = match case.as_str() {
        "push" => (SocketType::Push, SocketType::Pull, 1),
        "dealer" | "router" | "rt" => (SocketType::Dealer, SocketType::Router, 1),
        "pub" => (SocketType::Pub, SocketType::Sub, 4),
        "req" => (SocketType::Req, SocketType::Rep, 1),
        other => panic!("unknown case {other}"),
    };
    let mut net = Net::new(a, b, fan);
    if case == "pub" {
        for s in &mut net.b {
            s.subscribe(b"").unwrap();
        }
        net.settle();
    }
    // MZ=size: the body size in bytes (default 16).
    let size: usize = std::env::var("MZ")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16);
    let body = Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut identity = zmtp_proto::Frame::new();
    if case == "router" {
        // Learn the DEALER's identity at the ROUTER.
        net.a.send(Msg::from(body.clone())).unwrap();
        net.flow(0, true);
        identity = net.b[0].recv().unwrap().expect("hello")[0].clone();
    }
    let start = Instant::now();
    let mut left = count;
    let mut received = 0usize;
    let mut m = Msg::new();
    while left > 0 {
        let n = if case == "req" { 1 } else { left.min(batch) };
        match case.as_str() {
            "router" => {
                for _ in 0..n {
                    let msg = Msg::from([identity.clone(), body.clone().into()]);
                    send(&mut net.b[0], in_place, msg);
                }
                net.flow(0, false);
                while recv(&mut net.a, in_place, &mut m) {
                    received += m.len();
                }
            }
            "rt" | "req" => {
                for _ in 0..n {
                    send(&mut net.a, in_place, Msg::from(body.clone()));
                }
                net.flow(0, true);
                while recv(&mut net.b[0], in_place, &mut m) {
                    send(&mut net.b[0], in_place, std::mem::take(&mut m));
                }
                net.flow(0, false);
                // A REQ takes one reply per request (another recv would be an error).
                while recv(&mut net.a, in_place, &mut m) {
                    received += m.len();
                    if case == "req" {
                        break;
                    }
                }
            }
            _ => {
                for _ in 0..n {
                    send(&mut net.a, in_place, Msg::from(body.clone()));
                }
                for i in 0..fan {
                    net.flow(i, true);
                    while recv(&mut net.b[i], in_place, &mut m) {
                        received += m.len();
                    }
                }
            }
        }
        left -= n;
    }
    let el = start.elapsed();
    println!(
        "{case}: {count} msgs ({received} frames) in {el:?}: {:.1} ns/msg",
        el.as_nanos() as f64 / count as f64
    );
}
