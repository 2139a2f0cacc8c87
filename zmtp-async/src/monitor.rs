//! Monitor events and the stream that delivers them.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use zmtp_proto::{PeerId, SocketEvent};

use crate::runtime::{Runtime, Share};

/// Monitor events: the machine's [`SocketEvent`]s plus what only a driver sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A protocol-level event (connected, handshake succeeded or failed, disconnected...).
    Socket(SocketEvent),
    /// The socket listens on `endpoint`.
    Listening {
        /// The endpoint actually bound.
        endpoint: String,
    },
    /// A connection was accepted on `endpoint`.
    Accepted {
        /// The listening endpoint.
        endpoint: String,
        /// The new peer.
        peer: PeerId,
        /// Where the peer is (`tcp://203.0.113.7:50512`); `None` for an unnamed `ipc://`
        /// peer. The peer's later events carry it too.
        remote: Option<std::sync::Arc<str>>,
    },
    /// Accepting on `endpoint` failed (e.g. out of file descriptors).
    AcceptFailed {
        /// The listening endpoint.
        endpoint: String,
        /// The error.
        error: String,
    },
    /// The socket stopped listening on `endpoint`: `unbind`, or the socket closed (libzmq's
    /// `ZMQ_EVENT_CLOSED` for a listener).
    ListenerClosed {
        /// The endpoint as `bind` reported it.
        endpoint: String,
    },
    /// The socket finished closing (after its linger): the last event, after which the
    /// monitor's stream ends (libzmq's `ZMQ_EVENT_MONITOR_STOPPED`).
    Closed,
}

/// A stream of [`MonitorEvent`]s from [`Socket::monitor`](crate::Socket::monitor).
///
/// Every monitor of a socket gets every event from its creation on: two monitors see the same
/// events, in the same order. Each keeps at most [`MONITOR_CAPACITY`](crate::MONITOR_CAPACITY)
/// unread events (the oldest go first); dropping a monitor stops its recording.
///
/// ```
/// use driver_compio::{MonitorEvent, Socket, SocketEvent, SocketType};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let push = Socket::new(SocketType::Push);
///     let mut events = push.monitor();
///     push.connect("tcp://127.0.0.1:9").await.unwrap(); // nobody listens there
///     match events.next().await {
///         Some(MonitorEvent::Socket(SocketEvent::ConnectRetried { .. })) => {}
///         other => panic!("unexpected {other:?}"),
///     }
/// });
/// ```
pub struct Monitor<R: Runtime> {
    pub(crate) shared: R::Shared,
    pub(crate) id: u64,
}

impl<R: Runtime> Drop for Monitor<R> {
    fn drop(&mut self) {
        if let Some(mut shared) = self.shared.try_lock() {
            shared.state.stop_monitor(self.id);
        }
    }
}

impl<R: Runtime> Monitor<R> {
    /// The next event; `None` once the socket is closed and all events were read.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{MonitorEvent, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let mut events = pull.monitor();
    /// pull.close().await;
    /// assert_eq!(events.next().await, Some(MonitorEvent::Closed));
    /// assert_eq!(events.next().await, None);
    /// # });
    /// ```
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.shared.lock().state.poll_monitor(self.id, cx)
    }
}

impl<R: Runtime> std::fmt::Debug for Monitor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl<R: Runtime> futures_core::Stream for Monitor<R> {
    type Item = MonitorEvent;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.get_mut().poll_event(cx)
    }
}
