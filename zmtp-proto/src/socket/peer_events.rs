//! What a connection's events do to the socket: a completed handshake admits the peer to the
//! routing (or refuses it), subscriptions reach PUB, and a closed connection leaves it; after
//! each, the core's bookkeeping for the peer is brought up to date.

use std::time::Duration;

use bytes::Bytes;

use super::{pipeline, router, Kind, PeerId, Socket, SocketEvent};
use crate::connection::{Connection, Event, PeerInfo};
use crate::socket_type::SocketType;

impl Socket {
    /// [`Socket::process_events`] after input was decoded: without connection events (the usual case
    /// for messages) only the core's bookkeeping is left, except for PUB, which discards what
    /// its peers send (and for an ignored peer, whose caller passes `events`).
    #[inline]
    pub(super) fn after_input(&mut self, id: PeerId, events: bool) {
        if events || matches!(self.kind, Kind::Pub(_)) {
            self.process_events(id);
        } else {
            self.core.refresh_peer(id);
        }
    }

    /// Processes the connection events of `id`, then refreshes its bookkeeping.
    pub(super) fn process_events(&mut self, id: PeerId) {
        loop {
            let Some(event) = self
                .core
                .peer_mut(id)
                .and_then(|p| p.conn.as_mut())
                .and_then(|c| c.poll_event())
            else {
                break;
            };
            match event {
                Event::HandshakeSucceeded(info) => self.on_active(id, info),
                Event::Subscribe(topic) => self.on_subscription(id, topic, true),
                Event::Cancel(topic) => self.on_subscription(id, topic, false),
                Event::Closed(error) => {
                    let active = self.core.peer(id).is_some_and(|p| p.info.is_some());
                    let remote = self.core.remote_of(id);
                    self.core
                        .events
                        .push_back(SocketEvent::ended(active, id, error, remote));
                    if let Some(info) = self.core.peer_mut(id).and_then(|p| p.info.clone()) {
                        self.on_inactive(id, &info);
                        if let Some(p) = self.core.peer_mut(id) {
                            p.info = None;
                        }
                    }
                    self.core.request_close(id);
                }
            }
        }
        let discard = if self.core.peer(id).is_some_and(|p| p.ignored) {
            // What an ignored peer sends is dropped as it is decoded.
            self.core.discard_input(id);
            true
        } else if matches!(self.kind, Kind::Pub(_)) && self.core.socket_type == SocketType::Pub {
            // PUB discards upstream messages (S4) so they never hold up subscriptions.
            while self.core.inbound_from(id).is_some() {}
            true
        } else {
            false
        };
        if discard {
            let more = self
                .core
                .peer(id)
                .and_then(|p| p.conn.as_ref())
                .is_some_and(Connection::has_events);
            if more {
                // Discarding resumed a decoder paused at the high-water mark, and it found
                // subscriptions (or a failure) behind the discarded messages.
                return self.process_events(id);
            }
        }
        self.core.refresh_peer(id);
    }

    fn on_active(&mut self, id: PeerId, info: PeerInfo) {
        let mut admitted = true;
        let mut displaced = None;
        let refusal = match &mut self.kind {
            Kind::Router(router) => {
                match router.on_active(&mut self.core, id, &info) {
                    router::Admission::Routed { displaced: d } => displaced = d,
                    router::Admission::Ignored => admitted = false,
                }
                Ok(())
            }
            Kind::Pair => pipeline::pair_on_active(&mut self.core, id),
            Kind::Stream(raw) => {
                raw.on_active(&mut self.core, id);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(error) = refusal {
            tracing::debug!(%error, "refusing peer");
            if let Some(conn) = self.core.peer_mut(id).and_then(|p| p.conn.as_mut()) {
                conn.close(error);
            }
            return;
        }
        if let Some(p) = self.core.peer_mut(id) {
            p.info = Some(info.clone());
            p.backoff = Duration::ZERO;
            p.ignored = !admitted;
        }
        let remote = self.core.remote_of(id);
        if !matches!(self.kind, Kind::Stream(_)) {
            // A raw peer has no handshake: libzmq reports none either.
            self.core.events.push_back(SocketEvent::HandshakeSucceeded {
                peer: id,
                info,
                remote,
            });
        }
        if !admitted {
            tracing::debug!("ignoring a peer whose routing id is in use");
            return;
        }
        if let Some(old) = displaced {
            // Ignoring it took its decoded messages, which may have resumed its decoder.
            self.process_events(old);
        }
        if self.core.options.immediate && self.core.peer(id).is_some_and(|p| p.endpoint.is_some()) {
            // With `immediate` the "pipe" of a connect-side peer is new with each connection.
            self.on_new_pipe(id);
        }
        // Every type but PULL sends to its peers; SUB also sends them its subscriptions.
        if !matches!(self.kind, Kind::Pull) {
            self.core.set_routable(id, true);
        }
        if let Kind::Sub(sub) = &mut self.kind {
            sub.on_active(&mut self.core, id);
        }
    }

    pub(super) fn on_inactive(&mut self, id: PeerId, info: &PeerInfo) {
        match &mut self.kind {
            Kind::Router(router) => router.on_inactive(&mut self.core, id, info),
            Kind::Stream(raw) => raw.on_inactive(&mut self.core, id),
            Kind::Pub(p) => p.on_inactive(&mut self.core, id),
            _ => {}
        }
        let connect_side = self.core.peer(id).is_some_and(|p| p.endpoint.is_some());
        let keep = connect_side && !self.core.options.immediate && self.takes_unconnected_peers();
        if !keep {
            self.core.set_routable(id, false);
        }
    }

    fn on_subscription(&mut self, id: PeerId, topic: Bytes, subscribe: bool) {
        if let Kind::Pub(p) = &mut self.kind {
            p.on_subscription(&mut self.core, id, topic, subscribe);
        }
    }
}
