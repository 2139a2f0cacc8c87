//! Socket options, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::config::{ConnectionConfig, DEFAULT_HANDSHAKE_IVL, DEFAULT_HWM};
use crate::mechanism::MechanismConfig;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// Options of a [`Socket`](crate::socket::Socket). Field names follow libzmq's `ZMQ_*` options.
///
/// ```
/// use std::time::Duration;
/// use zmtp_proto::socket::SocketOptions;
///
/// let mut o = SocketOptions::default();
/// assert_eq!((o.sndhwm, o.rcvhwm), (1000, 1000));
/// assert_eq!(o.reconnect_ivl, Duration::from_millis(100));
/// o.router_mandatory = true;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Messages queued per peer for sending before `send` blocks or drops (`ZMQ_SNDHWM`;
    /// 0 = unlimited).
    pub sndhwm: usize,
    /// Messages decoded per peer before reading from it pauses (`ZMQ_RCVHWM`; 0 = unlimited).
    pub rcvhwm: usize,
    /// Our routing id, sent as `Identity` (`ZMQ_ROUTING_ID`).
    pub routing_id: Bytes,
    /// How long `close` keeps flushing queued messages (`ZMQ_LINGER`); `None` waits forever.
    pub linger: Option<Duration>,
    /// Delay before redialling a lost or refused connection (`ZMQ_RECONNECT_IVL`).
    pub reconnect_ivl: Duration,
    /// Upper bound of the exponential backoff (`ZMQ_RECONNECT_IVL_MAX`); zero disables backoff.
    pub reconnect_ivl_max: Duration,
    /// Handshake deadline (`ZMQ_HANDSHAKE_IVL`); `None` disables it.
    pub handshake_ivl: Option<Duration>,
    /// PING interval (`ZMQ_HEARTBEAT_IVL`); `None` disables heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// Heartbeat timeout (`ZMQ_HEARTBEAT_TIMEOUT`); defaults to the interval.
    pub heartbeat_timeout: Option<Duration>,
    /// TTL announced in PINGs (`ZMQ_HEARTBEAT_TTL`).
    pub heartbeat_ttl: Option<Duration>,
    /// Largest inbound message (`ZMQ_MAXMSGSIZE`); `None` is unlimited.
    pub maxmsgsize: Option<u64>,
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
    /// Keep only the last message in each queue (`ZMQ_CONFLATE`; PUSH, PULL, PUB, SUB, DEALER).
    pub conflate: bool,
    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`).
    pub immediate: bool,
    /// Security mechanism.
    pub mechanism: MechanismConfig,
    /// Application metadata sent in READY (`ZMQ_METADATA`, `X-` names).
    pub metadata: Metadata,
    /// Where generated ROUTER identities start counting. `None` (the default): the machine
    /// starts at a fixed value, and the async drivers pick a random one per socket, as libzmq
    /// starts its counter at a random number.
    pub seed: Option<u32>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            sndhwm: DEFAULT_HWM,
            rcvhwm: DEFAULT_HWM,
            routing_id: Bytes::new(),
            linger: None,
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            handshake_ivl: Some(DEFAULT_HANDSHAKE_IVL),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            maxmsgsize: None,
            router_mandatory: false,
            router_handover: false,
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            max_subscriptions: None,
            conflate: false,
            immediate: false,
            mechanism: MechanismConfig::Null,
            metadata: Metadata::new(),
            seed: None,
        }
    }
}

impl SocketOptions {
    /// The per-connection settings these options imply for a socket of type `socket_type`.
    pub fn connection_config(&self, socket_type: SocketType) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(socket_type);
        c.routing_id = self.routing_id.clone();
        c.mechanism = self.mechanism.clone();
        c.metadata = self.metadata.clone();
        c.handshake_ivl = self.handshake_ivl;
        c.heartbeat_ivl = self.heartbeat_ivl;
        c.heartbeat_timeout = self.heartbeat_timeout;
        c.heartbeat_ttl = self.heartbeat_ttl;
        c.maxmsgsize = self.maxmsgsize;
        c.rcvhwm = self.rcvhwm;
        c.conflate = self.conflate;
        c
    }
}
