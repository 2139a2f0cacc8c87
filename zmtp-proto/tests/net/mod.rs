//! A deterministic in-memory network of sockets on a virtual clock.
//!
//! Endpoints are `"mem://N"` where N is the index of the socket that "binds". Each link carries
//! bytes in both directions and delivers them in chunks whose sizes come from a seeded RNG.
#![allow(unreachable_pub, missing_docs)]
#![allow(dead_code, reason = "each test file uses a different part of the harness")]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zmtp_proto::socket::{Action, PeerId, Socket, SocketEvent, SocketOptions};
use zmtp_proto::SocketType;

/// One direction of a link.
#[derive(Debug, Default)]
struct Pipe {
    bytes: VecDeque<u8>,
}

/// A transport between two socket peers.
#[derive(Debug)]
pub struct Link {
    pub a: (usize, PeerId),
    pub b: (usize, PeerId),
    a_to_b: Pipe,
    b_to_a: Pipe,
    pub up: bool,
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
        }
    }

    pub fn add(&mut self, ty: SocketType, options: SocketOptions) -> usize {
        self.sockets.push(Socket::new(ty, options, self.now));
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

    fn handle_actions(&mut self) -> bool {
        let mut progress = false;
        for s in 0..self.sockets.len() {
            while let Some(action) = self.sockets[s].poll_action() {
                progress = true;
                match action {
                    Action::Dial { peer, endpoint } => {
                        let to: usize = endpoint.trim_start_matches("mem://").parse().unwrap();
                        if to >= self.sockets.len() || self.refusing[to] {
                            self.sockets[s].dial_failed(peer, self.now);
                            continue;
                        }
                        let now = self.now;
                        self.sockets[s].attach(peer, now);
                        let remote = self.sockets[to].accept(now);
                        self.links.push(Link {
                            a: (s, peer),
                            b: (to, remote),
                            a_to_b: Pipe::default(),
                            b_to_a: Pipe::default(),
                            up: true,
                        });
                    }
                    Action::Close { peer } => {
                        if let Some(i) = self.links.iter().position(|l| {
                            l.up && (l.a == (s, peer) || l.b == (s, peer))
                        }) {
                            self.cut(i);
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

    /// Cuts a link: both ends see their transport close.
    pub fn cut(&mut self, i: usize) {
        let link = &mut self.links[i];
        if !link.up {
            return;
        }
        link.up = false;
        let (a, b) = (link.a, link.b);
        let now = self.now;
        self.sockets[a.0].detach(a.1, now);
        self.sockets[b.0].detach(b.1, now);
    }

    fn write_out(&mut self) -> bool {
        let mut progress = false;
        for s in 0..self.sockets.len() {
            while let Some(peer) = self.sockets[s].poll_transmit() {
                let Some(li) = self
                    .links
                    .iter()
                    .position(|l| l.up && (l.a == (s, peer) || l.b == (s, peer)))
                else {
                    continue;
                };
                let mut out = Vec::new();
                self.sockets[s].take_transmit(peer, &mut out);
                let link = &mut self.links[li];
                let pipe = if link.a == (s, peer) {
                    &mut link.a_to_b
                } else {
                    &mut link.b_to_a
                };
                for chunk in out {
                    progress |= !chunk.is_empty();
                    pipe.bytes.extend(chunk.iter());
                }
            }
        }
        progress
    }

    fn deliver(&mut self) -> bool {
        let mut progress = false;
        for li in 0..self.links.len() {
            if !self.links[li].up {
                continue;
            }
            for dir in 0..2 {
                let (dst, pipe_len) = {
                    let l = &self.links[li];
                    if dir == 0 {
                        (l.b, l.a_to_b.bytes.len())
                    } else {
                        (l.a, l.b_to_a.bytes.len())
                    }
                };
                if pipe_len == 0 || !self.sockets[dst.0].wants_read(dst.1) {
                    continue;
                }
                let n = self.rng.gen_range(1..=pipe_len.min(self.max_chunk));
                let l = &mut self.links[li];
                let pipe = if dir == 0 { &mut l.a_to_b } else { &mut l.b_to_a };
                let chunk: Vec<u8> = pipe.bytes.drain(..n).collect();
                let now = self.now;
                self.sockets[dst.0].handle_input(dst.1, &chunk, now);
                progress = true;
            }
        }
        progress
    }

    /// One round: actions, writes, deliveries. Returns true if anything moved.
    pub fn step(&mut self) -> bool {
        let a = self.handle_actions();
        let w = self.write_out();
        let d = self.deliver();
        a || w || d
    }

    /// Steps until nothing moves (bounded).
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("network did not settle");
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

    pub fn recv_all(&mut self, s: usize) -> Vec<zmtp_proto::Msg> {
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
        out
    }
}
