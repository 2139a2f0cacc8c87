//! STREAM (`ZMQ_STREAM`): the routing rules of a socket whose peers are raw byte streams
//! (their connections are in raw mode, `connection/raw.rs`). Checked against libzmq 4.3.5's
//! `stream.cpp` and its observed behaviour (pyzmq):
//!
//! * Every message in is `[routing id, data]`, one per chunk read (at most
//!   [`RAW_READ_CAP`](crate::connection::RAW_READ_CAP) bytes of data).
//! * With [`SocketOptions::stream_notify`] (on by default, `ZMQ_STREAM_NOTIFY`), a connection
//!   is announced as `[routing id, ""]` before its data, and its end (the peer closed, or the
//!   transport failed) as `[routing id, ""]` after its last data.
//! * Routing ids are five bytes, `0x00` then a big-endian counter that starts at a random
//!   value (the seed), as libzmq makes them. A peer we connect to gets its id at `connect`
//!   ([`SocketOptions::connect_routing_id`] if set, consumed by that connect) and keeps it
//!   across reconnections, each announced again; an accepted peer gets a new id per
//!   connection.
//! * `[routing id, data]` writes the data raw; `[routing id, ""]` closes that peer once what
//!   was queued for it is written, without a notification to our application (libzmq sends
//!   none either) and without a redial; the id is unknown from then on.
//! * An unknown routing id fails with [`Error::Unroutable`] (libzmq's `EHOSTUNREACH`,
//!   whatever `router_mandatory` says); a peer at its send high-water mark with
//!   [`Error::WouldBlock`] (`EAGAIN`); a lone routing id frame is dropped, as libzmq drops it.
//!   A message of more than two frames is refused ([`Error::InvalidState`]): libzmq would
//!   write the second frame and take the third for the next message's routing id.
//!
//! ```
//! use std::time::Instant;
//! use zmtp_proto::{Msg, Socket, SocketOptions, SocketType};
//!
//! let now = Instant::now();
//! let mut stream = Socket::new(SocketType::Stream, SocketOptions::default(), now);
//! let peer = stream.accept(now); // a raw TCP client connected
//! let hello = stream.recv().unwrap().unwrap(); // [id, ""]: the connection
//! let id = hello.frames()[0].clone();
//! assert!(hello.frames()[1].is_empty());
//! stream.bytes(peer).unwrap().handle_input(b"ping", now);
//! let msg = stream.recv().unwrap().unwrap();
//! assert_eq!(msg.frames()[1], b"ping"[..]);
//! stream.send(Msg::from_frames([id.clone(), "pong".into()])).unwrap();
//! let mut out = Vec::new();
//! stream.bytes(peer).unwrap().take_transmit(&mut out);
//! assert_eq!(out.concat(), b"pong"); // raw: no frame header
//! ```

use std::time::Instant;

use super::core::Core;
use super::routing_ids::RoutingIds;
use super::transfer::Skipping;
use super::{Kind, PeerId, Socket};
use crate::error::Error;
use crate::message::{Frame, Msg};

#[derive(Debug)]
pub(crate) struct RawPeers {
    /// Routing id → peer, and the generator of libzmq-style ids.
    ids: RoutingIds,
    /// Peers our application closed with `[id, ""]`: once their transport is gone they are
    /// removed, not redialled (libzmq ends the whole session of a raw pipe closed this way).
    closed: Vec<PeerId>,
}

impl RawPeers {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            ids: RoutingIds::new(seed),
            closed: Vec::new(),
        }
    }

    /// Routing ids known.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn assign(&mut self, core: &mut Core, id: PeerId, routing_id: Frame) {
        self.ids.insert(routing_id.clone(), id);
        if let Some(p) = core.peer_mut(id) {
            p.routing_id = routing_id;
        }
    }

    /// `connect`: the peer gets its routing id now, `connect_routing_id` if set (and not in
    /// use: libzmq asserts; we log it and generate one), else a generated one.
    pub(crate) fn on_connect(&mut self, core: &mut Core, id: PeerId) {
        let chosen = core
            .options
            .connect_routing_id
            .take()
            .map(|r| Frame::compact(&r))
            .filter(|r| {
                let free = !r.is_empty() && !self.ids.contains_key(r);
                if !free {
                    tracing::warn!("connect_routing_id empty or in use; generating one");
                }
                free
            });
        let routing_id = chosen.unwrap_or_else(|| self.ids.generate());
        self.assign(core, id, routing_id);
    }

    /// A connection is up (raw connections are active at once): an accepted peer gets a new
    /// routing id; the connection is announced.
    pub(crate) fn on_active(&mut self, core: &mut Core, id: PeerId) {
        let known = core
            .peer(id)
            .is_some_and(|p| self.ids.get(&p.routing_id) == Some(&id));
        if !known {
            let routing_id = self.ids.generate();
            self.assign(core, id, routing_id);
        }
        if core.options.stream_notify {
            if let Some(p) = core.peer_mut(id) {
                p.stranded_in.push_back(Msg::from(Frame::new()));
            }
        }
    }

    /// A connection ended: announced after its last data (unless our application closed
    /// it); an accepted peer's routing id is released, a connect-side peer keeps it while it
    /// is redialled.
    pub(crate) fn on_inactive(&mut self, core: &mut Core, id: PeerId) {
        let closed_by_us = self.closed.contains(&id);
        if core.options.stream_notify && !closed_by_us {
            if let Some(p) = core.peer_mut(id) {
                p.notify_on_detach = true;
            }
        }
        let redialled = !closed_by_us
            && core.peer(id).is_some_and(|p| {
                p.endpoint.is_some() && !core.options.immediate && !core.is_closing()
            });
        if !redialled {
            self.forget(core, id);
        }
    }

    /// Releases the routing id of a peer that is going away.
    pub(crate) fn forget(&mut self, core: &Core, id: PeerId) {
        if let Some(p) = core.peer(id) {
            self.ids.release(&p.routing_id, id);
        }
    }

    /// True (once) if our application closed `id`: its transport is gone, it goes too.
    pub(crate) fn take_closed(&mut self, id: PeerId) -> bool {
        match self.closed.iter().position(|&c| c == id) {
            Some(i) => {
                self.closed.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Writes the next message, prefixed with its peer's routing id, into `out`.
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> bool {
        let Some((_, routing_id)) = core.next_inbound(out, |p| p.routing_id.clone()) else {
            return false;
        };
        out.push_front(routing_id);
        true
    }

    /// Routes `[routing id, data]` (see the module docs). Returns the peer whose connection
    /// may have closed at once (an empty `data` with nothing left to write).
    pub(super) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<Option<PeerId>, Error> {
        match msg.len() {
            1 => {
                msg.clear();
                return Ok(None);
            }
            2 => {}
            _ => {
                return Err(Error::InvalidState(
                    "a STREAM message is [routing id, data]",
                ))
            }
        }
        let Some(&peer) = self.ids.get(&msg.frames()[0]) else {
            return Err(Error::Unroutable);
        };
        let close = msg.frames()[1].is_empty();
        if close && core.peer(peer).is_some_and(|p| p.conn.is_none()) {
            // Waiting to be redialled: nothing to flush, the peer goes now.
            self.forget(core, peer);
            core.disconnect(peer);
            msg.clear();
            return Ok(None);
        }
        // The routing id is skipped when writing, not removed from the message; an empty
        // data frame goes through the queue too, so that it closes after what precedes it.
        if core.enqueue(peer, Skipping { skip: 1, msg }).is_err() {
            return Err(Error::WouldBlock);
        }
        if close {
            self.forget(core, peer);
            self.closed.push(peer);
            return Ok(Some(peer));
        }
        Ok(None)
    }
}

impl Socket {
    /// STREAM and ROUTER: the routing id that messages to and from `peer` carry, once it has
    /// one (a STREAM peer we connect to has it from [`Socket::connect`] on, as libzmq's
    /// `ZMQ_ROUTING_ID` reads it after `zmq_connect`).
    ///
    /// ```
    /// # use std::time::Instant;
    /// use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut o = SocketOptions::default();
    /// o.connect_routing_id = Some("web".into());
    /// let mut stream = Socket::new(SocketType::Stream, o, now);
    /// let peer = stream.connect("tcp://example.com:80", now);
    /// assert_eq!(stream.routing_id(peer), Some(&b"web"[..]));
    /// let other = stream.connect("tcp://example.com:80", now);
    /// assert_eq!(stream.routing_id(other).map(<[u8]>::len), Some(5)); // generated
    /// ```
    pub fn routing_id(&self, peer: PeerId) -> Option<&[u8]> {
        let id = &self.core.peer(peer)?.routing_id;
        (!id.is_empty()).then_some(&id[..])
    }

    /// STREAM's `detach`: a peer our application closed is removed (no redial).
    pub(super) fn stream_detach(&mut self, peer: PeerId, now: Instant) -> bool {
        let Kind::Stream(raw) = &mut self.kind else {
            return false;
        };
        if !raw.take_closed(peer) {
            return false;
        }
        self.core.now = now;
        self.core.disconnect(peer);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::socket::{Action, PeerId, Socket, SocketEvent, SocketOptions};
    use crate::{Error, Frame, Msg, SocketType};

    fn stream() -> Socket {
        Socket::new(SocketType::Stream, SocketOptions::default(), Instant::now())
    }

    fn recv(s: &mut Socket) -> (Frame, Vec<u8>) {
        let m = s.recv().unwrap().expect("a message");
        assert_eq!(m.len(), 2);
        (m.frames()[0].clone(), m.frames()[1].to_vec())
    }

    fn written(s: &mut Socket, peer: PeerId) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(st) = s.bytes(peer) {
            st.take_transmit(&mut out);
        }
        out.concat()
    }

    #[test]
    fn accepted_peers_are_announced_with_libzmq_style_ids() {
        let now = Instant::now();
        let mut s = stream();
        let a = s.accept(now);
        let b = s.accept(now);
        let (ida, hello) = recv(&mut s);
        assert!(hello.is_empty());
        let (idb, _) = recv(&mut s);
        assert_eq!(ida.len(), 5);
        assert_eq!(ida[0], 0);
        assert_ne!(ida, idb);
        let n = |f: &Frame| u32::from_be_bytes(f[1..].try_into().unwrap());
        assert_eq!(n(&idb), n(&ida).wrapping_add(1));
        // No greeting goes out, and no handshake is reported.
        assert!(written(&mut s, a).is_empty());
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, SocketEvent::HandshakeSucceeded { .. })),
            "{events:?}"
        );
        s.bytes(b).unwrap().handle_input(b"from b", now);
        assert_eq!(recv(&mut s), (idb.clone(), b"from b".to_vec()));
        s.send(Msg::from_frames([idb.clone(), "to b".into()]))
            .unwrap();
        assert_eq!(written(&mut s, b), b"to b");
        assert!(written(&mut s, a).is_empty());
    }

    #[test]
    fn the_end_of_a_peer_is_announced_after_its_data() {
        let now = Instant::now();
        let mut s = stream();
        let a = s.accept(now);
        let (id, _) = recv(&mut s);
        s.bytes(a).unwrap().handle_input(b"bye", now);
        s.detach(a, now);
        assert_eq!(recv(&mut s), (id.clone(), b"bye".to_vec()));
        assert_eq!(recv(&mut s), (id.clone(), Vec::new()));
        assert_eq!(s.recv().unwrap(), None);
        assert_eq!(s.routing_table_len(), 0);
        assert_eq!(s.peer_count(), 0);
        assert_eq!(
            s.send(Msg::from_frames([id, "x".into()]))
                .unwrap_err()
                .error,
            Error::Unroutable
        );
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            matches!(events[..], [SocketEvent::Disconnected { .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn notifications_can_be_turned_off() {
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.stream_notify = false;
        let mut s = Socket::new(SocketType::Stream, o, now);
        let a = s.accept(now);
        assert_eq!(s.recv().unwrap(), None);
        s.bytes(a).unwrap().handle_input(b"data", now);
        let (_, data) = recv(&mut s);
        assert_eq!(data, b"data");
        s.detach(a, now);
        assert_eq!(s.recv().unwrap(), None);
    }

    #[test]
    fn an_empty_frame_closes_the_peer_after_its_output_without_a_notification() {
        let now = Instant::now();
        let mut s = stream();
        let a = s.accept(now);
        let (id, _) = recv(&mut s);
        s.send(Msg::from_frames([id.clone(), "last".into()]))
            .unwrap();
        s.send(Msg::from_frames([id.clone(), Frame::new()]))
            .unwrap();
        // The id is gone at once.
        assert_eq!(
            s.send(Msg::from_frames([id.clone(), "late".into()]))
                .unwrap_err()
                .error,
            Error::Unroutable
        );
        assert_eq!(
            s.poll_action(),
            None,
            "not closed before the output is written"
        );
        assert_eq!(written(&mut s, a), b"last");
        assert_eq!(s.poll_action(), Some(Action::Close { peer: a }));
        s.detach(a, now);
        assert_eq!(s.recv().unwrap(), None, "no notification for our own close");
        assert_eq!(s.peer_count(), 0);
    }

    #[test]
    fn a_close_with_nothing_left_to_write_closes_at_once() {
        let now = Instant::now();
        let mut s = stream();
        let a = s.accept(now);
        let (id, _) = recv(&mut s);
        s.bytes(a).unwrap().handle_input(b"hi", now);
        let _ = recv(&mut s);
        s.send(Msg::from_frames([id.clone(), "ok".into()])).unwrap();
        assert_eq!(written(&mut s, a), b"ok");
        s.send(Msg::from_frames([id.clone(), Frame::new()]))
            .unwrap();
        assert_eq!(s.poll_action(), Some(Action::Close { peer: a }));
        s.detach(a, now);
        assert_eq!(s.recv().unwrap(), None);
        assert_eq!(s.peer_count(), 0);
    }

    #[test]
    fn a_connect_side_peer_keeps_its_id_across_reconnections() {
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.connect_routing_id = Some("web".into());
        let mut s = Socket::new(SocketType::Stream, o, now);
        let p = s.connect("tcp://127.0.0.1:80", now);
        assert!(
            s.options().connect_routing_id.is_none(),
            "consumed by the connect"
        );
        // Known (and queued to) before the connection exists, as libzmq's pipe is.
        s.send(Msg::from_frames([
            Frame::from("web"),
            Frame::from("GET /\r\n"),
        ]))
        .unwrap();
        s.attach(p, now);
        assert_eq!(recv(&mut s), (Frame::from("web"), Vec::new()));
        assert_eq!(written(&mut s, p), b"GET /\r\n");
        s.detach(p, now);
        assert_eq!(recv(&mut s), (Frame::from("web"), Vec::new()));
        assert_eq!(s.routing_table_len(), 1, "kept while redialled");
        s.attach(p, now);
        assert_eq!(recv(&mut s), (Frame::from("web"), Vec::new()));
        // A second connect gets a generated id.
        let q = s.connect("tcp://127.0.0.1:81", now);
        s.attach(q, now);
        let (id, _) = recv(&mut s);
        assert_eq!(id.len(), 5);
    }

    #[test]
    fn any_bytes_in_any_split_come_out_whole_and_in_order() {
        // A small generator (no randomness of our own in the core): reads of 1 byte to 3
        // read caps from three peers, interleaved, with the receive high-water mark at 3.
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.connection.rcvhwm = 3;
        let mut s = Socket::new(SocketType::Stream, o, now);
        let peers = [s.accept(now), s.accept(now), s.accept(now)];
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(recv(&mut s).0);
        }
        let mut sent = vec![Vec::new(); 3];
        let mut got = vec![Vec::new(); 3];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 3) as usize;
            let len = 1 + (x >> 8) as usize % (3 * crate::connection::RAW_READ_CAP);
            let data: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            if s.connection(peers[k]).is_some_and(|c| c.wants_read()) {
                s.bytes(peers[k]).unwrap().handle_input(&data, now);
                sent[k].extend_from_slice(&data);
            }
            if x % 2 == 0 {
                while let Some(m) = s.recv().unwrap() {
                    let k = ids.iter().position(|id| *id == m.frames()[0]).unwrap();
                    assert!(m.frames()[1].len() <= crate::connection::RAW_READ_CAP);
                    got[k].extend_from_slice(&m.frames()[1]);
                }
            }
        }
        while let Some(m) = s.recv().unwrap() {
            let k = ids.iter().position(|id| *id == m.frames()[0]).unwrap();
            got[k].extend_from_slice(&m.frames()[1]);
        }
        assert_eq!(got, sent);
    }

    #[test]
    fn misuse_is_refused_or_dropped_as_libzmq_does() {
        let now = Instant::now();
        let mut s = stream();
        let a = s.accept(now);
        let (id, _) = recv(&mut s);
        // A lone routing id frame: dropped.
        s.send(Msg::from_frames([id.clone()])).unwrap();
        // More than [id, data]: refused, the message handed back.
        let three = Msg::from_frames([id.clone(), "a".into(), "b".into()]);
        let e = s.send(three.clone()).unwrap_err();
        assert!(matches!(e.error, Error::InvalidState(_)));
        assert_eq!(e.msg, three);
        assert!(written(&mut s, a).is_empty());
    }

    #[test]
    fn the_send_hwm_blocks_a_peer_that_does_not_read() {
        let now = Instant::now();
        let mut o = SocketOptions::default();
        o.sndhwm = 2;
        let mut s = Socket::new(SocketType::Stream, o, now);
        let _a = s.accept(now);
        let (id, _) = recv(&mut s);
        let big = Frame::from(vec![0u8; 300 * 1024]);
        let mut sent = 0;
        let error = loop {
            match s.send(Msg::from_frames([id.clone(), big.clone()])) {
                Ok(()) => sent += 1,
                Err(e) => break e.error,
            }
            assert!(sent < 100, "never blocked");
        };
        assert_eq!(error, Error::WouldBlock);
    }
}
