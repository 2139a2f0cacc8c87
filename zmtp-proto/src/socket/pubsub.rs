//! PUB, XPUB, SUB and XSUB (RFC 29, checklist S1–S5).
//!
//! The publisher filters: each message goes to every subscriber with a subscription that is a
//! prefix of its first frame, found with one walk of a [`SubscriptionTrie`]. A subscriber whose
//! queue is full loses that message alone; the publisher never blocks. XPUB also hands
//! subscriptions to the application (`0x01 topic` / `0x00 topic`): new and last ones by default,
//! all with `xpub_verbose` / `xpub_verboser`, and synthesised unsubscriptions when a subscriber
//! goes away. Subscribers send their subscriptions to every publisher, again on every
//! reconnection, and filter locally too (messages may arrive before a change takes effect).

use std::collections::{HashMap, VecDeque};

use bytes::{BufMut, Bytes, BytesMut};

use super::core::Core;
use super::transfer::Filtered;
use super::trie::SubscriptionTrie;
use super::{PeerId, SendError};
use crate::error::Error;
use crate::message::Msg;
use crate::socket_type::SocketType;

/// PUB and XPUB.
#[derive(Debug, Default)]
pub(crate) struct Pub {
    subs: SubscriptionTrie<PeerId>,
    /// Distinct topics per subscriber, kept when `max_subscriptions` bounds them.
    held: HashMap<PeerId, usize>,
    /// Subscription messages for the XPUB application, each with the peer it came from
    /// (`None` for those synthesised when a peer goes).
    notices: VecDeque<(Msg, Option<PeerId>)>,
    targets: Vec<PeerId>,
    /// `xpub_manual`: what each peer asked for (its subscriptions are what the application
    /// applied); used to report a leaving peer's topics.
    requested: SubscriptionTrie<PeerId>,
    /// `xpub_manual`: the peer whose subscription the application received last; its
    /// `subscribe`/`unsubscribe` apply to it.
    last_peer: Option<PeerId>,
    /// `xpub_nodrop`: the subscribers at their high-water mark that refused the last send;
    /// the socket is writable again once they all have room.
    blocked: Vec<PeerId>,
}

fn notice(subscribe: bool, topic: &[u8]) -> Msg {
    let mut b = BytesMut::with_capacity(topic.len() + 1);
    b.put_u8(u8::from(subscribe));
    b.put_slice(topic);
    Msg::from(b.freeze())
}

impl Pub {
    /// Publishes in place: `msg` is read by every subscriber's encoder (cloned only for one
    /// whose queue holds messages already) and left empty. With `xpub_nodrop`, a matching
    /// subscriber at its high-water mark refuses the whole send ([`Error::WouldBlock`],
    /// `msg` untouched).
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        core.epoch += 1;
        let epoch = core.epoch;
        let topic = msg.first().expect("send checked for frames");
        self.targets.clear();
        let targets = &mut self.targets;
        self.subs.matches(topic, |peer| targets.push(peer));
        if core.options.invert_matching {
            // The subscribers with no matching subscription (libzmq `dist.reverse_match`).
            for &peer in &self.targets {
                if let Some(p) = core.peer_mut(peer) {
                    p.epoch = epoch;
                }
            }
            let inverted: Vec<PeerId> = core
                .round_robin
                .iter()
                .copied()
                .filter(|&id| core.peer(id).is_some_and(|p| p.epoch != epoch))
                .collect();
            self.targets = inverted;
            core.epoch += 1;
        }
        let epoch = core.epoch;
        if core.options.xpub_nodrop {
            self.blocked.clear();
            for &peer in &self.targets {
                if core.peer(peer).is_some_and(|p| p.routable) && core.is_full(peer) {
                    self.blocked.push(peer);
                }
            }
            if !self.blocked.is_empty() {
                return Err(Error::WouldBlock);
            }
        }
        for i in 0..self.targets.len() {
            let peer = self.targets[i];
            let Some(p) = core.peer_mut(peer) else {
                continue;
            };
            if p.epoch == epoch || !p.routable {
                continue;
            }
            p.epoch = epoch;
            if core.enqueue(peer, &*msg).is_err() {
                tracing::trace!("PUB dropped a message for a subscriber at its high-water mark");
            }
        }
        msg.clear();
        Ok(())
    }

    /// `xpub_nodrop`: false while a subscriber that refused the last send is still full.
    pub(crate) fn is_writable(&self, core: &Core) -> bool {
        self.blocked
            .iter()
            .all(|&peer| core.peer(peer).is_none() || !core.is_full(peer))
    }

    /// The message `xpub_welcome_msg` has each new subscriber's queue start with.
    pub(crate) fn welcome(core: &mut Core, peer: PeerId) {
        if let Some(welcome) = core.options.xpub_welcome_msg.clone() {
            let _ = core.enqueue(peer, Msg::from(welcome));
        }
    }

    /// `xpub_manual`: the application's `subscribe`/`unsubscribe` on the XPUB, for the peer
    /// whose subscription it received last (nothing if there is none, as in libzmq).
    pub(crate) fn manual_subscribe(&mut self, core: &mut Core, topic: &[u8], subscribe: bool) {
        let Some(peer) = self.last_peer else { return };
        if core.peer(peer).is_none() {
            return;
        }
        if subscribe {
            if !self.subs.contains(topic, peer) {
                self.subs.add(topic, peer);
            }
        } else {
            self.subs.remove(topic, peer);
        }
    }

    pub(crate) fn on_subscription(
        &mut self,
        core: &mut Core,
        peer: PeerId,
        topic: Bytes,
        subscribe: bool,
    ) {
        let xpub = core.socket_type == SocketType::XPub;
        let (verbose, verboser) = (core.options.xpub_verbose, core.options.xpub_verboser);
        if xpub && core.options.xpub_manual {
            // Nothing is applied: every request goes to the application, with its peer.
            if subscribe {
                if !self.requested.contains(&topic, peer) {
                    self.requested.add(&topic, peer);
                }
            } else {
                self.requested.remove(&topic, peer);
            }
            self.notices
                .push_back((notice(subscribe, &topic), Some(peer)));
            return;
        }
        if subscribe {
            // A peer's subscriptions are a set, as in libzmq's mtrie: a subscriber forwards
            // every subscribe but only its last cancel (S1), so counting duplicates here would
            // keep a topic alive after the subscriber dropped it.
            let first = if self.subs.contains(&topic, peer) {
                false
            } else {
                if let Some(limit) = core.options.max_subscriptions {
                    let held = self.held.entry(peer).or_default();
                    if *held >= limit {
                        tracing::debug!(?peer, limit, "subscription refused");
                        let remote = core.remote_of(peer);
                        core.events
                            .push_back(super::SocketEvent::SubscriptionRefused {
                                peer,
                                limit,
                                remote,
                            });
                        return;
                    }
                    *held += 1;
                }
                self.subs.add(&topic, peer)
            };
            if xpub && (first || verbose || verboser) {
                self.notices.push_back((notice(true, &topic), Some(peer)));
            }
        } else if let Some(last) = self.subs.remove(&topic, peer) {
            if let Some(held) = self.held.get_mut(&peer) {
                *held -= 1;
            }
            if xpub && (last || verboser) {
                self.notices.push_back((notice(false, &topic), Some(peer)));
            }
        }
    }

    /// A subscriber went away: its subscriptions go, and XPUB reports the topics nobody
    /// subscribes to any more (S4) — with `xpub_verboser`, every topic the peer held, as
    /// libzmq does (`xpub.cpp` `xpipe_terminated`).
    pub(crate) fn on_inactive(&mut self, core: &mut Core, peer: PeerId) {
        let xpub = core.socket_type == SocketType::XPub;
        let verboser = core.options.xpub_verboser;
        self.held.remove(&peer);
        self.blocked.retain(|&p| p != peer);
        if self.last_peer == Some(peer) {
            self.last_peer = None;
        }
        let notices = &mut self.notices;
        if xpub && core.options.xpub_manual {
            // Every topic the peer asked for (libzmq reports them all in manual mode).
            self.requested.remove_key_with(peer, |topic, _| {
                notices.push_back((notice(false, topic), None));
            });
            self.subs.remove_key_with(peer, |_, _| ());
            return;
        }
        self.subs.remove_key_with(peer, |topic, last| {
            if xpub && (last || verboser) {
                notices.push_back((notice(false, topic), None));
            }
        });
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Result<Option<Msg>, Error> {
        if core.socket_type != SocketType::XPub {
            return Err(Error::NotSupported("PUB sockets cannot receive"));
        }
        if let Some((n, peer)) = self.notices.pop_front() {
            if core.options.xpub_manual {
                self.last_peer = peer;
            }
            return Ok(Some(n));
        }
        let mut msg = None;
        core.next_inbound(&mut msg, |_| ());
        Ok(msg)
    }

    pub(crate) fn is_readable(&self, core: &Core) -> bool {
        core.socket_type == SocketType::XPub && (!self.notices.is_empty() || core.has_inbound())
    }
}

/// SUB and XSUB.
#[derive(Debug, Default)]
pub(crate) struct Sub {
    subs: SubscriptionTrie<()>,
}

impl Sub {
    pub(crate) fn subscribe(&mut self, core: &mut Core, topic: &[u8], subscribe: bool) {
        // Every subscribe travels, but only the last cancel of a topic (libzmq `xsub.cpp`):
        // publishers keep one subscription per topic and peer.
        let forward = if subscribe {
            self.subs.add(topic, ());
            true
        } else {
            self.subs.remove(topic, ()) == Some(true)
        };
        if !forward {
            return;
        }
        let peers: Vec<PeerId> = core.peer_ids().collect();
        for id in peers {
            if let Some(conn) = core.peer_mut(id).and_then(|p| p.conn.as_mut()) {
                if conn.is_active() {
                    let _ = conn.send_subscription(topic, subscribe);
                }
            }
            core.after_output(id);
        }
    }

    /// S3: every subscription is sent again on each new connection.
    pub(crate) fn on_active(&mut self, core: &mut Core, id: PeerId) {
        let Some(conn) = core.peer_mut(id).and_then(|p| p.conn.as_mut()) else {
            return;
        };
        self.subs.for_each_topic(|topic| {
            let _ = conn.send_subscription(topic, true);
        });
        core.after_output(id);
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Option<Msg> {
        let mut msg = Msg::new();
        self.recv_into(core, &mut msg).then_some(msg)
    }

    /// Like [`Sub::recv`], into `out` (untouched when there is no message).
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> bool {
        if core.socket_type != SocketType::Sub {
            return core.next_inbound(out, |_| ()).is_some();
        }
        let subs = &self.subs;
        let invert = core.options.invert_matching;
        let mut target = Filtered {
            inner: out,
            accept: |_, m: &Msg| Self::wanted(subs, m) != invert,
        };
        core.next_inbound(&mut target, |_| ()).is_some()
    }

    /// S2: SUB filters locally as well; XSUB passes everything on, like libzmq (only
    /// `sub.cpp` sets `options.filter`). With `invert_matching` the caller inverts this.
    #[inline]
    fn wanted(subs: &SubscriptionTrie<()>, msg: &Msg) -> bool {
        subs.is_match(msg.first().map_or(&[][..], |f| &f[..]))
    }

    pub(crate) fn send(&mut self, core: &mut Core, msg: Msg) -> Result<(), SendError> {
        if core.socket_type != SocketType::XSub {
            return Err(SendError {
                error: Error::NotSupported("SUB sockets cannot send; use subscribe"),
                msg,
            });
        }
        let first = msg.first().expect("send checked for frames");
        if let Some(&flag @ (0 | 1)) = first.first() {
            // S5: `0x01 topic` subscribes, `0x00 topic` unsubscribes.
            self.subscribe(core, &first[1..], flag == 1);
            return Ok(());
        }
        // Other messages go upstream to every publisher; full queues drop.
        let peers: Vec<PeerId> = core.round_robin.clone();
        for id in peers {
            let _ = core.enqueue(id, &msg);
        }
        Ok(())
    }
}
