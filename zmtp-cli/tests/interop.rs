//! The `zmtp` binary against libzmq 4.3 peers (pyzmq scripts in `tests/py`), in both roles.
//!
//! Without python3 and pyzmq these tests fail, unless `MONOCOQUE_SKIP_INTEROP=1`.

mod support;

use support::{hex, interop_available, run_zmtp_on, Proc};
use zmtp_proto::{CurveKeyPair, CurveSecretKey};

/// A fresh CURVE key pair as Z85 text: (public, secret).
fn curve_keys() -> (String, String) {
    let pair = CurveKeyPair::generate(&mut rand::rngs::OsRng);
    (
        pair.public().to_z85(),
        pair.secret().expose_z85().to_string(),
    )
}

/// A key pair whose secret key's Z85 text begins with '-', as one random key in 85 does:
/// every program it is handed to must take it as a value, not as an option.
fn dashed_curve_keys() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    // The first four bytes (big-endian) are the first five Z85 digits; '-' is digit 63.
    let head = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let first = 63 * 85u32.pow(4) + head % 85u32.pow(4);
    bytes[..4].copy_from_slice(&first.to_be_bytes());
    let pair = CurveKeyPair::from_secret(CurveSecretKey::from_bytes(bytes));
    let secret = pair.secret().expose_z85().to_string();
    assert!(secret.starts_with('-'), "{secret}");
    (pair.public().to_z85(), secret)
}

fn push_to_libzmq_pull_with_binary_and_empty_frames(d: &str) {
    if !interop_available() {
        return;
    }
    let pull = Proc::python(
        "peer.py",
        &["PULL", "--bind", "tcp://127.0.0.1:*", "--recv", "2"],
    );
    let ep = pull.ready();
    let push = run_zmtp_on(
        d,
        &["cat", "push", "--hex", "--connect", &ep],
        b"0001ff\t\t0a\n\n",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    assert_eq!(pull.line(), "0001ff\t\t0a");
    assert_eq!(pull.line(), "");
    assert_eq!(pull.line(), "done");
}

fn libzmq_push_to_pull_raw_and_hex(d: &str) {
    if !interop_available() {
        return;
    }
    let pull = Proc::zmtp_on(
        d,
        &["cat", "pull", "--bind", "tcp://127.0.0.1:*", "-n", "2"],
    );
    let ep = pull.bound();
    let push = Proc::python(
        "peer.py",
        &[
            "PUSH",
            "--connect",
            &ep,
            "--send",
            &format!("{}\t\t{}", hex(b"text"), hex(b"more")),
            "--send",
            "",
        ],
    );
    let out = pull.finish();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, ["text\t\tmore", ""]);
    drop(push);

    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--hex",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "1",
        ],
    );
    let ep = pull.bound();
    let _push = Proc::python(
        "peer.py",
        &["PUSH", "--connect", &ep, "--send", "00090a0d\t\tff"],
    );
    let out = pull.finish();
    assert_eq!(out.stdout, ["00090a0d\t\tff"]);
}

fn req_to_libzmq_rep(d: &str) {
    if !interop_available() {
        return;
    }
    let rep = Proc::python(
        "peer.py",
        &["REP", "--bind", "tcp://127.0.0.1:*", "--echo", "2"],
    );
    let ep = rep.ready();
    let req = run_zmtp_on(
        d,
        &["cat", "req", "--connect", &ep],
        b"first\nsecond\tpart\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["first", "second\tpart"]);
    assert_eq!(rep.line(), hex(b"first"));
    assert_eq!(rep.line(), format!("{}\t{}", hex(b"second"), hex(b"part")));
}

fn libzmq_req_to_rep(d: &str) {
    if !interop_available() {
        return;
    }
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "2",
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    let req = Proc::python(
        "peer.py",
        &[
            "REQ",
            "--connect",
            &ep,
            "--send",
            &hex(b"q1"),
            "--recv",
            "1",
        ],
    );
    req.ready();
    assert_eq!(req.line(), hex(b"q1"));
    let req2 = Proc::python(
        "peer.py",
        &[
            "REQ",
            "--connect",
            &ep,
            "--send",
            &format!("{}\t", hex(b"q2")),
            "--recv",
            "1",
        ],
    );
    req2.ready();
    assert_eq!(req2.line(), format!("{}\t", hex(b"q2")));
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["q1", "q2\t"]);
}

fn dealer_to_libzmq_router_shows_our_identity(d: &str) {
    if !interop_available() {
        return;
    }
    let router = Proc::python(
        "peer.py",
        &["ROUTER", "--bind", "tcp://127.0.0.1:*", "--echo", "1"],
    );
    let ep = router.ready();
    let dealer = run_zmtp_on(
        d,
        &[
            "cat",
            "dealer",
            "--hex",
            "--identity",
            "c0ffee",
            "--connect",
            &ep,
            "-n",
            "1",
        ],
        b"0102\t\n",
    );
    assert_eq!(dealer.code, Some(0), "{dealer:?}");
    assert_eq!(dealer.stdout, ["0102\t"]);
    assert_eq!(router.line(), "c0ffee\t0102\t");
}

fn libzmq_dealer_to_router_identity_visible_and_routed_back(d: &str) {
    if !interop_available() {
        return;
    }
    let mut router = Proc::zmtp_on(d, &["cat", "router", "--bind", "tcp://127.0.0.1:*"]);
    let ep = router.bound();
    let dealer = Proc::python(
        "peer.py",
        &[
            "DEALER",
            "--connect",
            &ep,
            "--identity",
            &hex(b"py-dealer"),
            "--send",
            &hex(b"hi"),
            "--recv",
            "1",
        ],
    );
    dealer.ready();
    assert_eq!(router.line(), "py-dealer\thi");
    router.write(b"py-dealer\treply\t\n");
    assert_eq!(dealer.line(), format!("{}\t", hex(b"reply")));
    assert_eq!(dealer.line(), "done");
    router.close_stdin();
    assert_eq!(router.finish().code, Some(0));
}

fn pub_to_libzmq_sub_is_filtered(d: &str) {
    if !interop_available() {
        return;
    }
    let sub = Proc::python(
        "peer.py",
        &[
            "SUB",
            "--bind",
            "tcp://127.0.0.1:*",
            "--subscribe",
            &hex(b"news"),
            "--recv",
            "3",
        ],
    );
    let ep = sub.ready();
    let mut publisher = Proc::zmtp_on(d, &["cat", "pub", "--connect", &ep]);
    // Publish until the subscriber has three messages (the subscription takes a moment).
    let mut lines = Vec::new();
    while lines.len() < 3 {
        publisher.write(b"sport\tno\nnews\tyes\nnewsflash\n");
        if let Some(line) = sub.line_within(std::time::Duration::from_millis(50)) {
            lines.push(line);
        }
    }
    for line in &lines {
        assert!(
            *line == format!("{}\t{}", hex(b"news"), hex(b"yes")) || *line == hex(b"newsflash"),
            "unexpected {line:?}"
        );
    }
    publisher.close_stdin();
    assert_eq!(publisher.finish().code, Some(0));
}

fn libzmq_pub_to_sub_is_filtered(d: &str) {
    if !interop_available() {
        return;
    }
    let sub = Proc::zmtp_on(
        d,
        &[
            "cat",
            "sub",
            "--hex",
            "--subscribe",
            "6b",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "3",
        ],
    );
    let ep = sub.bound();
    let publisher = Proc::python(
        "peer.py",
        &[
            "PUB",
            "--connect",
            &ep,
            "--send",
            "6b6579\t00",
            "--send",
            "6f74686572",
            "--send-every",
            "0.03",
        ],
    );
    let out = sub.finish();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, ["6b6579\t00", "6b6579\t00", "6b6579\t00"]);
    publisher.kill();
}

fn heartbeats_with_libzmq(d: &str) {
    if !interop_available() {
        return;
    }
    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "1",
            "--heartbeat-ivl",
            "50",
            "--heartbeat-timeout",
            "300",
        ],
    );
    let ep = pull.bound();
    // libzmq pings every 50 ms and drops us after 150 ms of silence; we answer its PINGs.
    let push = Proc::python(
        "peer.py",
        &[
            "PUSH",
            "--connect",
            &ep,
            "--heartbeat-ivl",
            "50",
            "--delay",
            "0.6",
            "--send",
            &hex(b"late"),
        ],
    );
    let out = pull.finish();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, ["late"]);
    assert!(
        !out.stderr.iter().any(|l| l.contains("disconnected")),
        "{out:?}"
    );
    drop(push);
}

fn refused_handshake_as_client_is_an_error(d: &str) {
    if !interop_available() {
        return;
    }
    // A ZAP handler that denies everyone: libzmq answers the NULL handshake with ERROR.
    let rep = Proc::python(
        "peer.py",
        &[
            "REP",
            "--bind",
            "tcp://127.0.0.1:*",
            "--zap-deny",
            "--hold",
            "5",
        ],
    );
    let ep = rep.ready();
    let mut req = Proc::zmtp_on(d, &["cat", "req", "--connect", &ep, "--timeout", "10000"]);
    req.write(b"let me in\n");
    let out = req.finish();
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.error_line();
    assert!(line.contains(&ep) && line.contains("refused"), "{line}");
    rep.kill();
}

fn incompatible_libzmq_peer_is_logged_and_others_served(d: &str) {
    if !interop_available() {
        return;
    }
    let pull = Proc::zmtp_on(
        d,
        &["cat", "pull", "--bind", "tcp://127.0.0.1:*", "-n", "1"],
    );
    let ep = pull.bound();
    // SUB may not talk to PULL.
    let wrong = Proc::python("peer.py", &["SUB", "--connect", &ep, "--hold", "5"]);
    wrong.ready();
    let note = pull.stderr_after("zmtp: handshake with");
    assert!(note.contains("may not connect"), "{note}");
    let _right = Proc::python(
        "peer.py",
        &["PUSH", "--connect", &ep, "--send", &hex(b"ok")],
    );
    let out = pull.finish();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, ["ok"]);
    wrong.kill();
}

fn perf_lines(proc: Proc) -> Vec<String> {
    let out = proc.finish();
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
}

fn perf_latency_against_libzmq_both_ways(d: &str) {
    if !interop_available() {
        return;
    }
    // Our server, libzmq's client.
    let server = Proc::zmtp_on(d, &["perf", "lat-server", "tcp://127.0.0.1:*", "64", "300"]);
    let ep = server.bound();
    let client = perf_lines(Proc::python("perf.py", &["remote_lat", &ep, "64", "300"]));
    assert_eq!(client[0], "message size: 64 [B]");
    assert_eq!(client[1], "roundtrip count: 300");
    assert!(client[2].starts_with("average latency: "), "{client:?}");
    assert_eq!(server.finish().code, Some(0));

    // libzmq's server, our client.
    let server = Proc::python("perf.py", &["local_lat", "tcp://127.0.0.1:*", "64", "300"]);
    let ep = server.stderr_after("bound ");
    let ours = perf_lines(Proc::zmtp_on(d, &["perf", "lat-client", &ep, "64", "300"]));
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert_eq!(ours[0], client[0]);
    assert_eq!(ours[1], client[1]);
    assert!(ours[2].starts_with("average latency: ") && ours[2].ends_with(" [us]"));
    assert_eq!(server.finish().code, Some(0));
}

fn perf_throughput_against_libzmq_both_ways(d: &str) {
    if !interop_available() {
        return;
    }
    // Our server, libzmq's client.
    let server = Proc::zmtp_on(
        d,
        &["perf", "thr-server", "tcp://127.0.0.1:*", "256", "20000"],
    );
    let ep = server.bound();
    let client = Proc::python("perf.py", &["remote_thr", &ep, "256", "20000"]).finish();
    assert_eq!(client.code, Some(0), "{client:?}");
    let ours = perf_lines(server);

    // libzmq's server, our client.
    let server = Proc::python(
        "perf.py",
        &["local_thr", "tcp://127.0.0.1:*", "256", "20000"],
    );
    let ep = server.stderr_after("bound ");
    let client = run_zmtp_on(d, &["perf", "thr-client", &ep, "256", "20000"], b"");
    assert_eq!(client.code, Some(0), "{client:?}");
    assert!(client.stdout.is_empty(), "{client:?}");
    let theirs = perf_lines(server);

    // Same lines, same formats (the numbers differ).
    for lines in [&ours, &theirs] {
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], "message size: 256 [B]");
        assert_eq!(lines[1], "message count: 20000");
        let msgs: u64 = lines[2]
            .strip_prefix("mean throughput: ")
            .and_then(|l| l.strip_suffix(" [msg/s]"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            lines[3],
            format!(
                "mean throughput: {:.3} [Mb/s]",
                (msgs * 256 * 8) as f64 / 1e6
            )
        );
    }
}

/// Our cat as a CURVE server with an allow list, libzmq (pyzmq) as its clients: a client whose
/// key is not listed is refused and logged, then a listed one makes a round trip.
fn curve_server_with_libzmq_clients(d: &str) {
    if !interop_available() {
        return;
    }
    let (server_public, server_secret) = curve_keys();
    let (client_public, client_secret) = dashed_curve_keys();
    let (stranger_public, stranger_secret) = dashed_curve_keys();
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "1",
            "--curve-server",
            &format!("--curve-secret-key={server_secret}"),
            &format!("--allow-curve={client_public}"),
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = rep.bound();
    let stranger = Proc::python(
        "peer.py",
        &[
            "REQ",
            "--connect",
            &ep,
            &format!("--curve-serverkey={server_public}"),
            &format!("--curve-publickey={stranger_public}"),
            &format!("--curve-secretkey={stranger_secret}"),
            "--send",
            &hex(b"let me in"),
            "--recv",
            "1",
            "--timeout",
            "3000",
        ],
    );
    stranger.ready();
    let log = rep.stderr_after("zmtp: handshake with");
    assert!(
        log.contains("not allowed") && log.contains(&stranger_public),
        "{log}"
    );
    assert_eq!(stranger.line(), "timeout", "a refused client gets nothing");
    let client = Proc::python(
        "peer.py",
        &[
            "REQ",
            "--connect",
            &ep,
            &format!("--curve-serverkey={server_public}"),
            &format!("--curve-publickey={client_public}"),
            &format!("--curve-secretkey={client_secret}"),
            "--send",
            &format!("{}\t{}", hex(b"from"), hex(b"libzmq")),
            "--recv",
            "1",
        ],
    );
    client.ready();
    assert_eq!(
        client.line(),
        format!("{}\t{}", hex(b"from"), hex(b"libzmq"))
    );
    assert_eq!(client.line(), "done");
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["from\tlibzmq"]);
}

/// Our cat as a CURVE client of a libzmq (pyzmq) CURVE server without ZAP, which lets in any
/// client that knows its key.
fn curve_client_to_libzmq_server(d: &str) {
    if !interop_available() {
        return;
    }
    let (server_public, server_secret) = dashed_curve_keys();
    let (_, client_secret) = dashed_curve_keys();
    let rep = Proc::python(
        "peer.py",
        &[
            "REP",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            &format!("--curve-secretkey={server_secret}"),
            "--echo",
            "1",
        ],
    );
    let ep = rep.ready();
    let req = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--connect",
            &ep,
            "--curve-server-key",
            &server_public,
            "--curve-secret-key",
            &client_secret,
            "--timeout",
            "10000",
        ],
        b"to\tlibzmq\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["to\tlibzmq"]);
    assert_eq!(rep.line(), format!("{}\t{}", hex(b"to"), hex(b"libzmq")));
    assert_eq!(rep.line(), "done");
}

/// A libzmq CURVE server whose ZAP handler does not know our key answers ERROR 400: our client
/// exits 1 with one `error:` line; with a known key the same server answers.
fn curve_client_refused_by_libzmq_zap(d: &str) {
    if !interop_available() {
        return;
    }
    let (server_public, server_secret) = dashed_curve_keys();
    let (client_public, client_secret) = curve_keys();
    let (_, stranger_secret) = curve_keys();
    let rep = Proc::python(
        "peer.py",
        &[
            "REP",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            &format!("--curve-secretkey={server_secret}"),
            &format!("--curve-allow={client_public}"),
            "--echo",
            "1",
        ],
    );
    let ep = rep.ready();
    let client = |secret: &str, input: &[u8]| {
        run_zmtp_on(
            d,
            &[
                "cat",
                "req",
                "--connect",
                &ep,
                "--curve-server-key",
                &server_public,
                "--curve-secret-key",
                secret,
                "--timeout",
                "10000",
            ],
            input,
        )
    };
    let refused = client(&stranger_secret, b"let me in\n");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let line = refused.error_line();
    assert!(
        line.contains(&ep) && line.contains("refused") && line.contains("400"),
        "{line}"
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    let allowed = client(&client_secret, b"known\n");
    assert_eq!(allowed.code, Some(0), "{allowed:?}");
    assert_eq!(allowed.stdout, ["known"]);
    assert_eq!(rep.line(), hex(b"known"));
    assert_eq!(rep.line(), "done");
}

for_each_driver!(
    push_to_libzmq_pull_with_binary_and_empty_frames,
    libzmq_push_to_pull_raw_and_hex,
    req_to_libzmq_rep,
    libzmq_req_to_rep,
    dealer_to_libzmq_router_shows_our_identity,
    libzmq_dealer_to_router_identity_visible_and_routed_back,
    pub_to_libzmq_sub_is_filtered,
    libzmq_pub_to_sub_is_filtered,
    heartbeats_with_libzmq,
    refused_handshake_as_client_is_an_error,
    incompatible_libzmq_peer_is_logged_and_others_served,
    perf_latency_against_libzmq_both_ways,
    perf_throughput_against_libzmq_both_ways,
    curve_server_with_libzmq_clients,
    curve_client_to_libzmq_server,
    curve_client_refused_by_libzmq_zap,
);
