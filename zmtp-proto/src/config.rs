//! Per-connection settings, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::mechanism::MechanismConfig;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// Default `handshake_ivl` (libzmq `ZMQ_HANDSHAKE_IVL`: 30 s).
pub const DEFAULT_HANDSHAKE_IVL: Duration = Duration::from_secs(30);
/// Default maximum number of frames in one message.
pub(crate) const DEFAULT_MAX_FRAMES: usize = 4096;
/// Default receive high-water mark, in messages (libzmq `ZMQ_RCVHWM`).
pub(crate) const DEFAULT_HWM: usize = 1000;
/// Default size of the input arena's read chunk.
pub(crate) const DEFAULT_READ_CHUNK: usize = 64 * 1024;
/// Bodies at least this large are handed out as their own [`Bytes`] for vectored writes instead
/// of being copied into the coalescing buffer.
pub(crate) const DEFAULT_ZERO_COPY_THRESHOLD: usize = 8 * 1024;

/// Settings for one [`Connection`](crate::Connection). The socket type is not among them: it is
/// the socket's, given to [`Connection::new`](crate::Connection::new) beside these.
///
/// ```
/// use std::time::Duration;
/// use zmtp_proto::ConnectionConfig;
///
/// let mut config = ConnectionConfig::default();
/// config.routing_id = bytes::Bytes::from_static(b"worker-1");
/// config.heartbeat_ivl = Some(Duration::from_secs(1));
/// assert_eq!(config.handshake_ivl, Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Our routing id (`ZMQ_ROUTING_ID`), sent as `Identity` by REQ, DEALER and ROUTER.
    pub routing_id: Bytes,
    /// Security mechanism.
    pub mechanism: MechanismConfig,
    /// Extra application metadata (`X-` names, libzmq `ZMQ_METADATA`).
    pub metadata: Metadata,
    /// Deadline for the whole handshake (`ZMQ_HANDSHAKE_IVL`); `None` disables it.
    pub handshake_ivl: Option<Duration>,
    /// Interval between PINGs (`ZMQ_HEARTBEAT_IVL`); `None` disables heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// How long to wait for traffic after a PING (`ZMQ_HEARTBEAT_TIMEOUT`); defaults to the
    /// interval.
    pub heartbeat_timeout: Option<Duration>,
    /// TTL announced in our PINGs (`ZMQ_HEARTBEAT_TTL`), sent in deciseconds.
    pub heartbeat_ttl: Option<Duration>,
    /// Largest message accepted, in bytes (`ZMQ_MAXMSGSIZE`); `None` is unlimited.
    pub maxmsgsize: Option<u64>,
    /// Largest number of frames accepted in one message.
    pub max_frames: usize,
    /// Decoded messages buffered per connection before decoding pauses (`ZMQ_RCVHWM`;
    /// 0 = unlimited).
    pub rcvhwm: usize,
    /// Keep only the newest decoded message (`ZMQ_CONFLATE`): a new message replaces any
    /// message not yet taken.
    pub conflate: bool,
    /// Bytes the input arena makes room for on each read.
    pub read_chunk: usize,
    /// Bodies of this many bytes or more are written from their own buffer (vectored write)
    /// instead of being copied into the coalescing buffer.
    pub zero_copy_threshold: usize,
}

impl Default for ConnectionConfig {
    /// libzmq's defaults.
    fn default() -> Self {
        Self {
            routing_id: Bytes::new(),
            mechanism: MechanismConfig::Null,
            metadata: Metadata::new(),
            handshake_ivl: Some(DEFAULT_HANDSHAKE_IVL),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            maxmsgsize: None,
            max_frames: DEFAULT_MAX_FRAMES,
            rcvhwm: DEFAULT_HWM,
            conflate: false,
            read_chunk: DEFAULT_READ_CHUNK,
            zero_copy_threshold: DEFAULT_ZERO_COPY_THRESHOLD,
        }
    }
}

impl ConnectionConfig {
    /// The metadata a socket of type `socket_type` announces in READY: `Socket-Type`,
    /// `Identity` for the types that send it, then the application's properties.
    pub fn local_metadata(&self, socket_type: SocketType) -> Metadata {
        let mut m = Metadata::new();
        m.insert(
            crate::metadata::SOCKET_TYPE,
            Bytes::from_static(socket_type.as_str().as_bytes()),
        );
        if socket_type.sends_identity() {
            m.insert(crate::metadata::IDENTITY, self.routing_id.clone());
        }
        for (name, value) in self.metadata.iter() {
            m.insert(name.clone(), value.clone());
        }
        m
    }
}
