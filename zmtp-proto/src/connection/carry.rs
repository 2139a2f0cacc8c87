//! A connection that carries whole messages (in-process transport): no greeting, no
//! mechanism, no framing. What the socket sends waits here as [`Carried`] items until the
//! driver moves them to the peer; what the peer sent is delivered straight into the
//! connection's receive queue.
//!
//! The high-water marks work by credit, as libzmq's pipes do: the sender may have at most the
//! receiver's `rcvhwm` messages on their way (here, in the driver's shared queue, or in the
//! receiver's queue, not yet taken by its application). Together with the sender's own queue
//! (`sndhwm`, in the socket's core) that bounds a direction at `sndhwm + rcvhwm`, the sum
//! libzmq's inproc uses. The receiver reports what its application took once a low-water mark
//! of messages was taken (or its queue ran dry), not per message.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::message::Msg;

/// One item on its way between two in-process peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// A whole message, moved (never encoded, never copied).
    Msg(Msg),
    /// A subscription to a topic (a SUB's, travelling to a PUB or XPUB).
    Subscribe(Bytes),
    /// A cancelled subscription.
    Cancel(Bytes),
}

/// The message side of a [`Connection`](super::Connection) in message mode.
#[derive(Debug)]
pub(super) struct Carry {
    /// Items for the peer, not yet moved by the driver.
    pub(super) out: VecDeque<Carried>,
    /// Messages handed to `out` so far.
    sent: u64,
    /// Messages of ours the peer's application took so far (its credit report).
    acked: u64,
    /// The peer's receive high-water mark: most messages on their way (0: no limit).
    window: u64,
    /// Messages our application took so far.
    pub(super) taken: u64,
    /// `taken` as last reported to the peer.
    reported: u64,
    /// Report once this many messages were taken since the last report.
    lwm: u64,
}

impl Carry {
    /// `window`: the peer's receive high-water mark; `rcvhwm`: ours.
    pub(super) fn new(window: usize, rcvhwm: usize) -> Self {
        Self {
            out: VecDeque::new(),
            sent: 0,
            acked: 0,
            window: window as u64,
            taken: 0,
            reported: 0,
            lwm: low_water_mark(rcvhwm),
        }
    }

    /// True if the peer's window has room for another message.
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        self.window == 0 || self.sent - self.acked < self.window
    }

    #[inline]
    pub(super) fn push(&mut self, msg: Msg) {
        self.sent += 1;
        self.out.push_back(Carried::Msg(msg));
    }

    /// The peer's application has taken `acked` of our messages in all.
    pub(super) fn set_acked(&mut self, acked: u64) {
        self.acked = self.acked.max(acked.min(self.sent));
    }

    /// Counts a message our application took; true if a report to the peer is now due.
    #[inline]
    pub(super) fn took(&mut self) -> bool {
        self.taken += 1;
        self.taken - self.reported == self.lwm
    }

    /// True if a report of what our application took is due.
    pub(super) fn report_due(&self) -> bool {
        self.taken - self.reported >= self.lwm
    }

    /// What our application took in all, now reported.
    pub(super) fn take_report(&mut self) -> u64 {
        self.reported = self.taken;
        self.taken
    }
}

/// How many taken messages make a credit report: an eighth of the receive high-water mark,
/// at most 1024. libzmq's pipes report at half the mark, which leaves the receiver half a
/// window to work through while the report wakes the sender; across threads that wake-up
/// can take longer than half a window of small messages, and the receiver then runs dry
/// while the sender sleeps at its high-water mark. An eighth keeps seven eighths in hand
/// (measured in docs/benchmarks.md: the two-thread 16 B stream). It never exceeds the mark,
/// so a sender whose window is full always gets its report: once everything on its way was
/// taken, at least the mark was. Without a mark the sender has no window: no reports.
fn low_water_mark(rcvhwm: usize) -> u64 {
    let hwm = rcvhwm as u64;
    if hwm == 0 {
        return u64::MAX;
    }
    hwm.div_ceil(8).min(1024)
}
