//! STREAM sockets (`ZMQ_STREAM`) in the async API: raw TCP peers (HTTP, telnet, legacy
//! devices) behind one socket. A STREAM socket is made, bound and connected like any other
//! ([`Socket::new`]`(SocketType::Stream)`); what differs is the message shape and a few
//! options:
//!
//! * every message received is `[routing id, data]`: one per chunk read from a peer (at most
//!   [`RAW_READ_CAP`](zmtp_proto::RAW_READ_CAP) bytes of data), or
//!   `[routing id, ""]` when a peer connects or disconnects
//!   ([`SocketOptions::stream_notify`](crate::prelude::SocketOptions::stream_notify), on by
//!   default);
//! * `send([routing id, data])` writes `data` to that peer as it is; `send([routing id, ""])`
//!   closes it once what was queued for it is written; an unknown routing id fails with
//!   [`Error::Unroutable`](crate::prelude::Error::Unroutable) (`EHOSTUNREACH`);
//! * [`Socket::connect_stream`] connects and returns the routing id of the new peer (the one
//!   asked for, as `ZMQ_CONNECT_ROUTING_ID`, or a generated one);
//! * a STREAM socket talks to raw peers only: a ZMTP peer's greeting is just data to it.
//!
//! What one peer can make it hold is bounded: decoding stops at the receive high-water mark
//! (`rcvhwm` messages) or 4 MiB of data held, whichever comes first, and the socket stops
//! reading from that peer until the application takes messages (TCP back-pressure does the
//! rest). Monitor events: `Accepted` or `Connected`, then `Disconnected`; there is no
//! handshake to report.

use std::io;
use std::time::Instant;

use bytes::Bytes;
use zmtp_proto::EndpointOp;

use crate::runtime::{Runtime, Share};
use crate::socket::Socket;

impl<R: Runtime> Socket<R> {
    /// STREAM: connects to `endpoint` and returns the routing id its messages will carry:
    /// `routing_id` if given (libzmq's `ZMQ_CONNECT_ROUTING_ID`; 1 to 255 bytes, not in use),
    /// else a generated one (five bytes, as libzmq makes them). The peer keeps it across
    /// reconnections. Messages sent to it before the connection is up wait in its queue.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let web = Socket::new(SocketType::Stream);
    /// let id = web.connect_stream("tcp://127.0.0.1:8080", Some(b"site")).await.unwrap();
    /// assert_eq!(&id[..], b"site");
    /// // Queued until the connection is up, then written raw.
    /// let request = bytes::Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n");
    /// web.send([id.clone(), request]).await.unwrap();
    /// let other = web.connect_stream("tcp://127.0.0.1:8081", None).await.unwrap();
    /// assert_eq!(other.len(), 5);
    /// # });
    /// ```
    pub async fn connect_stream(
        &self,
        endpoint: &str,
        routing_id: Option<&[u8]>,
    ) -> io::Result<Bytes> {
        if self.socket_type() != zmtp_proto::SocketType::Stream {
            return Err(
                zmtp_proto::Error::NotSupported("connect_stream: STREAM sockets only").into(),
            );
        }
        if routing_id.is_some_and(|r| r.is_empty() || r.len() > 255) {
            return Err(
                zmtp_proto::Error::InvalidOption("connect_routing_id: 1 to 255 bytes").into(),
            );
        }
        let mut shared = self.shared.lock();
        let state = &mut shared.state;
        if let Some(id) = routing_id {
            let mut options = state.machine().options().clone();
            options.connect_routing_id = Some(Bytes::copy_from_slice(id));
            state
                .machine_mut()
                .set_options(options)
                .map_err(io::Error::from)?;
        }
        let peer = state.connect(endpoint, Instant::now()).map_err(|e| {
            io::Error::from(zmtp_proto::Error::Endpoint {
                operation: EndpointOp::Connect,
                endpoint: endpoint.into(),
                kind: io::ErrorKind::InvalidInput,
                reason: e.to_string().into(),
            })
        });
        let peer = match peer {
            Ok(peer) => peer,
            Err(e) => {
                // The id was for this connect only.
                let mut options = state.machine().options().clone();
                options.connect_routing_id = None;
                let _ = state.machine_mut().set_options(options);
                return Err(e);
            }
        };
        let id = state
            .machine()
            .routing_id(peer)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        if routing_id.is_some_and(|r| r != &id[..]) {
            // In use already: the machine generated one instead (libzmq asserts).
            state.machine_mut().disconnect(peer, Instant::now());
            state.notify_driver();
            return Err(zmtp_proto::Error::InvalidOption("connect_routing_id: in use").into());
        }
        Ok(id)
    }

    /// Live peers (connected, connecting or waiting to redial) of any socket type: one that
    /// only grows while peers come and go is a leak.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Stream);
    /// assert_eq!(s.peer_count(), 0);
    /// s.connect("tcp://127.0.0.1:9").await.unwrap();
    /// assert_eq!(s.peer_count(), 1);
    /// # });
    /// ```
    pub fn peer_count(&self) -> usize {
        self.shared.lock().state.machine().peer_count()
    }
}
