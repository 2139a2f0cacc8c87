//! The socket layer under arbitrary operations on a small in-memory network (the test
//! harness of `zmtp-proto/tests/net`): two senders each connected to two receivers (PUSH→PULL
//! or DEALER→ROUTER), with sends, receives, partial delivery, cut links (redialled), frozen
//! links and time passing, in any order and chunking.
//!
//! Checks: no message delivered twice; messages over one connection arrive in the order sent
//! (a ROUTER names the connection by its routing id; for PULL, whose messages do not say which
//! connection brought them, order is checked only while no link has been cut: what a dead
//! connection delivered may be taken after what its successor brought, in libzmq too); every
//! timer a socket arms fires (after `handle_timeout(now)` no deadline is
//! left at or before `now`); once links thaw and time passes, every sender is connected again
//! and what was sent without a cut since arrives; no panic.
#![no_main]

#[path = "../../zmtp-proto/tests/net/mod.rs"]
mod net;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use net::{tagged, untag, Chaos, Net};
use zmtp_proto::{Msg, SocketType};

#[derive(Debug, Arbitrary)]
enum Op {
    Send(u8),
    Recv(u8, u8),
    Step(u8),
    Cut(u8),
    Freeze(u8, bool),
    Advance(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    router: bool,
    chaos: bool,
    seed: u64,
    ops: Vec<Op>,
}

const SENDERS: usize = 2;
const RECEIVERS: usize = 2;

struct Checker {
    seen: HashSet<(usize, u64)>,
    /// The last sequence number per (receiver, connection, sender); the connection is the
    /// ROUTER's routing id frame, or empty for PULL.
    last: HashMap<(usize, Vec<u8>, usize), u64>,
    cut: bool,
}

impl Checker {
    fn take(&mut self, receiver: usize, m: &Msg) {
        let frame = m.last().expect("a message has frames");
        let (sender, seq) = untag(frame);
        assert!(self.seen.insert((sender, seq)), "delivered twice: {sender}/{seq}");
        let connection = if m.len() > 1 { m[0].to_vec() } else { Vec::new() };
        if connection.is_empty() && self.cut {
            return;
        }
        let key = (receiver, connection, sender);
        if let Some(&prev) = self.last.get(&key) {
            assert!(seq > prev, "out of order from {sender} at {receiver}: {prev} then {seq}");
        }
        self.last.insert(key, seq);
    }
}

fn timers_fired(net: &Net) {
    for (i, s) in net.sockets.iter().enumerate() {
        if let Some(t) = s.poll_timeout() {
            assert!(t > net.now, "socket {i} left a deadline unfired");
        }
    }
}

fuzz_target!(|input: Input| {
    let mut net = if input.chaos {
        Net::with_chaos(input.seed, Chaos::full(Some(512)))
    } else {
        Net::new(input.seed)
    };
    let (sender_type, receiver_type) = if input.router {
        (SocketType::Dealer, SocketType::Router)
    } else {
        (SocketType::Push, SocketType::Pull)
    };
    let receivers: Vec<usize> = (0..RECEIVERS).map(|_| net.add_default(receiver_type)).collect();
    let senders: Vec<usize> = (0..SENDERS).map(|_| net.add_default(sender_type)).collect();
    for &s in &senders {
        for &r in &receivers {
            net.connect(s, r);
        }
    }
    let mut next = vec![0u64; SENDERS];
    let mut checker = Checker {
        seen: HashSet::new(),
        last: HashMap::new(),
        cut: false,
    };
    for op in input.ops.into_iter().take(200) {
        match op {
            Op::Send(s) => {
                let s = usize::from(s) % SENDERS;
                if net.sockets[senders[s]].send(tagged(s, next[s])).is_ok() {
                    next[s] += 1;
                }
            }
            Op::Recv(r, n) => {
                let r = usize::from(r) % RECEIVERS;
                for _ in 0..n % 16 {
                    match net.sockets[receivers[r]].recv() {
                        Ok(Some(m)) => checker.take(r, &m),
                        Ok(None) => break,
                        Err(e) => panic!("recv failed: {e}"),
                    }
                }
            }
            Op::Step(n) => {
                for _ in 0..n % 8 {
                    net.step();
                }
            }
            Op::Cut(i) => {
                let up = net.up_links();
                if !up.is_empty() {
                    net.cut(up[usize::from(i) % up.len()]);
                    checker.cut = true;
                }
            }
            Op::Freeze(i, frozen) => {
                if !net.links.is_empty() {
                    let i = usize::from(i) % net.links.len();
                    net.freeze(i, frozen);
                }
            }
            Op::Advance(ms) => {
                net.advance(Duration::from_millis(u64::from(ms % 2000)));
                timers_fired(&net);
            }
        }
    }
    // Thaw everything and let the redials happen.
    for i in 0..net.links.len() {
        net.freeze(i, false);
    }
    net.advance(Duration::from_secs(10));
    timers_fired(&net);
    assert_eq!(
        net.up_links().len(),
        SENDERS * RECEIVERS,
        "every sender is connected to every receiver again"
    );
    for (r, &receiver) in receivers.iter().enumerate() {
        for m in net.recv_all(receiver) {
            checker.take(r, &m);
        }
    }
});
