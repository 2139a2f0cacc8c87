//! TCP sockets set up the way a socket's options ask, written once for every driver: the
//! drivers create their listeners and dialled streams through these functions (with
//! `socket2`) and then hand the file descriptor to their runtime.
//!
//! libzmq's transport options live here: `ZMQ_SNDBUF`/`ZMQ_RCVBUF`, `ZMQ_TOS`,
//! `ZMQ_BINDTODEVICE`, `ZMQ_TCP_KEEPALIVE*`, `ZMQ_TCP_MAXRT`, `ZMQ_IPV6` and
//! `ZMQ_CONNECT_TIMEOUT`, plus binding to an interface by name (`tcp://eth0:*`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use zmtp_proto::Host;
use zmtp_proto::SocketOptions;

use crate::runtime::Runtime;

/// The transport settings of a socket's TCP connections and listeners, taken from its
/// [`SocketOptions`] when a listener is bound or a dial starts (as libzmq copies its options
/// then: changing them later affects later binds and dials).
///
/// ```
/// use zmtp_async::net::TcpSettings;
/// use zmtp_proto::SocketOptions;
///
/// let mut o = SocketOptions::default();
/// o.sndbuf = Some(65536);
/// assert_eq!(TcpSettings::from(&o).sndbuf, Some(65536));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpSettings {
    /// `ZMQ_TCP_KEEPALIVE`.
    pub keepalive: Option<bool>,
    /// `ZMQ_TCP_KEEPALIVE_IDLE`.
    pub keepalive_idle: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_CNT`.
    pub keepalive_cnt: Option<u32>,
    /// `ZMQ_TCP_KEEPALIVE_INTVL`.
    pub keepalive_intvl: Option<Duration>,
    /// `ZMQ_SNDBUF`.
    pub sndbuf: Option<usize>,
    /// `ZMQ_RCVBUF`.
    pub rcvbuf: Option<usize>,
    /// `ZMQ_TOS`.
    pub tos: u32,
    /// `ZMQ_BINDTODEVICE`.
    pub bindtodevice: Option<String>,
    /// `ZMQ_TCP_MAXRT`.
    pub maxrt: Option<Duration>,
    /// `ZMQ_IPV6`.
    pub ipv6: bool,
    /// `ZMQ_BACKLOG`.
    pub backlog: u32,
    /// `ZMQ_CONNECT_TIMEOUT`.
    pub connect_timeout: Option<Duration>,
}

impl Default for TcpSettings {
    /// libzmq's defaults (those of [`SocketOptions::default`]).
    fn default() -> Self {
        Self::from(&SocketOptions::default())
    }
}

impl From<&SocketOptions> for TcpSettings {
    fn from(o: &SocketOptions) -> Self {
        Self {
            keepalive: o.tcp_keepalive,
            keepalive_idle: o.tcp_keepalive_idle,
            keepalive_cnt: o.tcp_keepalive_cnt,
            keepalive_intvl: o.tcp_keepalive_intvl,
            sndbuf: o.sndbuf,
            rcvbuf: o.rcvbuf,
            tos: o.tos,
            bindtodevice: o.bindtodevice.clone(),
            maxrt: o.tcp_maxrt,
            ipv6: o.ipv6,
            backlog: o.backlog,
            connect_timeout: o.connect_timeout,
        }
    }
}

impl TcpSettings {
    /// What must be set before `bind`/`connect`: the device, the buffer sizes (the receive
    /// buffer decides the window scale the handshake announces) and the type of service.
    fn apply_early(&self, sock: &SockRef<'_>, v6: bool) -> io::Result<()> {
        if let Some(dev) = &self.bindtodevice {
            bind_device(sock, dev)?;
        }
        if let Some(n) = self.sndbuf {
            sock.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.rcvbuf {
            sock.set_recv_buffer_size(n)?;
        }
        if self.tos != 0 {
            if v6 {
                sock.set_tclass_v6(self.tos)?;
            } else {
                sock.set_tos_v4(self.tos)?;
            }
        }
        Ok(())
    }

    /// Sets up a connected stream (accepted or dialled): no Nagle, keepalives, the
    /// retransmission limit, and the early settings again for an accepted one (Linux copies
    /// buffer sizes and TOS from the listener, but not on every system).
    ///
    /// ```
    /// use zmtp_async::net::TcpSettings;
    ///
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let mut t = TcpSettings::default();
    /// t.keepalive = Some(true);
    /// t.configure_stream(socket2::SockRef::from(&s)).unwrap();
    /// assert!(socket2::SockRef::from(&s).keepalive().unwrap());
    /// ```
    pub fn configure_stream(&self, sock: SockRef<'_>) -> io::Result<()> {
        sock.set_tcp_nodelay(true)?;
        let v6 = sock.local_addr()?.is_ipv6();
        if self.tos != 0 {
            if v6 {
                sock.set_tclass_v6(self.tos)?;
            } else {
                sock.set_tos_v4(self.tos)?;
            }
        }
        match self.keepalive {
            None => {}
            Some(false) => sock.set_keepalive(false)?,
            Some(true) => {
                // As libzmq (`tune_tcp_keepalives`): idle, count and interval only with
                // keepalive on, each only when set.
                sock.set_keepalive(true)?;
                let mut k = TcpKeepalive::new();
                let mut any = false;
                if let Some(d) = self.keepalive_idle {
                    k = k.with_time(d);
                    any = true;
                }
                if let Some(d) = self.keepalive_intvl {
                    k = k.with_interval(d);
                    any = true;
                }
                if let Some(n) = self.keepalive_cnt {
                    k = k.with_retries(n);
                    any = true;
                }
                if any {
                    sock.set_tcp_keepalive(&k)?;
                }
            }
        }
        if let Some(d) = self.maxrt {
            sock.set_tcp_user_timeout(Some(d))?;
        }
        Ok(())
    }

    /// The addresses to dial among those a name resolved to: IPv4 only unless `ipv6`
    /// (libzmq resolves with `AF_INET` then); an IPv6 literal without `ipv6` is an error.
    ///
    /// ```
    /// use zmtp_async::net::TcpSettings;
    /// let t = TcpSettings::default();
    /// let v4 = "127.0.0.1:1".parse().unwrap();
    /// let v6 = "[::1]:1".parse().unwrap();
    /// assert_eq!(t.dial_addrs("h", [v4, v6]).unwrap(), [v4]);
    /// assert!(t.dial_addrs("::1", [v6]).is_err());
    /// ```
    pub fn dial_addrs(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> io::Result<Vec<SocketAddr>> {
        if !self.ipv6 && host.parse::<Ipv6Addr>().is_ok() {
            return Err(ipv6_off(host));
        }
        let addrs: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| self.ipv6 || a.is_ipv4())
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: no address to dial (IPv6 addresses need the ipv6 option)"),
            ));
        }
        Ok(addrs)
    }

    /// A TCP socket for dialling `addr`, not yet connected, in blocking mode (the driver sets
    /// non-blocking mode if its runtime needs it), with the early settings made; the driver
    /// connects it with its runtime (e.g. `TcpSocket::from_std_stream(s.into())`
    /// and `connect(addr)`), then calls [`TcpSettings::configure_stream`].
    pub fn dial_socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        self.apply_early(&SockRef::from(&sock), addr.is_ipv6())?;
        Ok(sock)
    }

    /// Binds and listens on `host:port` (`port` 0 picks one), as libzmq does: `*` is every
    /// IPv4 interface (with `ipv6`, `::` accepting IPv4 too), an IP literal is that address,
    /// and any other name is first looked up as a network interface (`tcp://lo:*`,
    /// `tcp://eth0:5555`: its first IPv4 address, or with `ipv6` its first IPv6 address, as
    /// libzmq picks), then resolved as a
    /// host name (synchronously, as libzmq does). Returns a listener in blocking mode for the
    /// driver to hand to its runtime (setting non-blocking mode if the runtime needs it).
    ///
    /// ```
    /// use zmtp_async::net::TcpSettings;
    /// use zmtp_proto::Host;
    ///
    /// let t = TcpSettings::default();
    /// let l = t.bind(&Host::Name("lo".into()), 0).unwrap();
    /// assert!(l.local_addr().unwrap().ip().is_loopback());
    /// assert!(t.bind(&Host::Name("::1".into()), 0).is_err()); // needs ipv6
    /// ```
    pub fn bind(&self, host: &Host, port: u16) -> io::Result<std::net::TcpListener> {
        let addrs = self.bind_addrs(host, port)?;
        let mut last = None;
        for addr in addrs {
            match self.bind_one(addr) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no address to bind")))
    }

    fn bind_addrs(&self, host: &Host, port: u16) -> io::Result<Vec<SocketAddr>> {
        let name = match host {
            Host::Any if self.ipv6 => {
                return Ok(vec![SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)])
            }
            Host::Any => return Ok(vec![SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)]),
            Host::Name(name) => name.as_str(),
        };
        if let Ok(ip) = name.parse::<IpAddr>() {
            if ip.is_ipv6() && !self.ipv6 {
                return Err(ipv6_off(name));
            }
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some(ip) = interface_address(name, self.ipv6)? {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs = (name, port).to_socket_addrs().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{name}: neither an interface nor a host name that resolves ({e})"),
            )
        })?;
        self.dial_addrs(name, addrs)
    }

    fn bind_one(&self, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // With `ipv6` a listener on `::` accepts IPv4 too (libzmq clears IPV6_V6ONLY).
            sock.set_only_v6(false)?;
        }
        self.apply_early(&SockRef::from(&sock), addr.is_ipv6())?;
        sock.bind(&addr.into())?;
        sock.listen(i32::try_from(self.backlog).unwrap_or(i32::MAX))?;
        Ok(sock.into())
    }
}

fn ipv6_off(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{host} is an IPv6 address: set the ipv6 option (ZMQ_IPV6) to use it"),
    )
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_device(sock: &SockRef<'_>, dev: &str) -> io::Result<()> {
    sock.bind_device(Some(dev.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("bindtodevice {dev}: {e}")))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_device(_sock: &SockRef<'_>, dev: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("bindtodevice {dev}: SO_BINDTODEVICE needs Linux"),
    ))
}

/// The first address of network interface `name`: IPv4, or with `ipv6` IPv6 (as libzmq's
/// `resolve_nic_name` picks the family by `ZMQ_IPV6`); `None` if there is no interface of
/// that name.
fn interface_address(name: &str, ipv6: bool) -> io::Result<Option<IpAddr>> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Ok(None);
    };
    let mut found = false;
    for ifa in addrs.filter(|a| a.interface_name == name) {
        found = true;
        let Some(addr) = ifa.address else { continue };
        match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
            (Some(v4), _) if !ipv6 => return Ok(Some(IpAddr::V4(v4.ip()))),
            (_, Some(v6)) if ipv6 => return Ok(Some(IpAddr::V6(v6.ip()))),
            _ => {}
        }
    }
    if found {
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("interface {name} has no {family} address"),
        ));
    }
    Ok(None)
}

/// Dials the addresses of `host` in turn with `dial` (each through a socket the driver set
/// up from [`TcpSettings::dial_socket`]); the first connection wins, otherwise the last
/// error (as libzmq and `TcpStream::connect` try each resolved address).
///
/// ```
/// # use std::io;
/// let addrs = ["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()];
/// let r = futures_util::FutureExt::now_or_never(zmtp_async::net::dial_each("h", addrs, |a| async move {
///     if a.port() == 2 { Ok(a.port()) } else { Err(io::Error::from(io::ErrorKind::ConnectionRefused)) }
/// }));
/// assert_eq!(r.unwrap().unwrap(), 2);
/// ```
pub async fn dial_each<T, Fut>(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut dial: impl FnMut(SocketAddr) -> Fut,
) -> io::Result<T>
where
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match dial(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host}: no address to dial"),
        )
    }))
}

/// Runs a dial under `ZMQ_CONNECT_TIMEOUT`: `Err(TimedOut)` once `timeout` has passed.
///
/// ```
/// use std::time::Duration;
/// use driver_tokio::Tokio;
/// use zmtp_async::Runtime;
///
/// let r = Tokio::block_on(zmtp_async::net::with_connect_timeout::<Tokio, ()>(
///     std::future::pending(),
///     Some(Duration::from_millis(10)),
/// ))
/// .unwrap();
/// assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// ```
pub async fn with_connect_timeout<R: Runtime, T>(
    dial: impl Future<Output = io::Result<T>>,
    timeout: Option<Duration>,
) -> io::Result<T> {
    let Some(timeout) = timeout else {
        return dial.await;
    };
    let sleep = R::sleep_until(Instant::now() + timeout);
    let dial = std::pin::pin!(dial);
    match futures_util::future::select(dial, sleep).await {
        futures_util::future::Either::Left((result, _)) => result,
        futures_util::future::Either::Right(((), _)) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {timeout:?} (connect_timeout)"),
        )),
    }
}
