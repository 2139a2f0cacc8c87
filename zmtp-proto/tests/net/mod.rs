//! A deterministic in-memory network of sockets on a virtual clock.
//!
//! Endpoints are `"mem://N"` where N is the index of the socket that "binds". Each link carries
//! bytes in both directions and delivers them in chunks whose sizes come from a seeded RNG.
//!
//! Knobs for property tests ([`Chaos`]):
//! * random delivery order across links (links are visited in a shuffled order and some are
//!   skipped in a round);
//! * random I/O styles per operation: `handle_input`, `read_buf` + `handle_read`,
//!   `take_read_buf` + `give_read_buf` for input, `take_transmit` or `transmit_chunks` +
//!   `advance_transmit` (partial writes) for output;
//! * bounded links (`capacity`): a writer only writes what fits, so back-pressure reaches the
//!   socket's queues and high-water marks;
//! * abrupt cuts ([`Net::cut`], [`Net::cut_random`]) and frozen (silent) links ([`Net::freeze`]).
//!
//! The driver follows the socket contract strictly: after every mutation it drains
//! `poll_action`, `poll_event` and `poll_transmit`; it writes only to peers that `poll_transmit`
//! named (and keeps them until their output is gone). At quiescence [`Net::drive`] asserts that
//! no attached peer has output the socket never announced.
#![allow(unreachable_pub, missing_docs)]
#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::IoSlice;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use zmtp_proto::{Action, PeerId, Socket, SocketEvent, SocketOptions};
use zmtp_proto::{Msg, SocketType};

/// One direction of a link.
#[derive(Debug, Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    /// The writer closed its side: once `bytes` is drained the reader sees end-of-stream.
    eof: bool,
}

/// A transport between two socket peers.
#[derive(Debug)]
pub struct Link {
    pub a: (usize, PeerId),
    pub b: (usize, PeerId),
    a_to_b: Pipe,
    b_to_a: Pipe,
    /// Side `a` still has its transport (has not been detached).
    pub a_open: bool,
    /// Side `b` still has its transport.
    pub b_open: bool,
    /// Nothing moves in either direction (a silent peer).
    pub frozen: bool,
}

impl Link {
    /// Both ends attached.
    pub fn up(&self) -> bool {
        self.a_open && self.b_open
    }
}

/// Perturbations of the network (none by default).
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    /// Visit links in random order and skip some in each round.
    pub shuffle: bool,
    /// Pick the socket I/O style at random for each read and write.
    pub random_io: bool,
    /// Bytes in flight per link direction (`None` = unbounded).
    pub capacity: Option<usize>,
}

impl Chaos {
    /// Everything on, with the given link capacity.
    pub fn full(capacity: Option<usize>) -> Self {
        Self {
            shuffle: true,
            random_io: true,
            capacity,
        }
    }
}

/// A dial the network answered (or refused), for reconnect-timing checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dial {
    pub at: Instant,
    pub socket: usize,
    pub peer: PeerId,
    pub accepted: bool,
}

pub struct Net {
    pub sockets: Vec<Socket>,
    pub links: Vec<Link>,
    pub now: Instant,
    pub rng: StdRng,
    /// Largest chunk delivered at once.
    pub max_chunk: usize,
    /// Endpoints that refuse dials (bound socket "down").
    pub refusing: Vec<bool>,
    pub events: Vec<(usize, SocketEvent)>,
    pub chaos: Chaos,
    pub dials: Vec<Dial>,
    /// Open link sides by (socket, peer).
    by_side: HashMap<(usize, PeerId), usize>,
    /// Peers named by `poll_transmit` whose output is not fully written yet.
    wants_write: BTreeSet<(usize, PeerId)>,
}

impl Net {
    pub fn new(seed: u64) -> Self {
        Self {
            sockets: Vec::new(),
            links: Vec::new(),
            now: Instant::now(),
            rng: StdRng::seed_from_u64(seed),
            max_chunk: 1 << 16,
            refusing: Vec::new(),
            events: Vec::new(),
            chaos: Chaos::default(),
            dials: Vec::new(),
            by_side: HashMap::new(),
            wants_write: BTreeSet::new(),
        }
    }

    pub fn with_chaos(seed: u64, chaos: Chaos) -> Self {
        let mut net = Self::new(seed);
        net.chaos = chaos;
        net
    }

    pub fn add(&mut self, ty: SocketType, options: SocketOptions) -> usize {
        let mut socket = Socket::new(ty, options, self.now);
        // Deterministic entropy per socket (CURVE's transient keys).
        socket.seed_rng([self.sockets.len() as u8; 32]);
        self.sockets.push(socket);
        self.refusing.push(false);
        self.sockets.len() - 1
    }

    pub fn add_default(&mut self, ty: SocketType) -> usize {
        self.add(ty, SocketOptions::default())
    }

    pub fn connect(&mut self, from: usize, to: usize) -> PeerId {
        let now = self.now;
        self.sockets[from].connect(format!("mem://{to}"), now)
    }

    /// The link index of an open side.
    pub fn link_of(&self, s: usize, peer: PeerId) -> Option<usize> {
        self.by_side.get(&(s, peer)).copied()
    }

    /// The peer id the other end of `s`'s `peer` has, if the link is up.
    pub fn remote_of(&self, s: usize, peer: PeerId) -> Option<(usize, PeerId)> {
        let l = &self.links[self.link_of(s, peer)?];
        Some(if l.a == (s, peer) { l.b } else { l.a })
    }

    /// Indices of links whose both ends are attached.
    pub fn up_links(&self) -> Vec<usize> {
        (0..self.links.len())
            .filter(|&i| self.links[i].up())
            .collect()
    }

    fn handle_actions(&mut self) -> bool {
        let mut progress = false;
        for s in 0..self.sockets.len() {
            while let Some(action) = self.sockets[s].poll_action() {
                progress = true;
                match action {
                    Action::Dial { peer, endpoint } => {
                        let to: usize = endpoint.trim_start_matches("mem://").parse().unwrap();
                        let now = self.now;
                        let accepted = to < self.sockets.len() && !self.refusing[to];
                        self.dials.push(Dial {
                            at: now,
                            socket: s,
                            peer,
                            accepted,
                        });
                        if !accepted {
                            self.sockets[s].dial_failed(peer, now);
                            continue;
                        }
                        self.sockets[s].attach(peer, now);
                        let remote = self.sockets[to].accept(now);
                        let i = self.links.len();
                        self.links.push(Link {
                            a: (s, peer),
                            b: (to, remote),
                            a_to_b: Pipe::default(),
                            b_to_a: Pipe::default(),
                            a_open: true,
                            b_open: true,
                            frozen: false,
                        });
                        self.by_side.insert((s, peer), i);
                        self.by_side.insert((to, remote), i);
                    }
                    Action::Close { peer } => {
                        if let Some(i) = self.link_of(s, peer) {
                            self.close_side(i, (s, peer));
                        } else {
                            let now = self.now;
                            self.sockets[s].detach(peer, now);
                        }
                    }
                }
            }
            while let Some(e) = self.sockets[s].poll_event() {
                self.events.push((s, e));
            }
        }
        progress
    }

    /// Graceful close of one side: its pending output is written (best effort), then the other
    /// side sees end-of-stream after reading it.
    fn close_side(&mut self, i: usize, side: (usize, PeerId)) {
        let mut out = Vec::new();
        if let Some(view) = self.sockets[side.0].bytes(side.1) {
            view.take_transmit(&mut out);
        }
        let link = &mut self.links[i];
        let (pipe, back) = if link.a == side {
            link.a_open = false;
            (&mut link.a_to_b, &mut link.b_to_a)
        } else {
            link.b_open = false;
            (&mut link.b_to_a, &mut link.a_to_b)
        };
        if !link.frozen {
            for chunk in out {
                pipe.bytes.extend(chunk.iter());
            }
        }
        pipe.eof = true;
        back.bytes.clear();
        self.by_side.remove(&side);
        self.wants_write.remove(&side);
        let now = self.now;
        self.sockets[side.0].detach(side.1, now);
    }

    /// Cuts a link abruptly: both ends see their transport fail; bytes in flight are lost.
    pub fn cut(&mut self, i: usize) {
        let link = &mut self.links[i];
        let (a, b) = (link.a, link.b);
        let (a_open, b_open) = (link.a_open, link.b_open);
        link.a_open = false;
        link.b_open = false;
        link.a_to_b.bytes.clear();
        link.b_to_a.bytes.clear();
        let now = self.now;
        for (open, side) in [(a_open, a), (b_open, b)] {
            if open {
                self.by_side.remove(&side);
                self.wants_write.remove(&side);
                self.sockets[side.0].detach(side.1, now);
            }
        }
    }

    /// Cuts a random link that is up; false if none is.
    pub fn cut_random(&mut self) -> bool {
        let up = self.up_links();
        if up.is_empty() {
            return false;
        }
        let i = up[self.rng.gen_range(0..up.len())];
        self.cut(i);
        true
    }

    /// Freezes (or thaws) a link: a frozen link moves no bytes in either direction.
    pub fn freeze(&mut self, i: usize, frozen: bool) {
        self.links[i].frozen = frozen;
    }

    fn write_out(&mut self) -> bool {
        let mut progress = false;
        for s in 0..self.sockets.len() {
            while let Some(peer) = self.sockets[s].poll_transmit() {
                self.wants_write.insert((s, peer));
            }
        }
        let pending: Vec<(usize, PeerId)> = self.wants_write.iter().copied().collect();
        for (s, peer) in pending {
            let Some(li) = self.link_of(s, peer) else {
                // Not attached (any more): nothing to write to.
                self.wants_write.remove(&(s, peer));
                continue;
            };
            if self.links[li].frozen {
                continue;
            }
            progress |= self.write_side(li, s, peer);
            if !self.sockets[s]
                .connection(peer)
                .is_some_and(|c| c.has_transmit())
            {
                self.wants_write.remove(&(s, peer));
            }
        }
        progress
    }

    /// Writes what fits of `(s, peer)`'s output into its pipe. Returns true if bytes moved.
    fn write_side(&mut self, li: usize, s: usize, peer: PeerId) -> bool {
        let to_b = self.links[li].a == (s, peer);
        let other_open = if to_b {
            self.links[li].b_open
        } else {
            self.links[li].a_open
        };
        let in_flight = if to_b {
            self.links[li].a_to_b.bytes.len()
        } else {
            self.links[li].b_to_a.bytes.len()
        };
        let room = self
            .chaos
            .capacity
            .map_or(usize::MAX, |c| c.saturating_sub(in_flight));
        if room == 0 {
            return false;
        }
        let use_chunks = self.chaos.capacity.is_some() || (self.chaos.random_io && self.rng.gen());
        let mut written: Vec<u8> = Vec::new();
        if use_chunks {
            let limit = if self.chaos.random_io {
                self.rng.gen_range(1..=room.min(1 << 16))
            } else {
                room
            };
            let conn = self.sockets[s].connection(peer).expect("attached");
            let mut slices = [IoSlice::new(&[]); 8];
            let n = conn.transmit_chunks(&mut slices);
            for sl in &slices[..n] {
                let take = (limit - written.len()).min(sl.len());
                written.extend_from_slice(&sl[..take]);
                if written.len() == limit {
                    break;
                }
            }
            let k = written.len();
            if let Some(view) = self.sockets[s].bytes(peer) {
                view.advance_transmit(k);
            }
        } else {
            let mut out = Vec::new();
            if let Some(view) = self.sockets[s].bytes(peer) {
                view.take_transmit(&mut out);
            }
            for chunk in out {
                written.extend_from_slice(&chunk);
            }
        }
        if written.is_empty() {
            return false;
        }
        if other_open {
            let l = &mut self.links[li];
            let pipe = if to_b { &mut l.a_to_b } else { &mut l.b_to_a };
            pipe.bytes.extend(written);
        }
        true
    }

    fn deliver(&mut self) -> bool {
        let mut progress = false;
        let mut order: Vec<usize> = (0..self.links.len()).collect();
        if self.chaos.shuffle {
            order.shuffle(&mut self.rng);
        }
        for li in order {
            if self.links[li].frozen {
                continue;
            }
            for dir in 0..2 {
                let (dst, open, pipe_len, eof) = {
                    let l = &self.links[li];
                    if dir == 0 {
                        (l.b, l.b_open, l.a_to_b.bytes.len(), l.a_to_b.eof)
                    } else {
                        (l.a, l.a_open, l.b_to_a.bytes.len(), l.b_to_a.eof)
                    }
                };
                if !open {
                    continue;
                }
                if pipe_len == 0 {
                    if eof {
                        // The other side closed and everything it wrote has been read.
                        let l = &mut self.links[li];
                        if dir == 0 {
                            l.b_open = false;
                        } else {
                            l.a_open = false;
                        }
                        self.by_side.remove(&dst);
                        self.wants_write.remove(&dst);
                        let now = self.now;
                        self.sockets[dst.0].detach(dst.1, now);
                        progress = true;
                    }
                    continue;
                }
                if !self.sockets[dst.0]
                    .connection(dst.1)
                    .is_some_and(|c| c.wants_read())
                {
                    continue;
                }
                if self.chaos.shuffle && self.rng.gen_bool(0.25) {
                    // Hold this delivery for a later round; `step` still reports it pending.
                    continue;
                }
                let n = self.rng.gen_range(1..=pipe_len.min(self.max_chunk));
                let chunk: Vec<u8> = {
                    let l = &mut self.links[li];
                    let pipe = if dir == 0 {
                        &mut l.a_to_b
                    } else {
                        &mut l.b_to_a
                    };
                    pipe.bytes.drain(..n).collect()
                };
                self.feed(dst, &chunk);
                progress = true;
            }
        }
        progress
    }

    /// Hands bytes to a socket with a randomly chosen input style.
    fn feed(&mut self, (s, peer): (usize, PeerId), mut chunk: &[u8]) {
        let now = self.now;
        let style = if self.chaos.random_io {
            self.rng.gen_range(0..3)
        } else {
            0
        };
        match style {
            0 => {
                let view = self.sockets[s].bytes(peer).expect("attached");
                view.handle_input(chunk, now);
            }
            1 => {
                let mut view = self.sockets[s].bytes(peer).expect("attached");
                view.read_buf().extend_from_slice(chunk);
                view.handle_read(now);
            }
            _ => {
                // Completion style: the "kernel" fills at most the lent capacity per read.
                while !chunk.is_empty() {
                    let mut buf = self.sockets[s]
                        .bytes(peer)
                        .map(|mut view| view.take_read_buf())
                        .expect("attached");
                    let n = chunk.len().min(buf.capacity().max(1));
                    buf.extend_from_slice(&chunk[..n]);
                    chunk = &chunk[n..];
                    if let Some(view) = self.sockets[s].bytes(peer) {
                        view.give_read_buf(buf, now);
                    }
                    if !self.sockets[s].is_attached(peer)
                        || !self.sockets[s]
                            .connection(peer)
                            .is_some_and(|c| c.wants_read())
                    {
                        // The rest would be read later by a real driver; put it back.
                        if !chunk.is_empty() {
                            if let Some(li) = self.link_of(s, peer) {
                                let l = &mut self.links[li];
                                let pipe = if l.b == (s, peer) {
                                    &mut l.a_to_b
                                } else {
                                    &mut l.b_to_a
                                };
                                for &b in chunk.iter().rev() {
                                    pipe.bytes.push_front(b);
                                }
                            }
                        }
                        break;
                    }
                }
            }
        }
    }

    /// True if some link has bytes a reader would take now.
    fn deliverable(&self) -> bool {
        self.links.iter().any(|l| {
            !l.frozen
                && ((l.b_open
                    && (l.a_to_b.eof
                        || (!l.a_to_b.bytes.is_empty()
                            && self.sockets[l.b.0]
                                .connection(l.b.1)
                                .is_some_and(|c| c.wants_read()))))
                    || (l.a_open
                        && (l.b_to_a.eof
                            || (!l.b_to_a.bytes.is_empty()
                                && self.sockets[l.a.0]
                                    .connection(l.a.1)
                                    .is_some_and(|c| c.wants_read())))))
        })
    }

    /// One round: actions, writes, deliveries. Returns true if anything moved or is pending.
    pub fn step(&mut self) -> bool {
        let a = self.handle_actions();
        let w = self.write_out();
        let d = self.deliver();
        a || w || d || self.deliverable()
    }

    /// Steps until nothing moves (bounded), then checks the driving contract.
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                self.check_quiescent();
                return;
            }
        }
        panic!("network did not settle");
    }

    /// At rest, every attached peer with output must have been named by `poll_transmit`.
    fn check_quiescent(&self) {
        for l in &self.links {
            for (open, side) in [(l.a_open, l.a), (l.b_open, l.b)] {
                if open
                    && self.sockets[side.0]
                        .connection(side.1)
                        .is_some_and(|c| c.has_transmit())
                {
                    assert!(
                        self.wants_write.contains(&side),
                        "socket {} has output for {:?} that poll_transmit never named",
                        side.0,
                        side.1
                    );
                }
            }
        }
    }

    /// Advances the virtual clock, firing timers on the way.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            self.drive();
            let next = self
                .sockets
                .iter()
                .filter_map(Socket::poll_timeout)
                .min()
                .filter(|&t| t <= end);
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            let now = self.now;
            for s in &mut self.sockets {
                s.handle_timeout(now);
            }
        }
        self.now = end;
        let now = self.now;
        for s in &mut self.sockets {
            s.handle_timeout(now);
        }
        self.drive();
    }

    /// Receives everything `s` has, driving the network between empty polls.
    pub fn recv_all(&mut self, s: usize) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            match self.sockets[s].recv().unwrap() {
                Some(m) => out.push(m),
                None => {
                    // recv may have resumed decoding and produced output.
                    if !self.step() {
                        break;
                    }
                }
            }
        }
        self.drive();
        out
    }

    /// One `recv` without driving.
    pub fn recv(&mut self, s: usize) -> Option<Msg> {
        self.sockets[s].recv().unwrap()
    }

    /// Monitor events of socket `s` collected so far (and forgets them).
    pub fn take_events(&mut self, s: usize) -> Vec<SocketEvent> {
        let (mine, rest) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(i, _)| *i == s);
        self.events = rest;
        mine.into_iter().map(|(_, e)| e).collect()
    }

    /// Dials made by socket `s` (accepted or not).
    pub fn dials_of(&self, s: usize) -> Vec<Dial> {
        self.dials
            .iter()
            .copied()
            .filter(|d| d.socket == s)
            .collect()
    }
}

/// A message tagged with its sender and sequence number, for loss/order/duplicate checks.
pub fn tagged(sender: usize, seq: u64) -> Msg {
    let mut body = Vec::with_capacity(12);
    body.extend_from_slice(&(sender as u32).to_be_bytes());
    body.extend_from_slice(&seq.to_be_bytes());
    Msg::from(body)
}

/// Reads back a [`tagged`] frame.
pub fn untag(frame: &[u8]) -> (usize, u64) {
    assert_eq!(frame.len(), 12, "not a tagged frame: {frame:?}");
    let sender = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    let seq = u64::from_be_bytes(frame[4..].try_into().unwrap());
    (sender, seq)
}
