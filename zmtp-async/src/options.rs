//! Reading and changing a live socket's options (`zmq_getsockopt` / `zmq_setsockopt`).

use std::io;

use zmtp_proto::SocketOptions;
use zmtp_proto::SocketType;

use crate::runtime::{Runtime, Share};
use crate::socket::Socket;

impl<R: Runtime> Socket<R> {
    /// A socket of the given type with `options` checked first, as `zmq_setsockopt` checks
    /// each option: an option of another socket type (`router_mandatory` on a DEALER) or a
    /// value out of range is an [`io::ErrorKind::InvalidInput`] error naming the option
    /// ([`SocketOptions::validate`]). [`Socket::with_options`] does not check.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketOptions, SocketType};
    /// let mut o = SocketOptions::default();
    /// o.probe_router = true;
    /// assert!(Socket::try_with_options(SocketType::Dealer, o.clone()).is_ok());
    /// let err = Socket::try_with_options(SocketType::Pub, o).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # });
    /// ```
    pub fn try_with_options(socket_type: SocketType, options: SocketOptions) -> io::Result<Self> {
        options.validate(socket_type).map_err(io::Error::from)?;
        Ok(Self::with_options(socket_type, options))
    }

    /// The socket's current options (a copy), as `zmq_getsockopt` reads them.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub);
    /// let o = sub.options();
    /// assert_eq!((o.sndhwm, o.connection.rcvhwm, o.tcp_keepalive, o.ipv6), (1000, 1000, None, false));
    /// # });
    /// ```
    pub fn options(&self) -> SocketOptions {
        self.shared.lock().state.machine().options().clone()
    }

    /// Changes options on a live socket, as `zmq_setsockopt`: `change` edits a copy of the
    /// current options, which is then checked ([`SocketOptions::validate`]); on an error
    /// nothing changes. What the socket does from now on follows the new values at once
    /// (high-water marks, routing and subscription flags, reconnection timing); connections
    /// and listeners made from now on get the new per-connection and transport settings
    /// (mechanism, heartbeats, `maxmsgsize`, TCP options), and those already up keep theirs, as
    /// in libzmq. The socket's ROUTER identity seed cannot change.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use driver_compio::{Socket, SocketType};
    /// let router = Socket::new(SocketType::Router);
    /// router.set_options(|o| o.router_mandatory = true).unwrap();
    /// assert!(router.options().router_mandatory);
    /// // An option of another socket type: refused, and nothing changed.
    /// let err = router.set_options(|o| o.xpub_nodrop = true).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(!router.options().xpub_nodrop);
    /// # });
    /// ```
    pub fn set_options(&self, change: impl FnOnce(&mut SocketOptions)) -> io::Result<()> {
        let mut shared = self.shared.lock();
        let mut options = shared.state.machine().options().clone();
        change(&mut options);
        shared
            .state
            .machine_mut()
            .set_options(options)
            .map_err(io::Error::from)?;
        // A raised high-water mark may let a parked sender in; the driver's round wakes it.
        shared.state.notify_driver();
        Ok(())
    }
}
