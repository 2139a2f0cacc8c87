//! Per-message CPU cost of the steady-state send and receive paths, with no I/O: two
//! in-memory [`Socket`]s exchange 16 B messages through the vectored driver calls
//! (`transmit_chunks` + `advance_transmit`, `read_buf` + `handle_read`), `MB` per batch
//! (default 4096: more than one 64 KiB output batch, so some messages wait in the peer's queue
//! as they do behind a busy driver).
//!
//! Meant for instruction counting: run it under `valgrind --tool=callgrind` with two message
//! counts and divide the difference by the difference of counts.
//!
//! `MC=push|dealer|router MN=count MB=batch [MS=from] cargo run --release -p zmtp-proto --example msgcost`
//!
//! * `push`: PUSH → PULL, one frame;
//! * `dealer`: DEALER → ROUTER, one frame sent, two received (identity + body);
//! * `router`: ROUTER → DEALER, two frames sent (identity + body), one received.

use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;
use zmtp_proto::socket::{PeerId, SocketOptions};
use zmtp_proto::{Msg, Socket, SocketType};

const BODY: &[u8; 16] = b"0123456789abcdef";

struct Link {
    a: Socket,
    b: Socket,
    ap: PeerId,
    bp: PeerId,
    now: Instant,
}

impl Link {
    fn new(a: SocketType, b: SocketType) -> Self {
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.routing_id = Bytes::from_static(b"peer-a");
        let mut a = Socket::new(a, o, now);
        let mut b = Socket::new(b, SocketOptions::default(), now);
        let ap = a.connect("mem://b", now);
        while a.poll_action().is_some() {}
        a.attach(ap, now);
        let bp = b.accept(now);
        let mut link = Self { a, b, ap, bp, now };
        while link.flow(true) | link.flow(false) {}
        while link.a.poll_event().is_some() {}
        while link.b.poll_event().is_some() {}
        link
    }

    /// Moves what one side has to write into the other side's arena.
    fn flow(&mut self, a_to_b: bool) -> bool {
        let (from, fp, to, tp) = if a_to_b {
            (&mut self.a, self.ap, &mut self.b, self.bp)
        } else {
            (&mut self.b, self.bp, &mut self.a, self.ap)
        };
        while from.poll_transmit().is_some() {}
        let mut moved = false;
        while from.has_transmit(fp) {
            let mut iov = [IoSlice::new(&[]); 8];
            let n = from.transmit_chunks(fp, &mut iov);
            let buf = to.read_buf(tp).expect("attached");
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
            from.advance_transmit(fp, copied);
            to.handle_read(tp, self.now);
            moved = true;
        }
        moved
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
    let (a, b, two_frames) = match case.as_str() {
        "push" => (SocketType::Push, SocketType::Pull, false),
        "dealer" => (SocketType::Dealer, SocketType::Router, false),
        "router" => (SocketType::Dealer, SocketType::Router, true),
        other => panic!("unknown case {other}"),
    };
    let mut link = Link::new(a, b);
    let body = Bytes::from_static(BODY);
    let mut identity = Bytes::new();
    if two_frames {
        // Learn the DEALER's identity at the ROUTER.
        link.a.send(Msg::from(body.clone())).unwrap();
        link.flow(true);
        identity = link.b.recv().unwrap().expect("hello")[0].clone();
    }
    let start = Instant::now();
    let mut left = count;
    let mut received = 0usize;
    while left > 0 {
        let n = left.min(batch);
        for _ in 0..n {
            let (tx, mut msg) = if two_frames {
                (&mut link.b, Msg::from([identity.clone(), body.clone()]))
            } else {
                (&mut link.a, Msg::from(body.clone()))
            };
            if in_place {
                tx.send_from(&mut msg).unwrap();
            } else {
                tx.send(msg).unwrap();
            }
        }
        link.flow(!two_frames);
        let rx = if two_frames { &mut link.a } else { &mut link.b };
        if in_place {
            let mut m = Msg::new();
            while rx.recv_into(&mut m).unwrap() {
                received += m.len();
            }
        } else {
            while let Some(m) = rx.recv().unwrap() {
                received += m.len();
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
