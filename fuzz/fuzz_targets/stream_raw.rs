//! A STREAM socket (raw TCP peers, no ZMTP) under arbitrary operations: peers accepted and
//! dialled, raw bytes from them in any chunking (read only while the socket wants input, as
//! a driver reads), receives, sends of `[id, data]` and of `[id, ""]` (close after the
//! output), output written in pieces, peers gone, options (`rcvhwm`, notifications).
//!
//! Checks, per peer: the data the application receives under the peer's routing id is the
//! bytes the peer sent, in order, nothing lost or duplicated (all of it once drained); with
//! notifications on, a peer's first message is `[id, ""]` and, once it is gone, its last one
//! is `[id, ""]` too; what the peer gets on the wire is the data sent to its id, in order; an
//! id the application closed is unroutable at once, and the peer closes once its output is
//! written; a message of another shape is refused; no panic.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmtp_proto::{Action, Error, Frame, Msg, PeerId, Socket, SocketOptions, SocketType};

#[derive(Debug, Arbitrary)]
enum Op {
    /// A peer connects to us.
    Accept,
    /// We dial a peer (`connect_routing_id` set or not), and the dial succeeds.
    Dial(bool),
    /// Peer `n` sends these bytes (if the socket wants input from it).
    Input(u8, Vec<u8>),
    /// The application takes up to `n` messages.
    Recv(u8),
    /// The application sends data to peer `n`.
    Send(u8, Vec<u8>),
    /// The application closes peer `n` (`[id, ""]`).
    Close(u8),
    /// The application sends a message of a shape STREAM refuses.
    BadShape(u8),
    /// The driver writes peer `n`'s output.
    Write(u8),
    /// Peer `n`'s connection ends.
    Gone(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    notify: bool,
    rcvhwm: u8,
    ops: Vec<Op>,
}

/// What one peer did and what we expect of it.
#[derive(Default)]
struct Peer {
    /// Its routing id, once known.
    id: Vec<u8>,
    /// Bytes it sent that the application has not received yet.
    unread: Vec<u8>,
    /// Bytes sent to it that it has not received yet.
    unwritten: Vec<u8>,
    /// A notification of its arrival is due (with notifications on).
    hello_due: bool,
    /// Its connection ended (detached by the driver), or the application closed it.
    gone: bool,
    closed_by_us: bool,
    /// Its `[id, ""]` departure notification was received.
    farewell_seen: bool,
}

struct Harness {
    s: Socket,
    now: Instant,
    notify: bool,
    peers: Vec<(PeerId, Peer)>,
    dials: u32,
}

impl Harness {
    fn add(&mut self, id: PeerId) {
        let routing = self.s.routing_id(id).map(<[u8]>::to_vec);
        let peer = Peer {
            id: routing.unwrap_or_default(),
            hello_due: self.notify,
            ..Peer::default()
        };
        self.peers.push((id, peer));
    }

    fn live(&mut self, n: u8) -> Option<usize> {
        let live: Vec<usize> = (0..self.peers.len())
            .filter(|&i| !self.peers[i].1.gone)
            .collect();
        (!live.is_empty()).then(|| live[usize::from(n) % live.len()])
    }

    fn by_id(&mut self, id: &[u8]) -> usize {
        self.peers
            .iter()
            .rposition(|(_, p)| p.id == id)
            .unwrap_or_else(|| panic!("a message from an unknown id {id:?}"))
    }

    /// Takes up to `n` messages; returns how many there were.
    fn recv(&mut self, n: usize) -> usize {
        for taken in 0..n {
            let Some(m) = self.s.recv().expect("STREAM recv") else {
                return taken;
            };
            assert_eq!(m.len(), 2, "STREAM delivers [id, data]: {m:?}");
            let (id, data) = (m[0].to_vec(), m[1].to_vec());
            let i = self.by_id(&id);
            let p = &mut self.peers[i].1;
            if data.is_empty() {
                if p.hello_due {
                    p.hello_due = false;
                } else {
                    assert!(self.notify, "a notification with notifications off");
                    assert!(p.gone && !p.closed_by_us, "a farewell from a live peer");
                    assert!(p.unread.is_empty(), "a farewell before the peer's data");
                    assert!(!p.farewell_seen, "two farewells");
                    p.farewell_seen = true;
                }
                continue;
            }
            assert!(!p.hello_due, "data before the peer's arrival was announced");
            assert!(
                p.unread.starts_with(&data),
                "received {data:?}, expected the start of {:?}",
                p.unread
            );
            p.unread.drain(..data.len());
        }
        n
    }

    fn write(&mut self, i: usize) {
        let id = self.peers[i].0;
        let mut out: Vec<Bytes> = Vec::new();
        let Some(view) = self.s.bytes(id) else { return };
        view.take_transmit(&mut out);
        let wire: Vec<u8> = out.concat();
        let p = &mut self.peers[i].1;
        assert!(
            p.unwritten.starts_with(&wire),
            "wrote {wire:?}, expected the start of {:?}",
            p.unwritten
        );
        p.unwritten.drain(..wire.len());
    }

    fn actions(&mut self) {
        while let Some(action) = self.s.poll_action() {
            match action {
                Action::Close { peer } => {
                    self.s.detach(peer, self.now);
                    if let Some((_, p)) = self.peers.iter_mut().find(|(id, _)| *id == peer) {
                        p.gone = true;
                    }
                }
                // Attached at once (see `Op::Dial`).
                Action::Dial { .. } => {}
            }
        }
        while self.s.poll_event().is_some() {}
    }
}

fuzz_target!(|input: Input| {
    let mut options = SocketOptions::default();
    options.stream_notify = input.notify;
    options.connection.rcvhwm = usize::from(input.rcvhwm % 8);
    options.seed = Some(1);
    let now = Instant::now();
    let mut h = Harness {
        s: Socket::new(SocketType::Stream, options, now),
        now,
        notify: input.notify,
        peers: Vec::new(),
        dials: 0,
    };
    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Accept => {
                if h.peers.len() < 16 {
                    let id = h.s.accept(h.now);
                    h.add(id);
                }
            }
            Op::Dial(named) => {
                if h.peers.len() < 16 {
                    if named {
                        h.dials += 1;
                        let mut o = h.s.options().clone();
                        o.connect_routing_id = Some(format!("dial-{}", h.dials).into());
                        let _ = h.s.set_options(o);
                    }
                    let id = h.s.connect("tcp://127.0.0.1:5555", h.now);
                    h.s.attach(id, h.now);
                    h.add(id);
                }
            }
            Op::Input(n, bytes) => {
                let Some(i) = h.live(n) else { continue };
                let id = h.peers[i].0;
                let wants = h.s.connection(id).is_some_and(|c| c.wants_read());
                if bytes.is_empty() || !wants {
                    continue;
                }
                h.s.bytes(id)
                    .expect("a live peer")
                    .handle_input(&bytes, h.now);
                h.peers[i].1.unread.extend_from_slice(&bytes);
            }
            Op::Recv(n) => {
                h.recv(usize::from(n % 16));
            }
            Op::Send(n, data) => {
                let Some(i) = h.live(n) else { continue };
                if data.is_empty() || h.peers[i].1.closed_by_us {
                    continue;
                }
                let id = Frame::from(h.peers[i].1.id.clone());
                match h.s.send(Msg::from_frames([id, Frame::from(data.clone())])) {
                    Ok(()) => h.peers[i].1.unwritten.extend_from_slice(&data),
                    // At the peer's high-water mark: dropped, as libzmq's STREAM does.
                    Err(e) if e.error == Error::WouldBlock => {}
                    Err(e) => panic!("send to a live peer: {:?}", e.error),
                }
            }
            Op::Close(n) => {
                let Some(i) = h.live(n) else { continue };
                if h.peers[i].1.closed_by_us {
                    continue;
                }
                let id = Frame::from(h.peers[i].1.id.clone());
                h.s.send(Msg::from_frames([id.clone(), Frame::new()]))
                    .expect("closing a live peer");
                h.peers[i].1.closed_by_us = true;
                let late = h.s.send(Msg::from_frames([id, "late".into()]));
                assert_eq!(late.map_err(|e| e.error), Err(Error::Unroutable));
            }
            Op::BadShape(n) => {
                let frames: Vec<Frame> = (0..(3 + usize::from(n % 3)))
                    .map(|_| Frame::from("x"))
                    .collect();
                assert!(h.s.send(Msg::from_frames(frames)).is_err());
                let unknown = Msg::from_frames([Frame::from("no such id"), "x".into()]);
                assert_eq!(
                    h.s.send(unknown).map_err(|e| e.error),
                    Err(Error::Unroutable)
                );
            }
            Op::Write(n) => {
                if let Some(i) = h.live(n) {
                    h.write(i);
                }
            }
            Op::Gone(n) => {
                let Some(i) = h.live(n) else { continue };
                let id = h.peers[i].0;
                h.s.detach(id, h.now);
                h.peers[i].1.gone = true;
            }
        }
        h.actions();
    }
    // Drain: everything a peer sent is received (reads paused at the mark resume as the
    // application takes), and each peer that went away is announced once, after its data.
    for _ in 0..10_000 {
        let taken = h.recv(64);
        h.actions();
        if taken == 0 {
            break;
        }
    }
    for (_, p) in &h.peers {
        // A peer the application closed takes what was queued from it along.
        if !p.closed_by_us {
            assert!(p.unread.is_empty(), "data never delivered: {:?}", p.unread);
            assert!(!p.hello_due, "an arrival never announced");
        }
        if h.notify && p.gone && !p.closed_by_us {
            assert!(p.farewell_seen, "a departure never announced");
        }
    }
});
