//! `zmtp proxy` with libzmq 4.3 peers (pyzmq) on both ends: steering over --control up to
//! TERMINATE (exit 0), a queue whose backend connects (`>`) to a libzmq REP, a forwarder with
//! a capture socket, a STREAM frontend serving a raw TCP client, and argument errors.
//!
//! The scenarios are `conformance/py/proxy_peer.py`'s (the conformance suite runs them against
//! the library's proxy). Without python3 and pyzmq these tests fail, unless
//! `MONOCOQUE_SKIP_INTEROP=1`.

mod support;

use support::{hex, interop_available, port_of, run_zmtp_on, temp_path, Proc};

/// Starts a scenario of `conformance/py/proxy_peer.py`.
fn proxy_peer(args: &[&str]) -> Proc {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/py/proxy_peer.py"
    );
    let mut all = vec!["-u", path];
    all.extend_from_slice(args);
    Proc::spawn(
        &format!("proxy_peer.py {}", args.join(" ")),
        "python3",
        &all,
    )
}

fn steered_by_libzmq_until_terminate(d: &str) {
    if !interop_available() {
        return;
    }
    let back = format!("@ipc://{}", temp_path(&format!("steer-{d}")).display());
    let proxy = Proc::zmtp_on(
        d,
        &[
            "proxy",
            "pull",
            "@tcp://127.0.0.1:*",
            "push",
            &back,
            "--control",
            "tcp://127.0.0.1:*",
        ],
    );
    let (front, back, control) = (proxy.bound(), proxy.bound(), proxy.bound());
    let peer = proxy_peer(&["steer", &front, &back, &control]);
    assert_eq!(peer.line(), "OK");
    let out = proxy.finish();
    assert_eq!(out.code, Some(0), "TERMINATE ends the proxy: {out:?}");
}

fn queue_connecting_to_a_libzmq_worker(d: &str) {
    if !interop_available() {
        return;
    }
    let worker = Proc::python(
        "peer.py",
        &["REP", "--bind", "tcp://127.0.0.1:*", "--echo", "3"],
    );
    let worker_ep = worker.ready();
    let proxy = Proc::zmtp_on(
        d,
        &[
            "proxy",
            "router",
            "@tcp://127.0.0.1:*",
            "dealer",
            &format!(">{worker_ep}"),
        ],
    );
    let front = proxy.bound();
    let client = run_zmtp_on(
        d,
        &["cat", "req", "--connect", &front],
        b"one\ntwo\tframes\nthree\n",
    );
    assert_eq!(client.code, Some(0), "{client:?}");
    assert_eq!(client.stdout, ["one", "two\tframes", "three"]);
    assert_eq!(worker.line(), hex(b"one"));
    assert_eq!(
        worker.line(),
        format!("{}\t{}", hex(b"two"), hex(b"frames"))
    );
    assert_eq!(worker.line(), hex(b"three"));
    assert_eq!(worker.line(), "done");
    proxy.kill();
}

fn forwarder_with_capture(d: &str) {
    if !interop_available() {
        return;
    }
    let capture = format!("@ipc://{}", temp_path(&format!("capture-{d}")).display());
    let proxy = Proc::zmtp_on(
        d,
        &[
            "proxy",
            "xsub",
            "@tcp://127.0.0.1:*",
            "xpub",
            "@tcp://127.0.0.1:*",
            "--capture",
            "push",
            &capture,
        ],
    );
    let (front, back, capture) = (proxy.bound(), proxy.bound(), proxy.bound());
    // A PUSH capture with no peer would hold the proxy back: the tap connects first.
    let tap = Proc::zmtp_on(d, &["cat", "pull", "--hex", "--connect", &capture]);
    let peer = proxy_peer(&["forwarder", &front, &back, "200"]);
    assert_eq!(peer.line(), "OK");
    // The SUB's subscription went back through the proxy first, then the "A" messages.
    assert_eq!(tap.line(), "0141");
    let first = tap.line();
    assert!(first.starts_with("41\t"), "{first}");
    tap.kill();
    proxy.kill();
}

/// A STREAM frontend: a raw TCP client's bytes reach a DEALER behind the proxy as
/// `[routing id, data]`, its connection as `[routing id, ""]`; the DEALER's `[routing id,
/// data]` is written raw to the client and `[routing id, ""]` closes it (libzmq's
/// `zmq_proxy` with a `ZMQ_STREAM` frontend does the same).
fn stream_frontend_to_a_dealer(d: &str) {
    use std::io::{Read, Write};
    let proxy = Proc::zmtp_on(
        d,
        &[
            "proxy",
            "stream",
            "@tcp://127.0.0.1:*",
            "dealer",
            "@tcp://127.0.0.1:*",
        ],
    );
    let (front, back) = (proxy.bound(), proxy.bound());
    let mut worker = Proc::zmtp_on(d, &["cat", "dealer", "--hex", "--connect", &back]);
    // Whichever connects first: until the worker is there, the proxy's DEALER holds what
    // the client sends (a DEALER without peers waits to send).
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port_of(&front))).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let hello = worker.line();
    let (id, empty) = hello.split_once('\t').expect("two fields");
    assert_eq!((id.len(), empty), (10, ""), "the connection: {hello:?}");
    client.write_all(b"ping\n\x00").unwrap();
    assert_eq!(worker.line(), format!("{id}\t{}", hex(b"ping\n\x00")));
    worker.write(format!("{id}\t{}\n{id}\t\n", hex(b"pong")).as_bytes());
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"pong", "written raw, then closed");
    worker.kill();
    proxy.kill();
}

fn bad_arguments_are_one_error_line(d: &str) {
    for (args, needle) in [
        (
            &[
                "proxy",
                "pull",
                "tcp://127.0.0.1:5555",
                "push",
                "@tcp://127.0.0.1:*",
            ][..],
            "prefix it with @ to bind or > to connect",
        ),
        (
            &[
                "proxy",
                "pull",
                "@tcp://127.0.0.1:*",
                "pull",
                "@tcp://127.0.0.1:*",
            ][..],
            "move no message",
        ),
        (
            &[
                "proxy",
                "pull",
                "@tcp://127.0.0.1:*",
                "push",
                "@tcp://127.0.0.1:*",
                "--capture",
                "sub",
                "@tcp://127.0.0.1:*",
            ][..],
            "cannot send",
        ),
        (
            &[
                "proxy",
                "pull",
                "@tcp://nowhere.invalid:1",
                "push",
                "@tcp://127.0.0.1:*",
            ][..],
            "frontend: cannot bind",
        ),
    ] {
        let out = run_zmtp_on(d, args, b"");
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        assert!(out.error_line().contains(needle), "{args:?}: {out:?}");
    }
}

for_each_driver!(
    steered_by_libzmq_until_terminate,
    queue_connecting_to_a_libzmq_worker,
    forwarder_with_capture,
    stream_frontend_to_a_dealer,
    bad_arguments_are_one_error_line,
);
