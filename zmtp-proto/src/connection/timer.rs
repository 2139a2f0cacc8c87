//! The connection's timers: an enum-indexed table of deadlines.

use std::time::Instant;

/// The connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The handshake must complete before this.
    Handshake = 0,
    /// Send the next PING.
    Ping = 1,
    /// Traffic must arrive before this, since we sent a PING.
    PingTimeout = 2,
    /// Traffic must arrive before this, since the peer's PING announced a TTL.
    PeerTtl = 3,
}

const TIMER_COUNT: usize = 4;

/// The deadlines, and a bit per armed timer so that "no deadline" (the usual case once the
/// handshake is done, without heartbeats) is one test: the socket asks after every read and
/// write.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct TimerTable {
    at: [Option<Instant>; TIMER_COUNT],
    armed: u8,
}

impl TimerTable {
    pub(super) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
        self.armed |= 1 << t as u8;
    }

    pub(super) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }

    pub(super) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
        self.armed &= !(1 << t as u8);
    }

    /// The earliest deadline.
    #[inline]
    pub(super) fn next(&self) -> Option<Instant> {
        if self.armed == 0 {
            return None;
        }
        self.at.iter().flatten().min().copied()
    }

    pub(super) fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_next_deadline_is_the_earliest_armed_one() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Ping, now + Duration::from_secs(2));
        t.set(Timer::Handshake, now + Duration::from_secs(1));
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        assert!(t.expired(Timer::Handshake, now + Duration::from_secs(1)));
        assert!(!t.expired(Timer::Ping, now + Duration::from_secs(1)));
        t.stop(Timer::Handshake);
        assert_eq!(t.next(), Some(now + Duration::from_secs(2)));
        t.stop(Timer::Ping);
        assert_eq!(t.next(), None);
    }
}
