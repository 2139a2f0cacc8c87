//! Socket options, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::config::{ConnectionConfig, DEFAULT_HWM};
use crate::error::Error;
use crate::socket_type::SocketType;

/// Options of a [`Socket`](crate::socket::Socket). Field names follow libzmq's `ZMQ_*` options.
///
/// ```
/// use std::time::Duration;
/// use zmtp_proto::SocketOptions;
///
/// let mut o = SocketOptions::default();
/// assert_eq!((o.sndhwm, o.connection.rcvhwm), (1000, 1000));
/// assert_eq!(o.reconnect_ivl, Duration::from_millis(100));
/// o.router_mandatory = true;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocketOptions {
    /// What each connection of the socket gets: receive high-water mark (`ZMQ_RCVHWM`),
    /// routing id (`ZMQ_ROUTING_ID`), mechanism, metadata (`ZMQ_METADATA`), handshake and
    /// heartbeat times, `ZMQ_MAXMSGSIZE`, `ZMQ_CONFLATE`.
    pub connection: ConnectionConfig,
    /// Messages queued per peer for sending before `send` blocks or drops (`ZMQ_SNDHWM`;
    /// 0 = unlimited).
    pub sndhwm: usize,
    /// How long `close` keeps flushing queued messages (`ZMQ_LINGER`); `None` waits forever.
    pub linger: Option<Duration>,
    /// Delay before redialling a lost or refused connection (`ZMQ_RECONNECT_IVL`).
    pub reconnect_ivl: Duration,
    /// Upper bound of the exponential backoff (`ZMQ_RECONNECT_IVL_MAX`); zero disables backoff.
    pub reconnect_ivl_max: Duration,
    /// ROUTER: report unroutable messages as errors instead of dropping them
    /// (`ZMQ_ROUTER_MANDATORY`).
    pub router_mandatory: bool,
    /// ROUTER: a new peer with an identity already in use takes it over
    /// (`ZMQ_ROUTER_HANDOVER`).
    pub router_handover: bool,
    /// REQ: allow a new request before the reply arrived (`ZMQ_REQ_RELAXED`).
    pub req_relaxed: bool,
    /// REQ: prefix requests with a request id and check it on replies (`ZMQ_REQ_CORRELATE`).
    pub req_correlate: bool,
    /// XPUB: pass every subscription to the application, not only new ones
    /// (`ZMQ_XPUB_VERBOSE`).
    pub xpub_verbose: bool,
    /// XPUB: pass every unsubscription too (`ZMQ_XPUB_VERBOSER`).
    pub xpub_verboser: bool,
    /// PUB/XPUB: distinct topics one subscriber may hold; a subscription beyond it is refused
    /// (ignored, and reported as [`SocketEvent::SubscriptionRefused`]). `None`, the default,
    /// is unlimited, as libzmq is (which has no such option: the name follows its style), so a
    /// publisher that faces subscribers it does not trust should set it.
    ///
    /// [`SocketEvent::SubscriptionRefused`]: crate::socket::SocketEvent::SubscriptionRefused
    pub max_subscriptions: Option<usize>,
    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`).
    pub immediate: bool,
    /// Where generated ROUTER identities start counting. `None` (the default): the machine
    /// starts at a fixed value, and the async drivers pick a random one per socket, as libzmq
    /// starts its counter at a random number.
    pub seed: Option<u32>,

    // ---- protocol-level options added for libzmq parity (issue 21) -------------------------
    /// ROUTER, DEALER, REQ: send an empty one-frame message on every new connection, so that
    /// a ROUTER peer learns our routing id at once (`ZMQ_PROBE_ROUTER`). As in libzmq the
    /// probe goes into the peer's queue when it is created (at `connect`, or when a connection
    /// is accepted), ahead of anything sent later.
    pub probe_router: bool,
    /// ROUTER: deliver `[routing id, ""]` when a peer connects ([`SocketOptions::NOTIFY_CONNECT`])
    /// and/or disconnects ([`SocketOptions::NOTIFY_DISCONNECT`]) (`ZMQ_ROUTER_NOTIFY`; 0, the
    /// default, is off).
    pub router_notify: u8,
    /// PUB/XPUB: a message sent to every new subscriber when its connection is attached,
    /// before anything published later (`ZMQ_XPUB_WELCOME_MSG`); a SUB must subscribe to its
    /// topic to see it. `None` (the default) sends nothing.
    pub xpub_welcome_msg: Option<Bytes>,
    /// PUB/XPUB: `send` fails with [`Error::WouldBlock`](crate::Error::WouldBlock) (and
    /// queues nothing) when a matching subscriber is at its high-water mark, instead of
    /// dropping the message for that subscriber (`ZMQ_XPUB_NODROP`).
    pub xpub_nodrop: bool,
    /// XPUB: subscriptions from peers are not applied; each is passed to the application,
    /// which applies what it wants with `subscribe`/`unsubscribe` on the XPUB for the peer
    /// whose subscription it received last (`ZMQ_XPUB_MANUAL`).
    pub xpub_manual: bool,
    /// PUB/XPUB: send each message to the subscribers that do *not* match it; SUB/XSUB:
    /// deliver the messages that do *not* match a subscription (`ZMQ_INVERT_MATCHING`). Both
    /// ends must set it.
    pub invert_matching: bool,
    /// When to stop redialling a connect-side peer (`ZMQ_RECONNECT_STOP`, a bit set of
    /// [`SocketOptions::RECONNECT_STOP_CONN_REFUSED`],
    /// [`SocketOptions::RECONNECT_STOP_HANDSHAKE_FAILED`] and
    /// [`SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT`]); 0, the default, never stops.
    /// A peer that stops is removed with its queue, as after `disconnect`.
    pub reconnect_stop: u8,
    /// STREAM: deliver `[routing id, ""]` when a raw peer connects and when it disconnects
    /// (`ZMQ_STREAM_NOTIFY`; on by default, as in libzmq). Other types ignore it.
    pub stream_notify: bool,
    /// ROUTER and STREAM: the routing id of the peer made by the next `connect`
    /// (`ZMQ_CONNECT_ROUTING_ID`); that `connect` consumes it. Not empty, at most 255 bytes.
    /// A STREAM peer gets it instead of a generated id; a ROUTER peer gets it instead of the
    /// one it announces, and keeps it across redials. An id already in use is ignored and
    /// logged (libzmq asserts): the STREAM peer gets a generated id, the ROUTER peer the one
    /// it announces; `Socket::connect_stream` in zmtp-async refuses it instead.
    pub connect_routing_id: Option<Bytes>,

    // ---- transport (OS) options: applied by the driver to its TCP sockets ------------------
    /// How long a TCP dial may take before it counts as failed and is retried after
    /// `reconnect_ivl` (`ZMQ_CONNECT_TIMEOUT`; `None`, libzmq's 0, leaves it to the OS).
    pub connect_timeout: Option<Duration>,
    /// `SO_KEEPALIVE` on TCP connections (`ZMQ_TCP_KEEPALIVE`: `None` is libzmq's -1, the OS
    /// default; `Some(false)` is 0, `Some(true)` is 1).
    pub tcp_keepalive: Option<bool>,
    /// `TCP_KEEPIDLE`, whole seconds (`ZMQ_TCP_KEEPALIVE_IDLE`; `None` is -1, the OS default).
    /// Applied only with `tcp_keepalive == Some(true)`, as in libzmq.
    pub tcp_keepalive_idle: Option<Duration>,
    /// `TCP_KEEPCNT` (`ZMQ_TCP_KEEPALIVE_CNT`; `None` is -1, the OS default).
    pub tcp_keepalive_cnt: Option<u32>,
    /// `TCP_KEEPINTVL`, whole seconds (`ZMQ_TCP_KEEPALIVE_INTVL`; `None` is -1, the OS
    /// default).
    pub tcp_keepalive_intvl: Option<Duration>,
    /// `SO_SNDBUF` in bytes (`ZMQ_SNDBUF`; `None` is -1, the OS default).
    pub sndbuf: Option<usize>,
    /// `SO_RCVBUF` in bytes (`ZMQ_RCVBUF`; `None` is -1, the OS default).
    pub rcvbuf: Option<usize>,
    /// `IP_TOS` (IPv4) / `IPV6_TCLASS` (IPv6) on TCP connections and listeners (`ZMQ_TOS`;
    /// 0, the default, leaves the OS value).
    pub tos: u32,
    /// `SO_BINDTODEVICE`: TCP sockets use only this interface (`ZMQ_BINDTODEVICE`; Linux,
    /// needs `CAP_NET_RAW`). At most 15 bytes.
    pub bindtodevice: Option<String>,
    /// `TCP_USER_TIMEOUT` on Linux: how long sent data may stay unacknowledged before the
    /// connection is dropped (`ZMQ_TCP_MAXRT`, whole milliseconds; `None` is libzmq's 0, the
    /// OS default).
    pub tcp_maxrt: Option<Duration>,
    /// Pending connections a TCP listener queues for `accept` (`ZMQ_BACKLOG`; libzmq's
    /// default, 100). Applies to listeners bound from now on.
    pub backlog: u32,
    /// Use IPv6 too (`ZMQ_IPV6`): host names resolve to IPv6 and IPv4 addresses, `tcp://*`
    /// binds `::` accepting both. Off (the default, as in libzmq): IPv4 only, and an IPv6
    /// address in an endpoint is refused.
    pub ipv6: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            sndhwm: DEFAULT_HWM,
            linger: None,
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            router_mandatory: false,
            router_handover: false,
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            max_subscriptions: None,
            immediate: false,
            seed: None,
            probe_router: false,
            router_notify: 0,
            xpub_welcome_msg: None,
            xpub_nodrop: false,
            xpub_manual: false,
            invert_matching: false,
            reconnect_stop: 0,
            stream_notify: true,
            connect_routing_id: None,
            connect_timeout: None,
            tcp_keepalive: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_cnt: None,
            tcp_keepalive_intvl: None,
            sndbuf: None,
            rcvbuf: None,
            tos: 0,
            bindtodevice: None,
            tcp_maxrt: None,
            backlog: 100,
            ipv6: false,
        }
    }
}

impl SocketOptions {
    /// [`SocketOptions::router_notify`]: report connections (`ZMQ_NOTIFY_CONNECT`).
    pub const NOTIFY_CONNECT: u8 = 1;
    /// [`SocketOptions::router_notify`]: report disconnections (`ZMQ_NOTIFY_DISCONNECT`).
    pub const NOTIFY_DISCONNECT: u8 = 2;
    /// [`SocketOptions::reconnect_stop`]: stop when a dial is refused (`ECONNREFUSED`)
    /// (`ZMQ_RECONNECT_STOP_CONN_REFUSED`).
    pub const RECONNECT_STOP_CONN_REFUSED: u8 = 1;
    /// [`SocketOptions::reconnect_stop`]: stop when a handshake fails
    /// (`ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED`).
    pub const RECONNECT_STOP_HANDSHAKE_FAILED: u8 = 2;
    /// [`SocketOptions::reconnect_stop`]: stop once an established connection ends
    /// (`ZMQ_RECONNECT_STOP_AFTER_DISCONNECT`).
    pub const RECONNECT_STOP_AFTER_DISCONNECT: u8 = 4;

    /// Checks these options for a socket of type `socket_type`, as `zmq_setsockopt` does:
    /// an option of another socket type set to anything but its default, or a value out of
    /// range, is [`Error::InvalidOption`] naming the option (libzmq's `EINVAL`).
    ///
    /// ```
    /// use zmtp_proto::{Error, SocketOptions, SocketType};
    ///
    /// let mut o = SocketOptions::default();
    /// o.router_mandatory = true;
    /// assert!(o.validate(SocketType::Router).is_ok());
    /// assert!(matches!(o.validate(SocketType::Dealer), Err(Error::InvalidOption(_))));
    /// ```
    pub fn validate(&self, socket_type: SocketType) -> Result<(), Error> {
        use SocketType::*;
        let only = |set: bool, name: &'static str, types: &[SocketType]| {
            if set && !types.contains(&socket_type) {
                Err(Error::InvalidOption(name))
            } else {
                Ok(())
            }
        };
        only(
            self.router_mandatory,
            "router_mandatory: ROUTER only",
            &[Router],
        )?;
        only(
            self.router_handover,
            "router_handover: ROUTER only",
            &[Router],
        )?;
        only(
            self.router_notify != 0,
            "router_notify: ROUTER only",
            &[Router],
        )?;
        only(
            self.connect_routing_id.is_some(),
            "connect_routing_id: ROUTER and STREAM only",
            &[Router, Stream],
        )?;
        if self
            .connect_routing_id
            .as_ref()
            .is_some_and(|r| r.is_empty() || r.len() > 255)
        {
            return Err(Error::InvalidOption("connect_routing_id: 1 to 255 bytes"));
        }
        only(
            self.probe_router,
            "probe_router: ROUTER, DEALER and REQ only",
            &[Router, Dealer, Req],
        )?;
        only(self.req_relaxed, "req_relaxed: REQ only", &[Req])?;
        only(self.req_correlate, "req_correlate: REQ only", &[Req])?;
        only(self.xpub_verbose, "xpub_verbose: XPUB only", &[XPub, Pub])?;
        only(self.xpub_verboser, "xpub_verboser: XPUB only", &[XPub, Pub])?;
        only(
            self.xpub_welcome_msg.is_some(),
            "xpub_welcome_msg: PUB and XPUB only",
            &[XPub, Pub],
        )?;
        only(
            self.xpub_nodrop,
            "xpub_nodrop: PUB and XPUB only",
            &[XPub, Pub],
        )?;
        only(self.xpub_manual, "xpub_manual: XPUB only", &[XPub])?;
        only(
            self.max_subscriptions.is_some(),
            "max_subscriptions: PUB and XPUB only",
            &[XPub, Pub],
        )?;
        only(
            self.invert_matching,
            "invert_matching: PUB, XPUB, SUB and XSUB only",
            &[Pub, XPub, Sub, XSub],
        )?;
        only(
            self.connection.conflate,
            "conflate: PUSH, PULL, PUB, SUB and DEALER only",
            &[Push, Pull, Pub, Sub, Dealer],
        )?;
        let bad = |cond: bool, what: &'static str| {
            if cond {
                Err(Error::InvalidOption(what))
            } else {
                Ok(())
            }
        };
        bad(
            self.router_notify & !(Self::NOTIFY_CONNECT | Self::NOTIFY_DISCONNECT) != 0,
            "router_notify: only NOTIFY_CONNECT and NOTIFY_DISCONNECT",
        )?;
        bad(
            self.reconnect_stop
                & !(Self::RECONNECT_STOP_CONN_REFUSED
                    | Self::RECONNECT_STOP_HANDSHAKE_FAILED
                    | Self::RECONNECT_STOP_AFTER_DISCONNECT)
                != 0,
            "reconnect_stop: unknown bits",
        )?;
        bad(
            self.xpub_welcome_msg.as_ref().is_some_and(Bytes::is_empty),
            "xpub_welcome_msg: empty (use None)",
        )?;
        bad(
            self.tcp_keepalive_idle.is_some_and(|d| d.as_secs() == 0),
            "tcp_keepalive_idle: at least one second",
        )?;
        bad(
            self.tcp_keepalive_intvl.is_some_and(|d| d.as_secs() == 0),
            "tcp_keepalive_intvl: at least one second",
        )?;
        bad(
            self.tcp_keepalive_cnt == Some(0),
            "tcp_keepalive_cnt: at least 1",
        )?;
        bad(
            self.bindtodevice
                .as_ref()
                .is_some_and(|n| n.is_empty() || n.len() > 15 || n.contains('\0')),
            "bindtodevice: an interface name of 1 to 15 bytes",
        )?;
        bad(
            self.sndbuf.is_some_and(|n| n > i32::MAX as usize)
                || self.rcvbuf.is_some_and(|n| n > i32::MAX as usize),
            "sndbuf/rcvbuf: at most 2^31 - 1",
        )?;
        bad(
            self.connect_timeout.is_some_and(|d| d.is_zero()),
            "connect_timeout: zero (use None)",
        )?;
        bad(self.backlog > i32::MAX as u32, "backlog: at most 2^31 - 1")?;
        bad(
            self.tcp_maxrt.is_some_and(|d| d.is_zero()),
            "tcp_maxrt: zero (use None)",
        )?;
        Ok(())
    }
}
