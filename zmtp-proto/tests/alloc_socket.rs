//! Steady-state DEALER → ROUTER traffic (and the replies back) through two in-memory
//! [`Socket`]s allocates nothing per message once warmed up: sending encodes into a reused
//! buffer, reading decodes small frames inline (larger ones zero-copy out of a reused arena),
//! messages of up to three frames live inline, and the socket's queues keep their capacity.
//!
//! Both I/O styles are measured: vectored (`transmit_chunks` + `advance_transmit`, `read_buf`
//! + `handle_read`) and owned buffers (`take_transmit`, `take_read_buf` + `give_read_buf`).
#![allow(missing_docs, unreachable_pub)]

use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;
use zmtp_proto::{Action, PeerId, SocketOptions};
use zmtp_proto::{Msg, Socket, SocketType};

use alloc_count::{allocations, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    /// `transmit_chunks` + `advance_transmit`, `read_buf` + `handle_read`.
    Vectored,
    /// `take_transmit`, `take_read_buf` + `give_read_buf`.
    Owned,
}

/// A DEALER connected to a ROUTER, with the driver's buffers.
struct Pair {
    dealer: Socket,
    router: Socket,
    dp: PeerId,
    rp: PeerId,
    now: Instant,
    wire: Vec<u8>,
    owned: Vec<Bytes>,
    style: Style,
}

impl Pair {
    fn new(style: Style) -> Self {
        let now = Instant::now();
        let mut router = Socket::new(SocketType::Router, SocketOptions::default(), now);
        let mut o = SocketOptions::default();
        o.connection.routing_id = Bytes::from_static(b"dealer");
        let mut dealer = Socket::new(SocketType::Dealer, o, now);
        let dp = dealer.connect("mem://router", now);
        assert!(matches!(dealer.poll_action(), Some(Action::Dial { .. })));
        dealer.attach(dp, now);
        let rp = router.accept(now);
        let mut pair = Self {
            dealer,
            router,
            dp,
            rp,
            now,
            wire: Vec::with_capacity(1 << 16),
            owned: Vec::with_capacity(16),
            style,
        };
        pair.pump();
        assert!(pair.dealer.peer_info(dp).is_some(), "handshake done");
        while pair.dealer.poll_event().is_some() {}
        while pair.router.poll_event().is_some() {}
        pair
    }

    /// Moves bytes both ways until nothing is left to write.
    fn pump(&mut self) {
        loop {
            let a = self.flow(true);
            let b = self.flow(false);
            if !a && !b {
                return;
            }
        }
    }

    fn flow(&mut self, dealer_to_router: bool) -> bool {
        let (from, fp, to, tp) = if dealer_to_router {
            (&mut self.dealer, self.dp, &mut self.router, self.rp)
        } else {
            (&mut self.router, self.rp, &mut self.dealer, self.dp)
        };
        // The driver drains poll_transmit; with one peer it names that peer or nothing.
        let named = from.poll_transmit();
        if named.is_none() && !from.connection(fp).is_some_and(|c| c.has_transmit()) {
            return false;
        }
        self.wire.clear();
        match self.style {
            Style::Vectored => {
                let mut slices = [IoSlice::new(&[]); 8];
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
            }
            Style::Owned => {
                if let Some(view) = from.bytes(fp) {
                    view.take_transmit(&mut self.owned);
                }
                for b in self.owned.drain(..) {
                    self.wire.extend_from_slice(&b);
                }
                let mut rest = &self.wire[..];
                while !rest.is_empty() {
                    let mut buf = to
                        .bytes(tp)
                        .map(|mut view| view.take_read_buf())
                        .expect("attached");
                    let n = rest.len().min(buf.capacity());
                    buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    if let Some(view) = to.bytes(tp) {
                        view.give_read_buf(buf, self.now);
                    }
                }
            }
        }
        !self.wire.is_empty()
    }

    /// `batch` requests DEALER → ROUTER, each echoed back; returns the messages moved. `how`
    /// says how each request is made (see [`Body`]).
    fn round(&mut self, batch: usize, how: Body) -> u64 {
        let small = *b"0123456789abcdef";
        let large = [b'x'; 64];
        let expected: &[u8] = if how == Body::Sliced { &large } else { &small };
        for _ in 0..batch {
            match how {
                Body::Static => self
                    .dealer
                    .send(Msg::from(Bytes::from_static(b"0123456789abcdef")))
                    .unwrap(),
                Body::Copied => self.dealer.send(Msg::copy_from_slice(&small)).unwrap(),
                Body::Sliced => self.dealer.send_slice(&large).unwrap(),
            }
        }
        self.pump();
        let mut moved = 0;
        while let Some(request) = self.router.recv().unwrap() {
            assert_eq!(&request[0][..], b"dealer");
            // Echo it back: [identity, body].
            self.router.send(request).unwrap();
            moved += 1;
        }
        self.pump();
        while let Some(reply) = self.dealer.recv().unwrap() {
            assert_eq!(&reply[0][..], expected);
            moved += 1;
        }
        while self.dealer.poll_action().is_some() || self.router.poll_action().is_some() {}
        while self.dealer.poll_event().is_some() || self.router.poll_event().is_some() {}
        assert_eq!(moved, 2 * batch as u64);
        moved
    }
}

/// How a test request is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// A 16 B message over static bytes (no copy at all).
    Static,
    /// A 16 B body copied from a caller's buffer with `Msg::copy_from_slice`, as `zmq_send`
    /// does: an inline frame.
    Copied,
    /// A 64 B body (too large for an inline frame) copied from a caller's buffer with
    /// `Socket::send_slice`: straight into the coalescing buffer.
    Sliced,
}

fn allocations_per_message(style: Style, batch: usize, how: Body) -> f64 {
    let mut pair = Pair::new(style);
    for _ in 0..200 {
        pair.round(batch, how);
    }
    let before = allocations();
    let mut messages = 0;
    for _ in 0..2000 {
        messages += pair.round(batch, how);
    }
    let allocs = allocations() - before;
    allocs as f64 / messages as f64
}

#[test]
fn steady_state_dealer_router_allocates_nothing_per_message() {
    // The counter is live: setting up a pair allocates (sockets, arenas, the handshake).
    let before = allocations();
    let pair = Pair::new(Style::Vectored);
    assert!(
        allocations() - before > 10,
        "the counting allocator is installed"
    );
    drop(pair);
    for style in [Style::Vectored, Style::Owned] {
        for batch in [1, 16] {
            // Copied from a caller's buffer too: a 16 B body and the 6 B identity are inline
            // frames, so neither the copy nor the ROUTER's identity frame allocates; a 64 B
            // body given to `send_slice` goes straight into the coalescing buffer (with
            // `Msg::copy_from_slice` it would cost an allocation per request).
            for how in [Body::Static, Body::Copied, Body::Sliced] {
                let per_msg = allocations_per_message(style, batch, how);
                println!(
                    "{style:?}, batches of {batch}, {how:?}: {per_msg:.4} allocations per message"
                );
                assert!(
                    per_msg < 0.05,
                    "{style:?}, batches of {batch}, {how:?}: {per_msg:.3} allocations per message"
                );
            }
        }
    }
}

#[test]
fn a_sender_ahead_of_its_peer_allocates_nothing_per_message() {
    // Batches larger than a peer's output batch (256 KiB): the first ~3,970 64 B bodies go
    // straight into the coalescing buffer, the rest wait in the peer's queue (under the
    // default high-water mark of 1,000) until the output drains, as when a sender outruns
    // its reader. The queued bodies are copied into the socket's spill chunks, not into an
    // allocation each (that was ~0.06 allocations per message moved).
    for style in [Style::Vectored, Style::Owned] {
        let mut pair = Pair::new(style);
        for _ in 0..5 {
            pair.round(4500, Body::Sliced);
        }
        let before = allocations();
        let mut messages = 0;
        for _ in 0..50 {
            messages += pair.round(4500, Body::Sliced);
        }
        let per_msg = (allocations() - before) as f64 / messages as f64;
        println!(
            "{style:?}, batches of 4500 (queued), Sliced: {per_msg:.4} allocations per message"
        );
        assert!(
            per_msg < 0.01,
            "{style:?}: {per_msg:.4} allocations per message"
        );
    }
}
