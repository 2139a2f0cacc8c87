//! What borrowed sends cost in allocations (issue 21): `Socket::send` turns its argument into
//! an [`Outbound`] ([`IntoOutbound`]) and offers it to the machine, which is what this test
//! does, PUSH → PULL through two in-memory machines, counting allocations per message in the
//! steady state. A string literal is borrowed data, so since `send` took borrowed data it is
//! copied rather than wrapped zero-copy: the test measures both forms for a 16 B and a 16 KiB
//! literal (the receiving side is the same for both, so the difference is the send's).
#![allow(missing_docs, unreachable_pub)]

use std::io::IoSlice;
use std::time::Instant;

use zmtp_async::{IntoOutbound, Outbound};
use zmtp_proto::{Action, PeerId, SocketOptions};
use zmtp_proto::{Msg, Socket, SocketType};

use alloc_count::{allocations, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SMALL: &str = "0123456789abcdef";
static LARGE: &[u8] = &[b'x'; 16 * 1024];

/// A PUSH connected to a PULL.
struct Pair {
    push: Socket,
    pull: Socket,
    pp: PeerId,
    lp: PeerId,
    now: Instant,
    wire: Vec<u8>,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
        let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), now);
        let pp = push.connect("mem://pull", now);
        assert!(matches!(push.poll_action(), Some(Action::Dial { .. })));
        push.attach(pp, now);
        let lp = pull.accept(now);
        let mut pair = Self {
            push,
            pull,
            pp,
            lp,
            now,
            wire: Vec::with_capacity(1 << 20),
        };
        pair.pump();
        assert!(pair.push.peer_info(pp).is_some(), "handshake done");
        pair
    }

    fn pump(&mut self) {
        while self.flow(true) | self.flow(false) {}
    }

    fn flow(&mut self, forward: bool) -> bool {
        let (from, fp, to, tp) = if forward {
            (&mut self.push, self.pp, &mut self.pull, self.lp)
        } else {
            (&mut self.pull, self.lp, &mut self.push, self.pp)
        };
        let _ = from.poll_transmit();
        if !from.connection(fp).is_some_and(|c| c.has_transmit()) {
            return false;
        }
        self.wire.clear();
        let mut slices = [IoSlice::new(&[]); 16];
        let n = from
            .connection(fp)
            .expect("attached")
            .transmit_chunks(&mut slices);
        for s in &slices[..n] {
            self.wire.extend_from_slice(s);
        }
        let len = self.wire.len();
        if let Some(view) = from.bytes(fp) {
            view.advance_transmit(len);
        }
        let mut view = to.bytes(tp).expect("attached");
        view.read_buf().extend_from_slice(&self.wire);
        view.handle_read(self.now);
        true
    }

    /// Sends `batch` messages made by `make` as `Socket::send` does, then receives them.
    fn round<'a>(&mut self, batch: usize, make: impl Fn() -> Outbound<'a>, len: usize) {
        for _ in 0..batch {
            let mut out = make();
            out.offer(&mut self.push)
                .expect("room below the high-water mark");
        }
        self.pump();
        let mut msg = Msg::new();
        let mut got = 0;
        while self.pull.recv_into(&mut msg).unwrap() {
            assert_eq!(msg[0].len(), len);
            got += 1;
        }
        assert_eq!(got, batch);
        while self.push.poll_event().is_some() || self.pull.poll_event().is_some() {}
    }
}

fn allocations_per_message<'a>(make: impl Fn() -> Outbound<'a> + Copy, len: usize) -> f64 {
    let mut pair = Pair::new();
    for _ in 0..50 {
        pair.round(20, make, len);
    }
    let before = allocations();
    for _ in 0..500 {
        pair.round(20, make, len);
    }
    (allocations() - before) as f64 / 10_000.0
}

#[test]
fn borrowed_and_owned_literals() {
    let small_borrowed = allocations_per_message(|| SMALL.into_outbound(), SMALL.len());
    let small_owned = allocations_per_message(|| Msg::from(SMALL).into_outbound(), SMALL.len());
    let large_borrowed = allocations_per_message(|| LARGE.into_outbound(), LARGE.len());
    let large_owned = allocations_per_message(|| Msg::from(LARGE).into_outbound(), LARGE.len());
    eprintln!(
        "allocations per message, 16 B literal: borrowed {small_borrowed:.3}, owned \
         {small_owned:.3}; 16 KiB literal: borrowed {large_borrowed:.3}, owned {large_owned:.3}"
    );
    // A small literal, borrowed, goes straight into the coalescing buffer: nothing per
    // message (measured: at most one allocation in 10,000 messages, borrowed or owned, a
    // buffer growing once).
    assert!(small_borrowed <= 0.001, "{small_borrowed}");
    assert!(small_owned <= 0.001, "{small_owned}");
    // A 16 KiB literal, borrowed, is copied into a message of its own at or above the 8 KiB
    // zero-copy threshold: measured two allocations per message (the copy, and the shared
    // handle `Bytes` makes when the frame is queued without a second copy); owned
    // (`Msg::from(literal)`), none. The 0.3 both share is the receiving side.
    assert!(
        large_borrowed - large_owned <= 2.01,
        "borrowed {large_borrowed}, owned {large_owned}"
    );
}
