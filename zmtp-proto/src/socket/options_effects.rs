//! Where the options of libzmq's that act on a socket's peers take effect: messages a new
//! peer's queue starts with (`probe_router`, `xpub_welcome_msg`), dials that stop
//! (`reconnect_stop`), and changing options on a live socket.

use std::time::Instant;

use super::pubsub::Pub;
use super::{Kind, PeerId, Socket, SocketOptions};
use crate::error::Error;
use crate::message::{Frame, Msg};

impl Socket {
    /// A peer's queue was created (libzmq attaches a pipe): at `connect` (or, with
    /// `immediate`, when each connection completes its handshake) and when a connection is
    /// accepted. The probe and the welcome message go first in it.
    pub(super) fn on_new_pipe(&mut self, id: PeerId) {
        let probe = self.core.options.probe_router
            && matches!(self.kind, Kind::Router(_) | Kind::Dealer | Kind::Req(_));
        if probe {
            // One empty frame, as libzmq sends it (no REQ delimiter).
            let _ = self.core.enqueue(id, Msg::from(Frame::new()));
        }
        if let Kind::Pub(_) = self.kind {
            Pub::welcome(&mut self.core, id);
        }
    }

    /// The dial for `peer` was refused (`ECONNREFUSED`): like [`Socket::dial_failed`], unless
    /// [`SocketOptions::reconnect_stop`] has
    /// [`RECONNECT_STOP_CONN_REFUSED`](SocketOptions::RECONNECT_STOP_CONN_REFUSED), which
    /// stops dialling the peer and drops its queue (as [`Socket::disconnect`]).
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut o = SocketOptions::default();
    /// o.reconnect_stop = SocketOptions::RECONNECT_STOP_CONN_REFUSED;
    /// let mut push = Socket::new(SocketType::Push, o, now);
    /// let peer = push.connect("tcp://127.0.0.1:1", now);
    /// push.dial_refused(peer, now);
    /// assert_eq!(push.peer_count(), 0);
    /// ```
    pub fn dial_refused(&mut self, peer: PeerId, now: Instant) {
        if self.core.options.reconnect_stop & SocketOptions::RECONNECT_STOP_CONN_REFUSED != 0 {
            self.disconnect(peer, now);
        } else {
            self.dial_failed(peer, now);
        }
    }

    /// Replaces the socket's options, as `zmq_setsockopt` on a live socket: they are checked
    /// first ([`SocketOptions::validate`]; nothing changes on an error), then take effect at
    /// once for what the socket does from now on (high-water marks, routing flags,
    /// subscriptions' matching, reconnection timing) and for connections made from now on
    /// (handshake settings, mechanism, heartbeats, limits), as in libzmq. `seed` is fixed at
    /// creation.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Error, Socket, SocketOptions, SocketType};
    /// let mut router = Socket::new(SocketType::Router, SocketOptions::default(), Instant::now());
    /// let mut o = router.options().clone();
    /// o.router_mandatory = true;
    /// router.set_options(o).unwrap();
    /// assert!(router.options().router_mandatory);
    ///
    /// let mut o = router.options().clone();
    /// o.xpub_nodrop = true; // not an option of ROUTER
    /// assert!(matches!(router.set_options(o), Err(Error::InvalidOption(_))));
    /// assert!(!router.options().xpub_nodrop);
    /// ```
    pub fn set_options(&mut self, options: SocketOptions) -> Result<(), Error> {
        options.validate(self.core.socket_type)?;
        if options.seed != self.core.options.seed {
            return Err(Error::InvalidOption(
                "seed: fixed when the socket is created",
            ));
        }
        self.core.replace_options(options);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::socket::{PeerId, Socket, SocketOptions};
    use crate::{Msg, SocketType};

    /// Moves what `from` has to write for `pf` into `to`'s peer `pt`; true if it moved bytes.
    fn transfer(from: &mut Socket, pf: PeerId, to: &mut Socket, pt: PeerId, now: Instant) -> bool {
        let mut out = Vec::new();
        if let Some(s) = from.bytes(pf) {
            s.take_transmit(&mut out);
        }
        for chunk in &out {
            if let Some(s) = to.bytes(pt) {
                s.handle_input(chunk, now);
            }
        }
        !out.is_empty()
    }

    /// Moves bytes both ways between two peers until neither has output.
    fn pump(a: &mut Socket, pa: PeerId, b: &mut Socket, pb: PeerId, now: Instant) {
        while transfer(a, pa, b, pb, now) | transfer(b, pb, a, pa, now) {}
    }

    fn pair(
        ta: SocketType,
        oa: SocketOptions,
        tb: SocketType,
        ob: SocketOptions,
    ) -> (Socket, PeerId, Socket, PeerId, Instant) {
        let now = Instant::now();
        let mut a = Socket::new(ta, oa, now);
        let mut b = Socket::new(tb, ob, now);
        let pa = a.connect("x", now);
        a.attach(pa, now);
        let pb = b.accept(now);
        pump(&mut a, pa, &mut b, pb, now);
        (a, pa, b, pb, now)
    }

    fn frames(m: &Msg) -> Vec<Vec<u8>> {
        m.iter().map(|f| f.to_vec()).collect()
    }

    #[test]
    fn probe_router_is_the_first_message() {
        let mut o = SocketOptions::default();
        o.probe_router = true;
        o.connection.routing_id = bytes::Bytes::from_static(b"D");
        let (mut dealer, pd, mut router, pr, now) = pair(
            SocketType::Dealer,
            o,
            SocketType::Router,
            SocketOptions::default(),
        );
        dealer.send(Msg::from("hello")).unwrap();
        pump(&mut dealer, pd, &mut router, pr, now);
        let m = router.recv().unwrap().unwrap();
        assert_eq!(frames(&m), [b"D".to_vec(), vec![]]);
        let m = router.recv().unwrap().unwrap();
        assert_eq!(frames(&m), [b"D".to_vec(), b"hello".to_vec()]);
    }

    #[test]
    fn router_notify_brackets_a_peer() {
        let mut o = SocketOptions::default();
        o.connection.routing_id = bytes::Bytes::from_static(b"D");
        let mut r = SocketOptions::default();
        r.router_notify = SocketOptions::NOTIFY_CONNECT | SocketOptions::NOTIFY_DISCONNECT;
        let (mut dealer, pd, mut router, pr, now) =
            pair(SocketType::Dealer, o, SocketType::Router, r);
        dealer.send(Msg::from("x")).unwrap();
        pump(&mut dealer, pd, &mut router, pr, now);
        router.detach(pr, now);
        let got: Vec<_> = std::iter::from_fn(|| router.recv().unwrap())
            .map(|m| frames(&m))
            .collect();
        assert_eq!(
            got,
            [
                vec![b"D".to_vec(), vec![]],
                vec![b"D".to_vec(), b"x".to_vec()],
                vec![b"D".to_vec(), vec![]],
            ]
        );
    }

    #[test]
    fn router_notify_on_each_connection_of_a_connect_side_peer() {
        let mut r = SocketOptions::default();
        r.router_notify = SocketOptions::NOTIFY_CONNECT;
        let mut o = SocketOptions::default();
        o.connection.routing_id = bytes::Bytes::from_static(b"D");
        let (mut router, pr, mut dealer, _pd, now) =
            pair(SocketType::Router, r, SocketType::Dealer, o);
        assert_eq!(
            frames(&router.recv().unwrap().unwrap()),
            [b"D".to_vec(), vec![]]
        );
        // The connection drops; the redial makes a new one, announced again.
        router.detach(pr, now);
        let later = now + std::time::Duration::from_secs(1);
        router.handle_timeout(later);
        assert!(matches!(
            router.poll_action(),
            Some(crate::socket::Action::Dial { .. })
        ));
        router.attach(pr, later);
        let pd = dealer.accept(later);
        pump(&mut router, pr, &mut dealer, pd, later);
        assert_eq!(
            frames(&router.recv().unwrap().unwrap()),
            [b"D".to_vec(), vec![]]
        );
        assert!(router.recv().unwrap().is_none());
    }

    #[test]
    fn router_notify_disconnect_of_a_connect_side_peer_is_delivered() {
        // A connect-side peer is redialled, not removed: its disconnect notification must
        // still be receivable at once (found while building STREAM, whose notifications
        // take the same path).
        let mut r = SocketOptions::default();
        r.router_notify = SocketOptions::NOTIFY_DISCONNECT;
        let mut o = SocketOptions::default();
        o.connection.routing_id = bytes::Bytes::from_static(b"D");
        let (mut router, pr, _dealer, _pd, now) =
            pair(SocketType::Router, r, SocketType::Dealer, o);
        router.detach(pr, now);
        assert_eq!(
            router.recv().unwrap().map(|m| frames(&m)),
            Some(vec![b"D".to_vec(), vec![]])
        );
    }

    #[test]
    fn welcome_message_reaches_a_subscriber() {
        let mut p = SocketOptions::default();
        p.xpub_welcome_msg = Some(bytes::Bytes::from_static(b"WELCOME"));
        let now = Instant::now();
        let mut sub = Socket::new(SocketType::Sub, SocketOptions::default(), now);
        sub.subscribe(b"WEL").unwrap();
        let mut xpub = Socket::new(SocketType::XPub, p, now);
        let ps = sub.connect("x", now);
        sub.attach(ps, now);
        let px = xpub.accept(now);
        pump(&mut sub, ps, &mut xpub, px, now);
        let m = sub.recv().unwrap().unwrap();
        assert_eq!(frames(&m), [b"WELCOME".to_vec()]);
        assert_eq!(
            frames(&xpub.recv().unwrap().unwrap()),
            [b"\x01WEL".to_vec()]
        );
    }

    #[test]
    fn invert_matching_and_manual_subscriptions() {
        let mut p = SocketOptions::default();
        p.invert_matching = true;
        let mut s = SocketOptions::default();
        s.invert_matching = true;
        let (mut sub, ps, mut publ, pp, now) = pair(SocketType::Sub, s, SocketType::Pub, p);
        sub.subscribe(b"a").unwrap();
        pump(&mut sub, ps, &mut publ, pp, now);
        publ.send(Msg::from("apple")).unwrap();
        publ.send(Msg::from("banana")).unwrap();
        pump(&mut sub, ps, &mut publ, pp, now);
        assert_eq!(frames(&sub.recv().unwrap().unwrap()), [b"banana".to_vec()]);
        assert!(sub.recv().unwrap().is_none());

        let mut x = SocketOptions::default();
        x.xpub_manual = true;
        let (mut sub, ps, mut xpub, px, now) = pair(
            SocketType::Sub,
            SocketOptions::default(),
            SocketType::XPub,
            x,
        );
        sub.subscribe(b"a").unwrap();
        pump(&mut sub, ps, &mut xpub, px, now);
        xpub.send(Msg::from("apple")).unwrap(); // nothing applied yet
        assert_eq!(frames(&xpub.recv().unwrap().unwrap()), [b"\x01a".to_vec()]);
        xpub.subscribe(b"b").unwrap(); // the application decides
        xpub.send(Msg::from("apple")).unwrap();
        xpub.send(Msg::from("banana")).unwrap();
        pump(&mut sub, ps, &mut xpub, px, now);
        sub.subscribe(b"b").unwrap();
        // SUB filters locally on its own subscriptions; only banana was sent to it.
        pump(&mut sub, ps, &mut xpub, px, now);
        assert_eq!(frames(&sub.recv().unwrap().unwrap()), [b"banana".to_vec()]);
        assert!(sub.recv().unwrap().is_none());
    }

    #[test]
    fn nodrop_refuses_instead_of_dropping() {
        let mut p = SocketOptions::default();
        p.xpub_nodrop = true;
        p.sndhwm = 2;
        let (mut sub, ps, mut publ, pp, now) = pair(
            SocketType::Sub,
            SocketOptions::default(),
            SocketType::Pub,
            p,
        );
        sub.subscribe(b"").unwrap();
        pump(&mut sub, ps, &mut publ, pp, now);
        // Keep the output batch from taking them: fill the queue behind a full batch.
        let big = Msg::from(vec![0u8; super::super::core::OUTPUT_BATCH]);
        publ.send(big).unwrap();
        publ.send(Msg::from("1")).unwrap();
        publ.send(Msg::from("2")).unwrap();
        let mut m = Msg::from("3");
        assert_eq!(publ.send_from(&mut m), Err(crate::Error::WouldBlock));
        assert_eq!(frames(&m), [b"3".to_vec()]);
        assert!(!publ.is_writable());
        pump(&mut sub, ps, &mut publ, pp, now);
        assert!(publ.is_writable());
        publ.send_from(&mut m).unwrap();
    }

    #[test]
    fn reconnect_stop_after_disconnect() {
        let mut o = SocketOptions::default();
        o.reconnect_stop = SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT;
        let (mut push, pp, _pull, _pl, now) = pair(
            SocketType::Push,
            o,
            SocketType::Pull,
            SocketOptions::default(),
        );
        assert_eq!(push.peer_count(), 1);
        push.detach(pp, now);
        assert_eq!(push.peer_count(), 0);
        assert!(push.poll_timeout().is_none(), "no redial scheduled");
    }

    #[test]
    fn wrong_type_options_are_refused() {
        let now = Instant::now();
        let mut sub = Socket::new(SocketType::Sub, SocketOptions::default(), now);
        for set in [
            |o: &mut SocketOptions| o.probe_router = true,
            |o: &mut SocketOptions| o.router_notify = 1,
            |o: &mut SocketOptions| o.xpub_manual = true,
            |o: &mut SocketOptions| o.xpub_welcome_msg = Some("w".into()),
            |o: &mut SocketOptions| o.tcp_keepalive_cnt = Some(0),
            |o: &mut SocketOptions| o.bindtodevice = Some("a-name-far-too-long".into()),
        ] {
            let mut o = sub.options().clone();
            set(&mut o);
            assert!(sub.set_options(o).is_err());
        }
        let mut o = sub.options().clone();
        o.invert_matching = true;
        sub.set_options(o).unwrap();
    }
}
