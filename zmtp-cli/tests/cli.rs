//! The `zmtp` binary against itself: every `cat` role, the line format, exit codes, `bound`
//! lines, errors, and the perf tools.

mod support;

use std::time::{Duration, Instant};

use support::{run_zmtp, run_zmtp_on, temp_path, Proc};

fn push_pull_frames_tabs_and_empty_frames(d: &str) {
    let pull = Proc::zmtp_on(
        d,
        &["cat", "pull", "--bind", "tcp://127.0.0.1:*", "-n", "3"],
    );
    let ep = pull.bound();
    assert!(ep.starts_with("tcp://127.0.0.1:"), "{ep}");
    // Options after the positional argument here, before it for the pull.
    let push = run_zmtp_on(
        d,
        &["cat", "--connect", &ep, "push"],
        b"a\tb\n\n\tx\t\nignored?",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["a\tb", "", "\tx\t"]);
}

fn push_flushes_everything_at_eof(d: &str) {
    let pull = Proc::zmtp_on(
        d,
        &["cat", "pull", "--bind", "tcp://127.0.0.1:*", "-n", "2000"],
    );
    let ep = pull.bound();
    let input: String = (0..2000).map(|i| format!("message {i}\n")).collect();
    let push = run_zmtp_on(d, &["cat", "push", "--connect", &ep], input.as_bytes());
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0));
    let expected: Vec<String> = (0..2000).map(|i| format!("message {i}")).collect();
    assert_eq!(pull.stdout, expected);
}

fn req_rep_echo_with_count(d: &str) {
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "3",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    let req = run_zmtp_on(
        d,
        &["cat", "req", "--connect", &ep],
        b"one\ntwo\tparts\nthree\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["one", "two\tparts", "three"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["one", "two\tparts", "three"]);
}

fn rep_answers_with_stdin_lines_and_req_stops_after_count(d: &str) {
    let mut rep = Proc::zmtp_on(d, &["cat", "rep", "--bind", "tcp://127.0.0.1:*", "-n", "2"]);
    let ep = rep.bound();
    rep.write(b"answer 1\nanswer 2\nnever sent\n");
    // req has three lines but stops after two replies.
    let req = run_zmtp_on(
        d,
        &["cat", "req", "--connect", &ep, "-n", "2"],
        b"question 1\nquestion 2\nquestion 3\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["answer 1", "answer 2"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["question 1", "question 2"]);
}

fn dealer_router_identity_routing_and_echo(d: &str) {
    let mut router = Proc::zmtp_on(d, &["cat", "router", "--bind", "tcp://127.0.0.1:*"]);
    let ep = router.bound();
    // An identity starting with '-' needs --identity=VALUE.
    let mut dealer = Proc::zmtp_on(
        d,
        &[
            "cat",
            "dealer",
            "--connect",
            &ep,
            "--identity=-alice",
            "-n",
            "1",
        ],
    );
    dealer.write(b"hello\tworld\n");
    assert_eq!(router.line(), "-alice\thello\tworld");
    router.write(b"-alice\tback to you\n");
    router.write(b"nobody\tlost\n");
    assert_eq!(dealer.line(), "back to you");
    let dealer = dealer.finish();
    assert_eq!(dealer.code, Some(0), "{dealer:?}");
    router.close_stdin();
    let router = router.finish();
    assert_eq!(router.code, Some(0), "{router:?}");
    assert!(
        router
            .stderr
            .iter()
            .any(|l| l.contains("no peer with routing id \"nobody\"")),
        "{router:?}"
    );

    // An echoing router sends every message back to the peer it came from.
    let router = Proc::zmtp_on(
        d,
        &[
            "cat",
            "router",
            "--echo",
            "-n",
            "2",
            "--bind",
            "tcp://127.0.0.1:*",
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
            "d1",
            "-n",
            "2",
        ],
        b"ping 1\nping 2\n",
    );
    assert_eq!(dealer.code, Some(0), "{dealer:?}");
    assert_eq!(dealer.stdout, ["ping 1", "ping 2"]);
    let router = router.finish();
    assert_eq!(router.code, Some(0), "{router:?}");
    assert_eq!(router.stdout, ["d1\tping 1", "d1\tping 2"]);
}

fn pub_sub_filters_by_prefix_over_ipc(d: &str) {
    let path = temp_path("pubsub.sock");
    let ep = format!("ipc://{}", path.display());
    let sub = Proc::zmtp_on(
        d,
        &[
            "cat",
            "sub",
            "--bind",
            &ep,
            "--subscribe",
            "keep",
            "--subscribe",
            "also",
            "-n",
            "4",
        ],
    );
    assert_eq!(sub.bound(), ep, "ipc endpoints are printed as given");
    let mut publisher = Proc::zmtp_on(d, &["cat", "pub", "--connect", &ep]);
    // PUB drops messages until the subscription arrives: publish until the subscriber is done.
    let mut sub = sub;
    let start = Instant::now();
    while !sub.has_exited() && start.elapsed() < Duration::from_secs(10) {
        publisher.write(b"drop me\nkeep this\tframe\nalso this\nnot this\n");
        std::thread::sleep(Duration::from_millis(30));
    }
    let sub = sub.finish();
    assert_eq!(sub.code, Some(0), "{sub:?}");
    assert_eq!(sub.stdout.len(), 4, "{sub:?}");
    for line in &sub.stdout {
        assert!(
            line == "keep this\tframe" || line == "also this",
            "unexpected message {line:?}"
        );
    }
    publisher.close_stdin();
    assert_eq!(publisher.finish().code, Some(0));
}

fn hex_passes_binary_frames_and_empty_frames(d: &str) {
    let mut a = Proc::zmtp_on(d, &["cat", "pair", "--hex", "--bind", "tcp://127.0.0.1:*"]);
    let ep = a.bound();
    let mut b = Proc::zmtp_on(d, &["cat", "pair", "--hex", "--connect", &ep, "-n", "1"]);
    // Upper-case hex is accepted; an empty line is one empty frame.
    b.write(b"00ff0a09\t\t0D0A\n\n");
    assert_eq!(a.line(), "00ff0a09\t\t0d0a");
    assert_eq!(a.line(), "");
    // Without -n, the bidirectional pair exits at stdin EOF once its message is sent.
    a.write(b"beef\t\n");
    let a = a.finish();
    assert_eq!(a.code, Some(0), "{a:?}");
    let b = b.finish();
    assert_eq!(b.code, Some(0), "{b:?}");
    assert_eq!(b.stdout, ["beef\t"]);
}

fn xpub_sees_subscriptions_from_xsub(d: &str) {
    let xpub = Proc::zmtp_on(
        d,
        &[
            "cat",
            "xpub",
            "--hex",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "1",
        ],
    );
    let ep = xpub.bound();
    // "t" in hex; the subscription reaches the XPUB as \x01t.
    let xsub = Proc::zmtp_on(
        d,
        &[
            "cat",
            "xsub",
            "--hex",
            "--connect",
            &ep,
            "--subscribe",
            "74",
        ],
    );
    let xpub = xpub.finish();
    assert_eq!(xpub.code, Some(0), "{xpub:?}");
    assert_eq!(xpub.stdout, ["0174"]);
    xsub.kill();
}

fn bound_lines_resolve_wildcards(d: &str) {
    let p = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://*:*",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let any = p.bound();
    let port: u16 = any
        .strip_prefix("tcp://0.0.0.0:")
        .unwrap_or_else(|| panic!("{any}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    assert!(p.bound().starts_with("tcp://127.0.0.1:"));
    p.kill();
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let p = Proc::zmtp_on(d, &["cat", "pull", "--ipv6", "--bind", "tcp://[::1]:*"]);
        let v6 = p.bound();
        assert!(v6.starts_with("tcp://[::1]:"), "{v6}");
        p.kill();
    }
}

fn stale_ipc_socket_file_is_replaced(d: &str) {
    let path = temp_path("stale.sock");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let ep = format!("ipc://{}", path.display());
    let pull = Proc::zmtp_on(d, &["cat", "pull", "--bind", &ep, "-n", "1"]);
    assert_eq!(pull.bound(), ep);
    let push = run_zmtp_on(d, &["cat", "push", "--connect", &ep], b"through\n");
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.stdout, ["through"]);
}

fn timeout_exits_3(d: &str) {
    let start = Instant::now();
    let out = run_zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--timeout",
            "300",
        ],
        b"",
    );
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty());
}

fn linger_bounds_the_flush_at_eof(d: &str) {
    // Nobody listens: the message can never be delivered, so linger decides when we exit.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    let start = Instant::now();
    let out = run_zmtp_on(
        d,
        &["cat", "push", "--connect", &ep, "--linger", "200"],
        b"lost\n",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

fn heartbeats_keep_an_idle_connection(d: &str) {
    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "2",
            "--heartbeat-ivl",
            "50",
            "--heartbeat-timeout",
            "200",
        ],
    );
    let ep = pull.bound();
    let mut push = Proc::zmtp_on(
        d,
        &[
            "cat",
            "push",
            "--connect",
            &ep,
            "--heartbeat-ivl",
            "50",
            "--heartbeat-ttl",
            "500",
        ],
    );
    push.write(b"before\n");
    assert_eq!(pull.line(), "before");
    // Idle for several heartbeat timeouts: PINGs and PONGs keep the connection up.
    std::thread::sleep(Duration::from_millis(700));
    push.write(b"after\n");
    push.close_stdin();
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["after"]);
    assert!(
        !pull.stderr.iter().any(|l| l.contains("disconnected")),
        "{pull:?}"
    );
    assert_eq!(push.finish().code, Some(0));
}

#[test]
fn errors_exit_1_with_one_error_line() {
    let cases: &[&[&str]] = &[
        &["cat", "pull", "--bind", "udp://127.0.0.1:5"],
        &["cat", "pull", "--bind", "tcp://127.0.0.1"],
        &["cat", "pull", "--connect", "tcp://*:5555"],
        &["cat", "pull"],
        &["cat", "nosuchtype", "--bind", "tcp://127.0.0.1:*"],
        &["cat", "pull", "--bind", "tcp://127.0.0.1:*", "--bogus"],
        &[
            "cat",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--subscribe",
            "x",
        ],
        &["cat", "pull", "--connect", "tcp://127.0.0.1:1", "--echo"],
        &["cat", "push", "--connect", "tcp://127.0.0.1:1", "-n", "1"],
        &[
            "cat",
            "dealer",
            "--connect",
            "tcp://127.0.0.1:1",
            "--hex",
            "--identity",
            "xyz",
        ],
        &["perf", "lat-server", "tcp://127.0.0.1:*", "16"],
        &["perf", "thr-client", "tcp://127.0.0.1:1", "16", "0"],
    ];
    for args in cases {
        let out = run_zmtp(args, b"");
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        out.error_line();
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}

fn address_in_use_is_an_error(d: &str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    let out = run_zmtp_on(d, &["cat", "pull", "--bind", &ep], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.error_line();
    assert!(
        line.contains(&ep) && line.to_lowercase().contains("in use"),
        "{line}"
    );
}

fn bad_hex_input_is_an_error(d: &str) {
    let pull = Proc::zmtp_on(d, &["cat", "pull", "--bind", "tcp://127.0.0.1:*"]);
    let ep = pull.bound();
    let out = run_zmtp_on(
        d,
        &["cat", "push", "--hex", "--connect", &ep],
        b"00\nnot hex\n",
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.error_line().contains("stdin line 2"), "{out:?}");
    pull.kill();
}

fn incompatible_peer_is_logged_and_the_server_keeps_serving(d: &str) {
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "1",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    // PUSH may not talk to REP: the handshake fails on both sides.
    let push = Proc::zmtp_on(d, &["cat", "push", "--connect", &ep, "--linger", "0"]);
    let refusal = rep.stderr_after("zmtp: handshake with");
    assert!(refusal.contains("failed"), "{refusal}");
    push.kill();
    let req = run_zmtp_on(d, &["cat", "req", "--connect", &ep], b"still here\n");
    assert_eq!(req.stdout, ["still here"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
}

fn incompatible_server_is_logged_once_while_redialling(d: &str) {
    let pull = Proc::zmtp_on(d, &["cat", "pull", "--bind", "tcp://127.0.0.1:*"]);
    let ep = pull.bound();
    // REQ may not talk to PULL: the client redials every 100 ms and fails the same way.
    let req = run_zmtp_on(
        d,
        &["cat", "req", "--connect", &ep, "--timeout", "700"],
        b"x\n",
    );
    assert_eq!(req.code, Some(3), "{req:?}");
    let notes: Vec<&String> = req
        .stderr
        .iter()
        .filter(|l| l.starts_with("zmtp: handshake with"))
        .collect();
    assert_eq!(notes.len(), 1, "{req:?}");
    assert!(
        notes[0].contains(&ep) && notes[0].contains("may not connect"),
        "{notes:?}"
    );
    pull.kill();
}

fn plain_credentials_are_checked(d: &str) {
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "1",
            "--plain-server",
            "--allow",
            "admin:secret",
            "--allow",
            "guest:",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    // A wrong password: the server answers ERROR 400, the client exits 1 with one error line.
    let wrong = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--plain-user",
            "admin",
            "--plain-password",
            "nope",
            "--connect",
            &ep,
            "--timeout",
            "5000",
        ],
        b"x\n",
    );
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    let errors: Vec<&String> = wrong
        .stderr
        .iter()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{wrong:?}");
    assert!(
        errors[0].contains("refused") && errors[0].contains("400"),
        "{errors:?}"
    );
    // The right one: the request is echoed.
    let req = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--plain-user",
            "admin",
            "--plain-password",
            "secret",
            "--connect",
            &ep,
        ],
        b"hello\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["hello"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert!(
        rep.stderr
            .iter()
            .any(|l| l.contains("authentication failed")),
        "the server logs the refusal: {rep:?}"
    );
}

/// Issue 18: `--plain-server` with no `--allow` refuses every client, as libzmq's PLAIN server
/// does without a ZAP handler; `--plain-accept-any` lets anyone in, with a warning.
fn plain_server_without_allow_refuses_everyone(d: &str) {
    let server = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "--plain-server",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = server.bound();
    let req = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--plain-user=anyone",
            "--plain-password=anything",
            "--connect",
            &ep,
            "--timeout",
            "5000",
        ],
        b"let me in\n",
    );
    assert_eq!(req.code, Some(1), "{req:?}");
    let line = req.error_line();
    assert!(line.contains("refused") && line.contains("400"), "{req:?}");
    assert!(req.stdout.is_empty(), "{req:?}");
    server.kill();
    // A push, whose message is queued when the refusal comes, fails the same way.
    let server = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--plain-server",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = server.bound();
    let push = run_zmtp_on(
        d,
        &[
            "cat",
            "push",
            "--plain-user=anyone",
            "--plain-password=anything",
            "--connect",
            &ep,
            "--timeout",
            "5000",
        ],
        b"let me in\n",
    );
    assert_eq!(push.code, Some(1), "{push:?}");
    assert!(push.error_line().contains("400"), "{push:?}");
    server.kill();

    let server = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--plain-server",
            "--plain-accept-any",
            "-n",
            "1",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = server.bound();
    let push = run_zmtp_on(
        d,
        &[
            "cat",
            "push",
            "--plain-user",
            "anyone",
            "--plain-password",
            "anything",
            "--connect",
            &ep,
        ],
        b"welcome\n",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    assert_eq!(server.line(), "welcome");
    let server = server.finish();
    assert_eq!(server.code, Some(0), "{server:?}");
    assert!(
        server
            .stderr
            .iter()
            .any(|l| l.starts_with("zmtp: warning:") && l.contains("--plain-accept-any")),
        "{server:?}"
    );
}

/// `--mechanism plain` with the PLAIN options, in both `--opt VALUE` and `--opt=VALUE` forms;
/// `--mechanism null` is the default made explicit.
fn mechanism_option_selects_the_mechanism(d: &str) {
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "1",
            "--mechanism=plain",
            "--plain-server",
            "--allow=admin:secret",
            "--bind=tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    let req = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--mechanism",
            "plain",
            "--plain-user",
            "admin",
            "--plain-password=secret",
            &format!("--connect={ep}"),
            "--timeout=5000",
        ],
        b"over plain\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["over plain"]);
    assert_eq!(rep.finish().code, Some(0));

    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--mechanism",
            "null",
            "-n",
            "1",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = pull.bound();
    let push = run_zmtp_on(
        d,
        &["cat", "push", "--mechanism=null", "--connect", &ep],
        b"over null\n",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["over null"]);
}

/// A `--mechanism` that the PLAIN options contradict, or PLAIN without a role, is a usage
/// error (the CURVE cases are in `tests/curve.rs`).
#[test]
fn mechanism_option_usage_errors() {
    let ep = "tcp://127.0.0.1:1";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "cat",
                "pull",
                "--bind",
                ep,
                "--mechanism",
                "null",
                "--plain-server",
            ],
            &["--mechanism null", "--plain-server"],
        ),
        (
            &[
                "cat",
                "req",
                "--connect",
                ep,
                "--mechanism=null",
                "--plain-user=a",
                "--plain-password=b",
            ],
            &["--mechanism null", "--plain-user"],
        ),
        (
            &["cat", "req", "--connect", ep, "--mechanism", "plain"],
            &["--mechanism plain", "--plain-user", "--plain-server"],
        ),
        (
            &["cat", "req", "--connect", ep, "--mechanism", "gssapi"],
            &["gssapi"],
        ),
        (
            &[
                "cat",
                "pull",
                "--connect",
                ep,
                "--mechanism=plain",
                "--mechanism=null",
            ],
            &["--mechanism"],
        ),
    ];
    for (args, words) in cases {
        let out = run_zmtp(args, b"");
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        let line = out.error_line();
        for w in *words {
            assert!(line.contains(w), "{args:?}: {w:?} not in {line:?}");
        }
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}

fn perf_tools_against_each_other(d: &str) {
    let server = Proc::zmtp_on(d, &["perf", "lat-server", "tcp://127.0.0.1:*", "32", "200"]);
    let ep = server.bound();
    let client = run_zmtp_on(d, &["perf", "lat-client", &ep, "32", "200"], b"");
    assert_eq!(client.code, Some(0), "{client:?}");
    assert_eq!(client.stdout[0], "message size: 32 [B]");
    assert_eq!(client.stdout[1], "roundtrip count: 200");
    assert_latency_line(&client.stdout[2]);
    assert_eq!(client.stdout.len(), 3);
    let server = server.finish();
    assert_eq!(server.code, Some(0), "{server:?}");
    assert!(
        server.stdout.is_empty(),
        "servers print results only: {server:?}"
    );

    let server = Proc::zmtp_on(
        d,
        &["perf", "thr-server", "tcp://127.0.0.1:*", "100", "20000"],
    );
    let ep = server.bound();
    let client = run_zmtp_on(d, &["perf", "thr-client", &ep, "100", "20000"], b"");
    assert_eq!(client.code, Some(0), "{client:?}");
    assert!(client.stdout.is_empty());
    let server = server.finish();
    assert_eq!(server.code, Some(0), "{server:?}");
    assert_throughput_lines(&server.stdout, 100, 20000);
}

#[test]
fn perf_without_arguments_prints_a_table() {
    let out = run_zmtp(&["perf"], b"");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout[0].starts_with("driver"), "{out:?}");
    assert!(out.stdout[0].contains("latency 16 B"), "{out:?}");
    for driver in ["compio", "tokio"] {
        let row = out
            .stdout
            .iter()
            .find(|l| l.starts_with(driver))
            .unwrap_or_else(|| panic!("no {driver} row: {out:?}"));
        assert!(row.contains(" us") && row.contains("msg/s"), "{row}");
        // Progress went to stderr, one line per step when stderr is not a terminal.
        assert!(
            out.stderr
                .iter()
                .any(|l| l.starts_with("zmtp perf [") && l.contains(driver)),
            "{out:?}"
        );
    }
    assert!(out.stderr.iter().any(|l| l.contains("[6/6]")), "{out:?}");
}

/// Checks `average latency: X.XXX [us]`.
fn assert_latency_line(line: &str) {
    let value = line
        .strip_prefix("average latency: ")
        .and_then(|l| l.strip_suffix(" [us]"))
        .unwrap_or_else(|| panic!("{line:?}"));
    let (_, decimals) = value.split_once('.').unwrap();
    assert_eq!(decimals.len(), 3, "{line}");
    assert!(value.parse::<f64>().unwrap() > 0.0, "{line}");
}

/// Checks local_thr's four lines.
fn assert_throughput_lines(lines: &[String], size: usize, count: u64) {
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], format!("message size: {size} [B]"));
    assert_eq!(lines[1], format!("message count: {count}"));
    let msgs: u64 = lines[2]
        .strip_prefix("mean throughput: ")
        .and_then(|l| l.strip_suffix(" [msg/s]"))
        .unwrap_or_else(|| panic!("{lines:?}"))
        .parse()
        .unwrap();
    assert!(msgs > 0);
    let mbits = lines[3]
        .strip_prefix("mean throughput: ")
        .and_then(|l| l.strip_suffix(" [Mb/s]"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let expected = (msgs * size as u64 * 8) as f64 / 1e6;
    assert_eq!(mbits, format!("{expected:.3}"));
}

for_each_driver!(
    push_pull_frames_tabs_and_empty_frames,
    push_flushes_everything_at_eof,
    req_rep_echo_with_count,
    rep_answers_with_stdin_lines_and_req_stops_after_count,
    dealer_router_identity_routing_and_echo,
    pub_sub_filters_by_prefix_over_ipc,
    hex_passes_binary_frames_and_empty_frames,
    xpub_sees_subscriptions_from_xsub,
    bound_lines_resolve_wildcards,
    stale_ipc_socket_file_is_replaced,
    timeout_exits_3,
    linger_bounds_the_flush_at_eof,
    heartbeats_keep_an_idle_connection,
    address_in_use_is_an_error,
    bad_hex_input_is_an_error,
    incompatible_peer_is_logged_and_the_server_keeps_serving,
    incompatible_server_is_logged_once_while_redialling,
    plain_credentials_are_checked,
    plain_server_without_allow_refuses_everyone,
    mechanism_option_selects_the_mechanism,
    perf_tools_against_each_other,
);
