//! `zmtp cat`'s socket-option flags (libzmq's `ZMQ_*` options): `--maxmsgsize` enforced,
//! `--ipv6` needed for IPv6 addresses, interface names in endpoints, an option of another
//! socket type refused.

mod support;

use support::{run_zmtp, run_zmtp_on, Proc};

fn maxmsgsize_drops_a_larger_message(d: &str) {
    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--maxmsgsize",
            "10",
            "-n",
            "1",
            "--timeout",
            "10000",
        ],
    );
    let ep = pull.bound();
    // Eleven bytes: the pull drops the connection instead of printing it.
    let big = run_zmtp_on(d, &["cat", "push", "--connect", &ep], b"0123456789a\n");
    assert_eq!(big.code, Some(0), "{big:?}");
    let small = run_zmtp_on(d, &["cat", "push", "--connect", &ep], b"0123456789\n");
    assert_eq!(small.code, Some(0), "{small:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["0123456789"]);
}

fn ipv6_needs_the_option_and_interfaces_bind_by_name(d: &str) {
    let out = run_zmtp_on(d, &["cat", "pull", "--bind", "tcp://[::1]:*"], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.error_line().contains("ipv6"), "{out:?}");
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let p = Proc::zmtp_on(d, &["cat", "pull", "--ipv6", "--bind", "tcp://[::1]:*"]);
        assert!(p.bound().starts_with("tcp://[::1]:"));
        p.kill();
    }
    let pull = Proc::zmtp_on(d, &["cat", "pull", "--bind", "tcp://lo:*", "-n", "1"]);
    let ep = pull.bound();
    assert!(ep.starts_with("tcp://127.0.0.1:"), "{ep}");
    let push = run_zmtp_on(d, &["cat", "push", "--connect", &ep], b"via lo\n");
    assert_eq!(push.code, Some(0), "{push:?}");
    assert_eq!(pull.finish().stdout, ["via lo"]);
}

fn router_notify_and_probe_router(d: &str) {
    let router = Proc::zmtp_on(
        d,
        &[
            "cat",
            "router",
            "--bind",
            "tcp://127.0.0.1:*",
            "--router-notify",
            "connect",
            "-n",
            "2",
        ],
    );
    let ep = router.bound();
    let dealer = run_zmtp_on(
        d,
        &[
            "cat",
            "dealer",
            "--connect",
            &ep,
            "--identity",
            "me",
            "--probe-router",
        ],
        b"hello\n",
    );
    assert_eq!(dealer.code, Some(0), "{dealer:?}");
    let router = router.finish();
    // The connect notification and the probe are both [id, ""]; then the line.
    assert_eq!(router.stdout, ["me\t", "me\t"], "{router:?}");
}

fn option_errors_exit_1() {
    let cases: &[&[&str]] = &[
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--probe-router",
        ],
        &[
            "cat",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--router-notify",
            "connect",
        ],
        &[
            "cat",
            "sub",
            "--connect",
            "tcp://127.0.0.1:1",
            "--xpub-nodrop",
        ],
        &[
            "cat",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--tcp-keepalive",
            "2",
        ],
        &[
            "cat",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--reconnect-stop",
            "never",
        ],
        &[
            "cat",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--maxmsgsize",
            "-2",
        ],
    ];
    for args in cases {
        let out = run_zmtp(args, b"");
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        out.error_line();
    }
}

#[test]
fn option_errors() {
    option_errors_exit_1();
}

for_each_driver!(
    maxmsgsize_drops_a_larger_message,
    ipv6_needs_the_option_and_interfaces_bind_by_name,
    router_notify_and_probe_router,
);
