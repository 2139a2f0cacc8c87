//! `zmtp cat`'s socket-option flags, named after libzmq's `ZMQ_*` options.

use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use zmtp_proto::SocketOptions;
use zmtp_proto::SocketType;

/// libzmq's socket options (`zmq_setsockopt`), each named after its `ZMQ_*` option; integers
/// keep libzmq's meaning (-1 = the OS default or unlimited, where libzmq says so).
#[derive(Debug, Args)]
pub(crate) struct SocketOptionArgs {
    /// Largest inbound message in bytes; a peer sending a larger one is disconnected
    /// (ZMQ_MAXMSGSIZE; -1 = unlimited) [default: -1].
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub(crate) maxmsgsize: Option<i64>,
    /// Give up a TCP dial after MS milliseconds and retry (ZMQ_CONNECT_TIMEOUT; 0 = the OS's
    /// own limit) [default: 0].
    #[arg(long, value_name = "MS")]
    pub(crate) connect_timeout: Option<u64>,
    /// Delay before redialling, in milliseconds (ZMQ_RECONNECT_IVL) [default: 100].
    #[arg(long, value_name = "MS")]
    pub(crate) reconnect_ivl: Option<u64>,
    /// Upper bound of the redial backoff, in milliseconds (ZMQ_RECONNECT_IVL_MAX; 0 = no
    /// backoff) [default: 0].
    #[arg(long, value_name = "MS")]
    pub(crate) reconnect_ivl_max: Option<u64>,
    /// Stop redialling on: conn-refused, handshake-failed, after-disconnect; comma-separated
    /// (ZMQ_RECONNECT_STOP).
    #[arg(long, value_name = "WHEN", value_delimiter = ',')]
    pub(crate) reconnect_stop: Vec<String>,
    /// SO_KEEPALIVE on TCP connections (ZMQ_TCP_KEEPALIVE; -1 = the OS default, 0 = off,
    /// 1 = on) [default: -1].
    #[arg(long, value_name = "-1|0|1", allow_negative_numbers = true)]
    pub(crate) tcp_keepalive: Option<i32>,
    /// Idle seconds before the first keepalive probe (ZMQ_TCP_KEEPALIVE_IDLE).
    #[arg(long, value_name = "S")]
    pub(crate) tcp_keepalive_idle: Option<u64>,
    /// Keepalive probes before the connection is dropped (ZMQ_TCP_KEEPALIVE_CNT).
    #[arg(long, value_name = "N")]
    pub(crate) tcp_keepalive_cnt: Option<u32>,
    /// Seconds between keepalive probes (ZMQ_TCP_KEEPALIVE_INTVL).
    #[arg(long, value_name = "S")]
    pub(crate) tcp_keepalive_intvl: Option<u64>,
    /// Unacknowledged data older than MS milliseconds drops the connection (ZMQ_TCP_MAXRT;
    /// TCP_USER_TIMEOUT on Linux).
    #[arg(long, value_name = "MS")]
    pub(crate) tcp_maxrt: Option<u64>,
    /// SO_SNDBUF in bytes (ZMQ_SNDBUF; default: the OS's).
    #[arg(long, value_name = "BYTES")]
    pub(crate) sndbuf: Option<usize>,
    /// SO_RCVBUF in bytes (ZMQ_RCVBUF; default: the OS's).
    #[arg(long, value_name = "BYTES")]
    pub(crate) rcvbuf: Option<usize>,
    /// IP type of service / IPv6 traffic class (ZMQ_TOS).
    #[arg(long, value_name = "N")]
    pub(crate) tos: Option<u32>,
    /// Use only network interface IFACE (ZMQ_BINDTODEVICE; Linux, needs CAP_NET_RAW).
    #[arg(long, value_name = "IFACE")]
    pub(crate) bindtodevice: Option<String>,
    /// Pending connections a TCP listener queues (ZMQ_BACKLOG) [default: 100].
    #[arg(long, value_name = "N")]
    pub(crate) backlog: Option<u32>,
    /// Use IPv6 as well as IPv4 (ZMQ_IPV6): needed for IPv6 addresses, makes 'tcp://*' bind
    /// '::' (accepting both).
    #[arg(long)]
    pub(crate) ipv6: bool,
    /// Queue messages only for completed connections (ZMQ_IMMEDIATE).
    #[arg(long)]
    pub(crate) immediate: bool,
    /// dealer, req, router: send an empty message on each new connection (ZMQ_PROBE_ROUTER).
    #[arg(long)]
    pub(crate) probe_router: bool,
    /// router: receive [id, ""] when peers connect and/or disconnect: connect, disconnect,
    /// comma-separated (ZMQ_ROUTER_NOTIFY).
    #[arg(long, value_name = "WHEN", value_delimiter = ',')]
    pub(crate) router_notify: Vec<String>,
    /// pub, xpub: send TEXT to each new subscriber (ZMQ_XPUB_WELCOME_MSG). Hex with --hex.
    #[arg(long, value_name = "TEXT")]
    pub(crate) xpub_welcome_msg: Option<String>,
    /// pub, xpub: wait at a full subscriber instead of dropping (ZMQ_XPUB_NODROP).
    #[arg(long)]
    pub(crate) xpub_nodrop: bool,
    /// xpub: print every subscription, not only new ones (ZMQ_XPUB_VERBOSE).
    #[arg(long)]
    pub(crate) xpub_verbose: bool,
    /// pub, xpub, sub, xsub: match the messages that do NOT start with a subscription
    /// (ZMQ_INVERT_MATCHING; set it at both ends).
    #[arg(long)]
    pub(crate) invert_matching: bool,
    /// push, pull, pub, sub, dealer: keep only the last message in each queue
    /// (ZMQ_CONFLATE).
    #[arg(long)]
    pub(crate) conflate: bool,
}

impl SocketOptionArgs {
    /// Sets what the flags ask on `o`, then checks the result for `socket_type` (an option of
    /// another socket type is an error, as `zmq_setsockopt`'s `EINVAL`).
    pub(crate) fn apply(
        &self,
        o: &mut SocketOptions,
        socket_type: SocketType,
        hex: bool,
    ) -> Result<(), String> {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        if let Some(n) = self.maxmsgsize {
            o.connection.maxmsgsize = match n {
                -1 => None,
                n => Some(u64::try_from(n).map_err(|_| "--maxmsgsize: -1 or a size in bytes")?),
            };
        }
        if let Some(t) = self.connect_timeout {
            o.connect_timeout = (t > 0).then(|| ms(t));
        }
        if let Some(t) = self.reconnect_ivl {
            o.reconnect_ivl = ms(t);
        }
        if let Some(t) = self.reconnect_ivl_max {
            o.reconnect_ivl_max = ms(t);
        }
        for when in &self.reconnect_stop {
            o.reconnect_stop |= match when.as_str() {
                "conn-refused" => SocketOptions::RECONNECT_STOP_CONN_REFUSED,
                "handshake-failed" => SocketOptions::RECONNECT_STOP_HANDSHAKE_FAILED,
                "after-disconnect" => SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT,
                other => return Err(format!("--reconnect-stop: unknown '{other}'")),
            };
        }
        if let Some(k) = self.tcp_keepalive {
            o.tcp_keepalive = match k {
                -1 => None,
                0 => Some(false),
                1 => Some(true),
                _ => return Err("--tcp-keepalive: -1, 0 or 1".into()),
            };
        }
        o.tcp_keepalive_idle = self.tcp_keepalive_idle.map(secs).or(o.tcp_keepalive_idle);
        o.tcp_keepalive_cnt = self.tcp_keepalive_cnt.or(o.tcp_keepalive_cnt);
        o.tcp_keepalive_intvl = self.tcp_keepalive_intvl.map(secs).or(o.tcp_keepalive_intvl);
        if let Some(t) = self.tcp_maxrt {
            o.tcp_maxrt = (t > 0).then(|| ms(t));
        }
        o.sndbuf = self.sndbuf.or(o.sndbuf);
        o.rcvbuf = self.rcvbuf.or(o.rcvbuf);
        o.tos = self.tos.unwrap_or(o.tos);
        o.bindtodevice = self.bindtodevice.clone().or(o.bindtodevice.take());
        o.backlog = self.backlog.unwrap_or(o.backlog);
        o.ipv6 |= self.ipv6;
        o.immediate |= self.immediate;
        o.probe_router |= self.probe_router;
        for when in &self.router_notify {
            o.router_notify |= match when.as_str() {
                "connect" => SocketOptions::NOTIFY_CONNECT,
                "disconnect" => SocketOptions::NOTIFY_DISCONNECT,
                other => return Err(format!("--router-notify: unknown '{other}'")),
            };
        }
        if let Some(w) = &self.xpub_welcome_msg {
            let body = if hex {
                crate::frames::decode_hex(w.as_bytes())
                    .map_err(|e| format!("--xpub-welcome-msg: {e}"))?
            } else {
                w.as_bytes().to_vec()
            };
            o.xpub_welcome_msg = (!body.is_empty()).then(|| Bytes::from(body));
        }
        o.xpub_nodrop |= self.xpub_nodrop;
        o.xpub_verbose |= self.xpub_verbose;
        o.invert_matching |= self.invert_matching;
        o.connection.conflate |= self.conflate;
        o.validate(socket_type).map_err(|e| e.to_string())
    }
}
