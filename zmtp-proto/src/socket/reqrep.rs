//! REQ and REP (RFC 28, checklist R1/R2).
//!
//! REQ prefixes each request with an empty delimiter (and, with `req_correlate`, a request id),
//! sends one request at a time round-robin, and accepts a reply only from the peer the request
//! went to. REP strips the envelope — every frame up to and including the first empty one —
//! remembers it, and puts it back on the reply.

use super::core::Core;
use super::transfer::{Enveloped, Filtered};
use super::PeerId;
use crate::error::Error;
use crate::message::{Frame, Msg};

/// The envelope of a request or reply sent straight to its peer: the empty delimiter alone.
static DELIMITER: [Frame; 1] = [Frame::new()];

/// REQ state: the peer whose reply we wait for, and the current request id.
#[derive(Debug, Default)]
pub(crate) struct Req {
    waiting: Option<PeerId>,
    request_id: u32,
}

impl Req {
    /// Sends a request. The message is taken in place: left empty once queued, untouched on
    /// an error.
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        if self.waiting.is_some() && !core.options.req_relaxed {
            return Err(Error::InvalidState(
                "REQ must receive the reply before sending again",
            ));
        }
        let Some(peer) = core.round_robin_pick() else {
            return Err(Error::WouldBlock);
        };
        let sent = if core.options.req_correlate {
            self.request_id = self.request_id.wrapping_add(1);
            let id = Frame::copy_from_slice(&self.request_id.to_be_bytes());
            let envelope = [id, Frame::new()];
            core.enqueue(
                peer,
                Enveloped {
                    envelope: &envelope,
                    msg,
                },
            )
            .is_ok()
        } else {
            core.enqueue(
                peer,
                Enveloped {
                    envelope: &DELIMITER,
                    msg,
                },
            )
            .is_ok()
        };
        if !sent {
            // The message is untouched: the envelope was never inserted into it.
            return Err(Error::WouldBlock);
        }
        // Replies to earlier requests (relaxed mode) are stale now: drop them. (No reply to
        // this request can be among them: it has not even been written yet.)
        core.drop_inbound();
        self.waiting = Some(peer);
        Ok(())
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Result<Option<Msg>, Error> {
        let mut msg = Msg::new();
        Ok(self.recv_into(core, &mut msg)?.then_some(msg))
    }

    /// Takes the reply into `out` (untouched when there is none), checking and stripping its
    /// envelope where it waits: replies from other peers, with another request id or without
    /// the delimiter are dropped unmoved (R1).
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> Result<bool, Error> {
        let Some(waiting) = self.waiting else {
            return Err(Error::InvalidState(
                "REQ must send a request before receiving",
            ));
        };
        if core.nothing_inbound() {
            // The usual answer while the reply is on its way, checked before building the
            // filter below.
            return Ok(false);
        }
        let correlate = core.options.req_correlate;
        let id = self.request_id.to_be_bytes();
        let envelope = if correlate { 2 } else { 1 };
        let accept = |peer: PeerId, msg: &Msg| {
            if peer != waiting {
                tracing::trace!("REQ dropped a reply from a peer it did not ask");
                return false;
            }
            let frames = msg.frames();
            if correlate && frames.first().map(|f| &f[..]) != Some(&id[..]) {
                return false;
            }
            frames.len() > envelope && frames[envelope - 1].is_empty()
        };
        let mut target = Filtered {
            inner: &mut *out,
            accept,
        };
        if core.next_inbound(&mut target, |_| ()).is_none() {
            return Ok(false);
        }
        if envelope == 1 {
            // The usual envelope: the delimiter alone (cheaper than a drain).
            out.pop_front();
        } else {
            out.drop_front(envelope);
        }
        self.waiting = None;
        Ok(true)
    }

    pub(crate) fn is_readable(&self, core: &Core) -> bool {
        self.waiting.is_some() && core.has_inbound()
    }

    pub(crate) fn is_writable(&self, core: &Core) -> bool {
        (self.waiting.is_none() || core.options.req_relaxed) && core.round_robin_has_room()
    }
}

/// REP state: where the reply to the current request goes, and its envelope (empty for the
/// usual bare delimiter, which is not stored).
#[derive(Debug, Default)]
pub(crate) struct Rep {
    replying_to: Option<PeerId>,
    envelope: Msg,
}

impl Rep {
    fn delimiter(msg: &Msg) -> Option<usize> {
        msg.iter().position(|f| f.is_empty())
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Result<Option<Msg>, Error> {
        let mut msg = Msg::new();
        Ok(self.recv_into(core, &mut msg)?.then_some(msg))
    }

    /// Takes the next request into `out` (untouched when there is none), its envelope checked
    /// where it waits and kept for the reply.
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> Result<bool, Error> {
        if self.replying_to.is_some() {
            return Err(Error::InvalidState(
                "REP must send the reply before receiving again",
            ));
        }
        if core.nothing_inbound() {
            return Ok(false);
        }
        // Where the accepted request's delimiter is (found once, where the request waits).
        let mut delimiter = 0;
        let accept = |_: PeerId, msg: &Msg| match Self::delimiter(msg) {
            Some(d) => {
                delimiter = d;
                d + 1 < msg.len()
            }
            None => {
                tracing::trace!("REP dropped a request without an envelope delimiter");
                false
            }
        };
        let mut target = Filtered {
            inner: &mut *out,
            accept,
        };
        let Some((peer, ())) = core.next_inbound(&mut target, |_| ()) else {
            return Ok(false);
        };
        if delimiter == 0 {
            out.pop_front();
        } else {
            out.move_front_to(delimiter + 1, &mut self.envelope);
        }
        self.replying_to = Some(peer);
        Ok(true)
    }

    /// Sends the reply. The message is taken in place: left empty once sent (or dropped),
    /// untouched on an error.
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        let Some(peer) = self.replying_to.take() else {
            return Err(Error::InvalidState(
                "REP must receive a request before replying",
            ));
        };
        let envelope: &[Frame] = if self.envelope.is_empty() {
            &DELIMITER
        } else {
            self.envelope.frames()
        };
        // REP never blocks: if the requester is gone or full, the reply is dropped (§1.12).
        if core.enqueue(peer, Enveloped { envelope, msg }).is_err() {
            tracing::debug!("REP dropped a reply: requester gone or at its high-water mark");
            msg.clear();
        }
        self.envelope.clear();
        Ok(())
    }
}
