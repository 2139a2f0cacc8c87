//! REQ and REP (RFC 28, checklist R1/R2).
//!
//! REQ prefixes each request with an empty delimiter (and, with `req_correlate`, a request id),
//! sends one request at a time round-robin, and accepts a reply only from the peer the request
//! went to. REP strips the envelope — every frame up to and including the first empty one —
//! remembers it, and puts it back on the reply.

use bytes::Bytes;

use super::core::Core;
use super::PeerId;
use crate::error::Error;
use crate::message::Msg;

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
        let Some(peer) = core.lb_next() else {
            return Err(Error::WouldBlock);
        };
        // Replies to earlier requests (relaxed mode) are stale now: drop them.
        while core.next_inbound().is_some() {}
        msg.push_front(Bytes::new());
        if core.options.req_correlate {
            self.request_id = self.request_id.wrapping_add(1);
            msg.push_front(Bytes::copy_from_slice(&self.request_id.to_be_bytes()));
        }
        match core.enqueue(peer, &mut *msg) {
            Ok(()) => {
                self.waiting = Some(peer);
                Ok(())
            }
            Err(msg) => {
                // Undo the envelope so the caller gets its message back unchanged.
                let envelope = if core.options.req_correlate { 2 } else { 1 };
                let _ = msg.split_front(envelope);
                Err(Error::WouldBlock)
            }
        }
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Result<Option<Msg>, Error> {
        let Some(waiting) = self.waiting else {
            return Err(Error::InvalidState(
                "REQ must send a request before receiving",
            ));
        };
        while let Some((peer, mut msg)) = core.next_inbound() {
            if peer != waiting {
                tracing::trace!("REQ dropped a reply from a peer it did not ask");
                continue;
            }
            if core.options.req_correlate {
                let id = msg.pop_front();
                if id.as_deref() != Some(&self.request_id.to_be_bytes()[..]) {
                    continue;
                }
            }
            if msg.pop_front().is_none_or(|d| !d.is_empty()) || msg.is_empty() {
                // Not a well-formed reply (R1: skip messages without the delimiter).
                continue;
            }
            self.waiting = None;
            return Ok(Some(msg));
        }
        Ok(None)
    }

    pub(crate) fn is_readable(&self, core: &Core) -> bool {
        self.waiting.is_some() && core.has_inbound()
    }

    pub(crate) fn is_writable(&self, core: &Core) -> bool {
        (self.waiting.is_none() || core.options.req_relaxed) && core.lb_has_room()
    }
}

/// REP state: where the reply to the current request goes.
#[derive(Debug, Default)]
pub(crate) struct Rep {
    replying_to: Option<(PeerId, Msg)>,
}

impl Rep {
    pub(crate) fn recv(&mut self, core: &mut Core) -> Result<Option<Msg>, Error> {
        if self.replying_to.is_some() {
            return Err(Error::InvalidState(
                "REP must send the reply before receiving again",
            ));
        }
        while let Some((peer, mut msg)) = core.next_inbound() {
            let Some(delimiter) = msg.iter().position(|f| f.is_empty()) else {
                tracing::trace!("REP dropped a request without an envelope delimiter");
                continue;
            };
            let envelope = msg.split_front(delimiter + 1);
            if msg.is_empty() {
                continue;
            }
            self.replying_to = Some((peer, envelope));
            return Ok(Some(msg));
        }
        Ok(None)
    }

    /// Sends the reply. The message is taken in place: left empty once sent (or dropped),
    /// untouched on an error.
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        let Some((peer, mut reply)) = self.replying_to.take() else {
            return Err(Error::InvalidState(
                "REP must receive a request before replying",
            ));
        };
        reply.append(msg);
        // REP never blocks: if the requester is gone or full, the reply is dropped (§1.12).
        if core.enqueue(peer, &mut reply).is_err() {
            tracing::debug!("REP dropped a reply: requester gone or at its high-water mark");
        }
        Ok(())
    }
}
