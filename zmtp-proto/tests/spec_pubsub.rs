//! PUB, SUB, XPUB and XSUB against RFC 29 (checklist S1–S5, §1.12), in the spirit of libzmq's
//! `test_spec_pubsub` style checks, `test_xpub_verbose`, `test_xpub_manual` (unsubscribe on
//! disconnect), `test_xpub_welcome_msg` (we send none) and `test_sub_forward`.
#![allow(missing_docs, unreachable_pub)]

mod net;

use std::time::{Duration, Instant};

use bytes::Bytes;
use net::Net;
use zmtp_proto::{Action, PeerId, SocketOptions};
use zmtp_proto::{Error, Msg, Socket, SocketType};

fn opts(f: impl FnOnce(&mut SocketOptions)) -> SocketOptions {
    let mut o = SocketOptions::default();
    f(&mut o);
    o
}

fn firsts(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m[0]).into_owned())
        .collect()
}

/// Drains XPUB notices as (flag, topic) strings.
fn notices(net: &mut Net, xpub: usize) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = net.recv(xpub) {
        let f = &m[0];
        out.push(format!(
            "{}{}",
            if f[0] == 1 { '+' } else { '-' },
            String::from_utf8_lossy(&f[1..])
        ));
    }
    out
}

fn pub_sub(net: &mut Net, pub_type: SocketType, pub_opts: SocketOptions) -> (usize, usize) {
    let p = net.add(pub_type, pub_opts);
    let s = net.add_default(SocketType::Sub);
    net.connect(s, p);
    net.drive();
    (p, s)
}

fn publish(net: &mut Net, p: usize, topics: &[&'static str]) {
    for t in topics {
        net.sockets[p].send(Msg::from(*t)).unwrap();
    }
    net.drive();
}

/// S1: prefix match on the first frame at the publisher; the empty subscription matches all.
#[test]
fn prefix_filtering_at_publisher() {
    let mut net = Net::new(1);
    let (p, s) = pub_sub(&mut net, SocketType::Pub, SocketOptions::default());
    publish(&mut net, p, &["A1"]);
    assert!(net.recv_all(s).is_empty(), "no subscription, nothing");
    net.sockets[s].subscribe(b"A").unwrap();
    net.drive();
    net.sockets[p]
        .send(Msg::from(["AB", "second frame"]))
        .unwrap();
    publish(&mut net, p, &["A", "B", "", "BA"]);
    let got = net.recv_all(s);
    assert_eq!(firsts(&got), ["AB", "A"]);
    assert_eq!(&got[0][1][..], b"second frame", "the whole message travels");
    net.sockets[s].subscribe(b"").unwrap();
    net.drive();
    publish(&mut net, p, &["B", ""]);
    assert_eq!(firsts(&net.recv_all(s)), ["B", ""]);
}

/// S1: subscriptions are additive — "A" twice needs two unsubscribes; "" + "A" is like "".
#[test]
fn subscriptions_are_additive() {
    let mut net = Net::new(2);
    let (p, s) = pub_sub(&mut net, SocketType::Pub, SocketOptions::default());
    net.sockets[s].subscribe(b"A").unwrap();
    net.sockets[s].subscribe(b"A").unwrap();
    net.sockets[s].unsubscribe(b"A").unwrap();
    net.drive();
    publish(&mut net, p, &["A1"]);
    assert_eq!(firsts(&net.recv_all(s)), ["A1"], "one subscription left");
    net.sockets[s].unsubscribe(b"A").unwrap();
    net.drive();
    publish(&mut net, p, &["A2"]);
    assert!(net.recv_all(s).is_empty());
    net.sockets[s].subscribe(b"").unwrap();
    net.sockets[s].subscribe(b"A").unwrap();
    net.drive();
    publish(&mut net, p, &["A3", "B3"]);
    assert_eq!(firsts(&net.recv_all(s)), ["A3", "B3"], "each message once");
}

/// S2: SUB filters locally too — a message already on its way when the subscription is
/// dropped is not delivered. XSUB does not filter (libzmq sets the filter on SUB only).
#[test]
fn sub_filters_locally_xsub_does_not() {
    for sub_type in [SocketType::Sub, SocketType::XSub] {
        let mut net = Net::new(3);
        let p = net.add_default(SocketType::Pub);
        let s = net.add_default(sub_type);
        net.connect(s, p);
        net.drive();
        if sub_type == SocketType::Sub {
            net.sockets[s].subscribe(b"A").unwrap();
        } else {
            net.sockets[s].send(Msg::from(&b"\x01A"[..])).unwrap();
        }
        net.drive();
        net.freeze(0, true);
        net.sockets[p].send(Msg::from("A-in-flight")).unwrap();
        net.drive();
        // Unsubscribe while the message travels; its CANCEL follows the message.
        if sub_type == SocketType::Sub {
            net.sockets[s].unsubscribe(b"A").unwrap();
        } else {
            net.sockets[s].send(Msg::from(&b"\x00A"[..])).unwrap();
        }
        net.freeze(0, false);
        net.drive();
        let got = net.recv_all(s);
        if sub_type == SocketType::Sub {
            assert!(got.is_empty(), "SUB dropped it locally: {got:?}");
        } else {
            assert_eq!(firsts(&got), ["A-in-flight"], "XSUB passes it on");
        }
    }
}

/// S3: SUB re-sends all its subscriptions on every new connection (libzmq `xattach_pipe`).
#[test]
fn sub_resubscribes_after_reconnect() {
    let mut net = Net::new(4);
    let (p, s) = pub_sub(&mut net, SocketType::Pub, SocketOptions::default());
    for t in [&b"A"[..], b"B", b"B"] {
        net.sockets[s].subscribe(t).unwrap();
    }
    net.drive();
    net.cut(0);
    net.advance(Duration::from_millis(150));
    assert_eq!(net.up_links().len(), 1);
    publish(&mut net, p, &["A1", "B1", "C1"]);
    assert_eq!(firsts(&net.recv_all(s)), ["A1", "B1"]);
    // "B" was subscribed twice: one unsubscribe keeps it (the publisher got it once only).
    net.sockets[s].unsubscribe(b"B").unwrap();
    net.drive();
    publish(&mut net, p, &["B2"]);
    assert_eq!(firsts(&net.recv_all(s)), ["B2"]);
}

/// S4 / libzmq `test_xpub_verbose`: by default XPUB reports new subscriptions and last
/// unsubscriptions only.
#[test]
fn xpub_reports_first_subscribe_and_last_unsubscribe() {
    let mut net = Net::new(5);
    let x = net.add_default(SocketType::XPub);
    let s1 = net.add_default(SocketType::Sub);
    let s2 = net.add_default(SocketType::Sub);
    net.connect(s1, x);
    net.connect(s2, x);
    net.drive();
    net.sockets[s1].subscribe(b"A").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, x), ["+A"]);
    net.sockets[s2].subscribe(b"A").unwrap();
    net.sockets[s1].subscribe(b"A").unwrap();
    net.drive();
    assert!(
        notices(&mut net, x).is_empty(),
        "duplicates are not reported"
    );
    net.sockets[s1].unsubscribe(b"A").unwrap();
    net.sockets[s1].unsubscribe(b"A").unwrap();
    net.drive();
    assert!(notices(&mut net, x).is_empty(), "s2 still holds A");
    net.sockets[s2].unsubscribe(b"A").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, x), ["-A"]);
}

/// S4 `ZMQ_XPUB_VERBOSE`: every subscription is reported, unsubscriptions only when last.
#[test]
fn xpub_verbose_reports_every_subscribe() {
    let mut net = Net::new(6);
    let x = net.add(SocketType::XPub, opts(|o| o.xpub_verbose = true));
    let s1 = net.add_default(SocketType::Sub);
    let s2 = net.add_default(SocketType::Sub);
    net.connect(s1, x);
    net.connect(s2, x);
    net.drive();
    net.sockets[s1].subscribe(b"A").unwrap();
    net.sockets[s2].subscribe(b"A").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, x), ["+A", "+A"]);
    net.sockets[s1].unsubscribe(b"A").unwrap();
    net.drive();
    assert!(notices(&mut net, x).is_empty());
    net.sockets[s2].unsubscribe(b"A").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, x), ["-A"]);
}

/// S4 `ZMQ_XPUB_VERBOSER`: every subscription and every unsubscription is reported, also those
/// synthesised when a subscriber goes away.
#[test]
fn xpub_verboser_reports_every_unsubscribe() {
    let mut net = Net::new(7);
    let x = net.add(SocketType::XPub, opts(|o| o.xpub_verboser = true));
    let s1 = net.add_default(SocketType::Sub);
    let s2 = net.add_default(SocketType::Sub);
    net.connect(s1, x);
    net.connect(s2, x);
    net.drive();
    net.sockets[s1].subscribe(b"A").unwrap();
    net.sockets[s2].subscribe(b"A").unwrap();
    net.sockets[s2].subscribe(b"B").unwrap();
    net.drive();
    let mut n = notices(&mut net, x);
    n.sort();
    assert_eq!(n, ["+A", "+A", "+B"]);
    net.sockets[s1].unsubscribe(b"A").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, x), ["-A"]);
    // s2 goes away for good: both its topics are reported.
    let now = net.now;
    let peer = net.links[1].a.1;
    net.sockets[s2].disconnect(peer, now);
    net.drive();
    let mut n = notices(&mut net, x);
    n.sort();
    assert_eq!(n, ["-A", "-B"]);
}

/// S4: XPUB synthesises unsubscribes for topics nobody holds when a subscriber disconnects.
#[test]
fn xpub_unsubscribes_on_disconnect() {
    let mut net = Net::new(8);
    let x = net.add_default(SocketType::XPub);
    let s1 = net.add_default(SocketType::Sub);
    let s2 = net.add_default(SocketType::Sub);
    net.connect(s1, x);
    net.connect(s2, x);
    net.drive();
    net.sockets[s1].subscribe(b"shared").unwrap();
    net.sockets[s1].subscribe(b"mine").unwrap();
    net.sockets[s2].subscribe(b"shared").unwrap();
    net.drive();
    let mut n = notices(&mut net, x);
    n.sort();
    assert_eq!(n, ["+mine", "+shared"]);
    net.cut(0);
    net.drive();
    assert_eq!(notices(&mut net, x), ["-mine"]);
    // Nothing is sent to the departed subscriber's topic any more; s2 still gets "shared".
    net.sockets[x].send(Msg::from("shared-1")).unwrap();
    net.drive();
    assert_eq!(firsts(&net.recv_all(s2)), ["shared-1"]);
}

/// S4/S5: XSUB subscribes with `0x01 topic` and unsubscribes with `0x00 topic` messages; other
/// upstream messages reach XPUB (and are dropped by PUB).
#[test]
fn xsub_subscription_messages_and_upstream_traffic() {
    let mut net = Net::new(9);
    let x = net.add_default(SocketType::XPub);
    let xs = net.add_default(SocketType::XSub);
    net.connect(xs, x);
    net.drive();
    net.sockets[xs].send(Msg::from(&b"\x01T"[..])).unwrap();
    net.sockets[xs]
        .send(Msg::from(["upstream", "data"]))
        .unwrap();
    net.drive();
    let first = net.recv(x).unwrap();
    assert_eq!(&first[0][..], b"\x01T");
    assert_eq!(net.recv(x), Some(Msg::from(["upstream", "data"])));
    net.sockets[x].send(Msg::from("T1")).unwrap();
    net.sockets[x].send(Msg::from("U1")).unwrap();
    net.drive();
    assert_eq!(firsts(&net.recv_all(xs)), ["T1"]);
    net.sockets[xs].send(Msg::from(&b"\x00T"[..])).unwrap();
    net.drive();
    assert_eq!(&net.recv(x).unwrap()[0][..], b"\x00T");
    net.sockets[x].send(Msg::from("T2")).unwrap();
    net.drive();
    assert!(net.recv_all(xs).is_empty());

    // A plain PUB drops upstream messages and cannot be read from.
    let p = net.add_default(SocketType::Pub);
    let xs2 = net.add_default(SocketType::XSub);
    net.connect(xs2, p);
    net.drive();
    net.sockets[xs2].send(Msg::from("noise")).unwrap();
    net.sockets[xs2].send(Msg::from(&b"\x01"[..])).unwrap();
    net.drive();
    assert!(matches!(net.sockets[p].recv(), Err(Error::NotSupported(_))));
    assert!(!net.sockets[p].is_readable());
    net.sockets[p].send(Msg::from("all")).unwrap();
    net.drive();
    assert_eq!(firsts(&net.recv_all(xs2)), ["all"]);
}

/// libzmq `test_xpub_welcome_msg`: we send no welcome message — a new subscriber receives
/// nothing it did not subscribe to; and SUB cannot send.
#[test]
fn no_unsolicited_messages_and_sub_cannot_send() {
    let mut net = Net::new(10);
    let x = net.add_default(SocketType::XPub);
    let s = net.add_default(SocketType::Sub);
    net.connect(s, x);
    net.sockets[s].subscribe(b"").unwrap();
    net.drive();
    assert!(net.recv_all(s).is_empty());
    let e = net.sockets[s].send(Msg::from("x")).unwrap_err();
    assert!(matches!(e.error, Error::NotSupported(_)));
    assert_eq!(e.msg, Msg::from("x"));
}

/// §1.12 PUB: `send` never blocks; a subscriber at its high-water mark loses messages while
/// the others get everything.
#[test]
fn pub_drops_per_subscriber_only() {
    let mut net = Net::new(11);
    let p = net.add(SocketType::Pub, opts(|o| o.sndhwm = 2));
    let fast = net.add_default(SocketType::Sub);
    let slow = net.add_default(SocketType::Sub);
    net.connect(fast, p);
    net.connect(slow, p);
    net.sockets[fast].subscribe(b"").unwrap();
    net.sockets[slow].subscribe(b"").unwrap();
    net.drive();
    net.freeze(1, true); // the slow subscriber's link
    for i in 0..200u32 {
        let mut m = Msg::from(format!("{i:05}"));
        // 4 KiB each: 800 KB in all, more than the frozen link's output batch (256 KiB) plus
        // its queue of two.
        m.push(vec![0u8; 4096]);
        net.sockets[p].send(m).unwrap();
        net.drive();
    }
    assert_eq!(net.recv_all(fast).len(), 200);
    net.freeze(1, false);
    net.drive();
    let slow_got = firsts(&net.recv_all(slow));
    assert!(slow_got.len() < 200, "the slow one lost some");
    assert!(slow_got.windows(2).all(|w| w[0] < w[1]));
}

/// libzmq `test_sub_forward`: SUB → XPUB | proxy | XSUB → PUB. Subscriptions travel upstream
/// through the proxy, messages downstream.
#[test]
fn sub_forward_through_xpub_xsub_proxy() {
    let mut net = Net::new(12);
    let publisher = net.add_default(SocketType::Pub);
    let front = net.add_default(SocketType::XSub); // proxy side facing the publisher
    let back = net.add_default(SocketType::XPub); // proxy side facing subscribers
    let sub = net.add_default(SocketType::Sub);
    net.connect(front, publisher);
    net.connect(sub, back);
    net.drive();
    net.sockets[sub].subscribe(b"").unwrap();
    net.drive();
    // The proxy loop: subscriptions up, messages down.
    let proxy = |net: &mut Net| loop {
        let mut moved = false;
        while let Some(m) = net.recv(back) {
            net.sockets[front].send(m).unwrap();
            moved = true;
        }
        while let Some(m) = net.recv(front) {
            net.sockets[back].send(m).unwrap();
            moved = true;
        }
        net.drive();
        if !moved {
            break;
        }
    };
    proxy(&mut net);
    net.sockets[publisher].send(Msg::from("through")).unwrap();
    net.drive();
    proxy(&mut net);
    assert_eq!(firsts(&net.recv_all(sub)), ["through"]);
}

// ---- decoding paused at the receive high-water mark -----------------------------------------

/// Moves bytes between two sockets, whole writes at once, until nothing moves.
fn shuttle(a: &mut Socket, pa: PeerId, b: &mut Socket, pb: PeerId, now: Instant) {
    fn one_way(from: &mut Socket, pf: PeerId, to: &mut Socket, pt: PeerId, now: Instant) -> bool {
        while from.poll_transmit().is_some() {}
        let mut out = Vec::new();
        if let Some(view) = from.bytes(pf) {
            view.take_transmit(&mut out);
        }
        let bytes: Vec<u8> = out.iter().flat_map(|c| c.iter().copied()).collect();
        if !bytes.is_empty() {
            if let Some(view) = to.bytes(pt) {
                view.handle_input(&bytes, now);
            }
        }
        !bytes.is_empty()
    }
    while one_way(a, pa, b, pb, now) | one_way(b, pb, a, pa, now) {}
}

/// S4 with `rcvhwm`: a subscription that arrives behind upstream messages, while decoding is
/// paused at the receive high-water mark, still takes effect once the application reads.
#[test]
fn subscription_behind_paused_messages_takes_effect() {
    for pub_type in [SocketType::XPub, SocketType::Pub] {
        let now = Instant::now();
        let mut x = Socket::new(pub_type, opts(|o| o.connection.rcvhwm = 1), now);
        let mut s = Socket::new(SocketType::XSub, SocketOptions::default(), now);
        let ps = s.connect("mem://x", now);
        assert!(matches!(s.poll_action(), Some(Action::Dial { .. })));
        s.attach(ps, now);
        let px = x.accept(now);
        shuttle(&mut s, ps, &mut x, px, now);
        // Two upstream messages, then a subscription: all in one read at the publisher.
        s.send(Msg::from("u1")).unwrap();
        s.send(Msg::from("u2")).unwrap();
        s.send(Msg::from(Bytes::from_static(b"\x01T"))).unwrap();
        shuttle(&mut s, ps, &mut x, px, now);
        if pub_type == SocketType::XPub {
            let mut got = Vec::new();
            while let Some(m) = x.recv().unwrap() {
                got.push(m[0].clone());
            }
            assert_eq!(got, ["u1", "u2", "\x01T"], "{pub_type}");
        }
        x.send(Msg::from("T-news")).unwrap();
        shuttle(&mut s, ps, &mut x, px, now);
        assert_eq!(
            s.recv().unwrap(),
            Some(Msg::from("T-news")),
            "{pub_type}: the subscription took effect"
        );
    }
}

/// `max_subscriptions`: a subscriber holding the limit has further subscriptions refused (the
/// publisher's monitor names it), and may subscribe again once it cancels one; off by default.
#[test]
fn max_subscriptions_bounds_each_subscriber() {
    let mut net = Net::new(41);
    let (p, s) = pub_sub(
        &mut net,
        SocketType::XPub,
        opts(|o| o.max_subscriptions = Some(2)),
    );
    for topic in ["a", "b", "c"] {
        net.sockets[s].subscribe(topic.as_bytes()).unwrap();
    }
    net.drive();
    assert_eq!(notices(&mut net, p), ["+a", "+b"], "c was refused");
    let refused: Vec<_> = net
        .take_events(p)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                zmtp_proto::SocketEvent::SubscriptionRefused { limit: 2, .. }
            )
        })
        .collect();
    assert_eq!(refused.len(), 1, "one event for the refused subscription");
    publish(&mut net, p, &["a1", "b1", "c1"]);
    assert_eq!(firsts(&net.recv_all(s)), ["a1", "b1"]);

    net.sockets[s].unsubscribe(b"a").unwrap();
    net.sockets[s].subscribe(b"d").unwrap();
    net.drive();
    assert_eq!(notices(&mut net, p), ["-a", "+d"]);
    publish(&mut net, p, &["a2", "d2"]);
    assert_eq!(firsts(&net.recv_all(s)), ["d2"]);

    // Unlimited by default.
    let mut net = Net::new(42);
    let (p, s) = pub_sub(&mut net, SocketType::Pub, SocketOptions::default());
    for i in 0..1000 {
        net.sockets[s]
            .subscribe(format!("t{i}").as_bytes())
            .unwrap();
    }
    net.drive();
    publish(&mut net, p, &["t999"]);
    assert_eq!(firsts(&net.recv_all(s)), ["t999"]);
}
