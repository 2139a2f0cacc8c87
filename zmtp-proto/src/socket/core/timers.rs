//! Time in the socket: the heap of per-peer deadlines (connection timers and redials), and
//! closing with its linger deadline.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::Core;
use crate::connection::Connection;
use crate::socket::{Action, PeerId};

impl Core {
    pub(super) fn schedule(&mut self, id: PeerId) {
        let Some(p) = self.peer_mut(id) else { return };
        let conn_deadline = p.conn.as_ref().and_then(Connection::poll_timeout);
        let deadline = match (conn_deadline, p.redial_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match deadline {
            Some(d) if p.scheduled.is_none_or(|s| d < s) => {
                p.scheduled = Some(d);
                self.timers.push(Reverse((d, id.index, id.generation)));
            }
            // Nothing to wait for any more (a handshake completed, say): the entry in the
            // heap is stale and must not keep `poll_timeout` (and the driver's timer) armed.
            None => p.scheduled = None,
            Some(_) => {}
        }
        self.prune_timers();
    }

    /// Drops stale entries (of removed peers, or superseded) from the top of the timer heap,
    /// so that `poll_timeout` reports a deadline only when something is due then.
    pub(super) fn prune_timers(&mut self) {
        while let Some(&Reverse((t, index, generation))) = self.timers.peek() {
            let id = PeerId { index, generation };
            if self.peer(id).is_some_and(|p| p.scheduled == Some(t)) {
                break;
            }
            self.timers.pop();
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let t = self.timers.peek().map(|Reverse((t, _, _))| *t);
        // Once handle_timeout has seen the linger deadline it is no longer a deadline: returning
        // it again would make a driver that sleeps until poll_timeout spin.
        let linger = self.linger_deadline.filter(|&d| d > self.now);
        match (t, linger) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires expired peer timers; returns the peers whose connection may have changed.
    pub(crate) fn expire_timers(&mut self, now: Instant, expired: &mut Vec<PeerId>) {
        self.now = now;
        while let Some(&Reverse((t, index, generation))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let id = PeerId { index, generation };
            let Some(p) = self.peer_mut(id) else { continue };
            if p.scheduled != Some(t) {
                continue;
            }
            p.scheduled = None;
            let mut dial = None;
            if p.redial_at.is_some_and(|r| r <= now) {
                p.redial_at = None;
                p.dialing = true;
                dial = p.endpoint.clone();
            }
            if let Some(conn) = p.conn.as_mut() {
                conn.handle_timeout(now);
            }
            if let Some(endpoint) = dial {
                self.push_action(Action::Dial { peer: id, endpoint });
            }
            expired.push(id);
        }
    }

    pub(crate) fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.linger_deadline = self.options.linger.map(|l| self.now + l);
        // Peers still waiting to be dialled have nothing to flush to, unless messages are
        // queued for them: like libzmq, those keep dialling until linger runs out.
        let give_up = self.linger_deadline.is_some_and(|d| d <= self.now);
        let idle: Vec<PeerId> = self
            .peer_ids()
            .filter(|&id| {
                self.peer(id)
                    .is_some_and(|p| p.conn.is_none() && (give_up || p.out.is_empty()))
            })
            .collect();
        for id in idle {
            self.remove(id);
        }
    }

    /// Changes the linger time; on a closing socket the new time counts from now (see
    /// `Socket::set_linger`).
    pub(crate) fn set_linger(&mut self, linger: Option<Duration>) {
        self.options.linger = linger;
        if self.closing {
            self.linger_deadline = linger.map(|l| self.now + l);
            if self.linger_deadline.is_some_and(|d| d <= self.now) {
                // Nothing more is delivered: peers still waiting to be dialled go now.
                let idle: Vec<PeerId> = self
                    .peer_ids()
                    .filter(|&id| self.peer(id).is_some_and(|p| p.conn.is_none()))
                    .collect();
                for id in idle {
                    self.remove(id);
                }
            }
        }
    }

    pub(crate) fn linger_deadline(&self) -> Option<Instant> {
        self.linger_deadline
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// True once a closing socket has flushed everything or its linger time is up.
    pub(crate) fn is_closed(&self) -> bool {
        if !self.closing {
            return false;
        }
        if self.linger_deadline.is_some_and(|d| self.now >= d) {
            return true;
        }
        self.peer_ids().all(|id| {
            self.peer(id).is_none_or(|p| {
                p.out.is_empty()
                    && p.conn
                        .as_ref()
                        .is_none_or(|c| !c.has_transmit() || c.error().is_some() || !c.is_active())
            })
        })
    }
}

pub(super) fn next_backoff(current: &mut Duration, ivl: Duration, max: Duration) -> Duration {
    let delay = if current.is_zero() {
        ivl
    } else if max > ivl {
        (*current * 2).min(max)
    } else {
        ivl
    };
    *current = delay;
    delay
}
