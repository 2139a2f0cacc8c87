//! CURVE in the `zmtp` binary: `zmtp keygen`, `zmtp cat` as CURVE server and client against
//! itself (keys beginning with `-`, refusals), and the security options' usage errors. The
//! CURVE tests against libzmq are in `tests/interop.rs`.

mod support;

use rand::RngCore;
use support::{run_zmtp, run_zmtp_on, Finished, Proc};
use zmtp_proto::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

/// A key pair as Z85 text.
struct Keys {
    public: String,
    secret: String,
}

/// A fresh key pair from `zmtp keygen`, checking its output's shape on the way.
fn keygen() -> Keys {
    let out = run_zmtp(&["keygen"], b"");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let lines = &out.stdout;
    assert_eq!(lines.len(), 5, "{out:?}");
    assert_eq!(lines[0], "== CURVE PUBLIC KEY ==");
    assert_eq!(lines[2], "");
    assert_eq!(lines[3], "== CURVE SECRET KEY ==");
    assert_eq!(lines[1].len(), 40, "{out:?}");
    assert_eq!(lines[4].len(), 40, "{out:?}");
    Keys {
        public: lines[1].clone(),
        secret: lines[4].clone(),
    }
}

/// A key pair whose secret key begins with `secret_prefix` (`-` or `--`) and whose public key
/// begins with `-`. Z85 maps each 4 bytes to 5 characters, big-endian, so fixing the first
/// bytes of the secret fixes its first characters; the public key is tried until it fits.
fn keys_beginning_with_dash(secret_prefix: &str) -> Keys {
    // 0xC5000000 / 85^4 = 63 ('-'); 0xC6540000 also has 63 as its second digit.
    let head: [u8; 2] = match secret_prefix {
        "-" => [0xC5, 0x00],
        "--" => [0xC6, 0x54],
        other => panic!("unsupported prefix {other:?}"),
    };
    for _ in 0..100_000 {
        let mut bytes = [0; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes[..2].copy_from_slice(&head);
        let pair = CurveKeyPair::from_secret(CurveSecretKey::from_bytes(bytes));
        let public = pair.public().to_z85();
        if public.starts_with('-') {
            let secret = pair.secret().expose_z85().to_string();
            assert!(secret.starts_with(secret_prefix), "{secret}");
            return Keys { public, secret };
        }
    }
    panic!("no public key beginning with '-' in 100000 tries");
}

/// `zmtp keygen` prints two 40-character Z85 keys, public then secret, under libzmq's
/// `curve_keygen` labels; the public key is the one the secret key derives, and every run
/// makes a new pair.
#[test]
fn keygen_prints_a_fresh_pair_under_curve_keygen_labels() {
    let a = keygen();
    let b = keygen();
    for keys in [&a, &b] {
        let public = CurvePublicKey::from_z85(&keys.public).expect("public key is Z85");
        let secret = CurveSecretKey::from_z85(&keys.secret).expect("secret key is Z85");
        assert_eq!(secret.public_key(), public);
        assert_ne!(keys.public, keys.secret);
    }
    assert_ne!(a.public, b.public);
    assert_ne!(a.secret, b.secret);
}

/// A CURVE REP server (explicit `--mechanism curve`, an allow list) and a CURVE REQ client
/// (mechanism chosen by its options, public key given and checked) exchange two messages.
fn curve_round_trip_between_two_processes(d: &str) {
    let server = keygen();
    let client = keygen();
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "2",
            "--mechanism",
            "curve",
            "--curve-server",
            "--curve-secret-key",
            &server.secret,
            "--allow-curve",
            &client.public,
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    // The server names its public key (derived from the secret) before it binds.
    assert_eq!(
        rep.stderr_after("zmtp: CURVE server public key: "),
        server.public
    );
    let ep = rep.bound();
    let req = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--connect",
            &ep,
            "--curve-server-key",
            &server.public,
            "--curve-secret-key",
            &client.secret,
            "--curve-public-key",
            &client.public,
            "--timeout",
            "10000",
        ],
        b"first\tframes\nsecond\n",
    );
    assert_eq!(req.code, Some(0), "{req:?}");
    assert_eq!(req.stdout, ["first\tframes", "second"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["first\tframes", "second"]);
    for out in [&req, &rep] {
        for secret in [&server.secret, &client.secret] {
            assert!(
                out.stderr.iter().all(|l| !l.contains(secret.as_str())),
                "a secret key on stderr: {out:?}"
            );
        }
    }
}

/// Keys that begin with `-` or `--` pass as `--opt=KEY` and as `--opt KEY`, for every key
/// option, and the handshake then succeeds (so they were read as the keys, not as options).
fn keys_beginning_with_a_dash_in_both_forms(d: &str) {
    let server = keys_beginning_with_dash("--");
    let client = keys_beginning_with_dash("-");
    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "-n",
            "1",
            "--curve-server",
            &format!("--curve-secret-key={}", server.secret),
            "--curve-public-key",
            &server.public,
            "--allow-curve",
            &client.public,
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = pull.bound();
    let push = run_zmtp_on(
        d,
        &[
            "cat",
            "push",
            "--connect",
            &ep,
            &format!("--curve-server-key={}", server.public),
            "--curve-secret-key",
            &client.secret,
            &format!("--curve-public-key={}", client.public),
        ],
        b"dashing\n",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["dashing"]);

    // The other way round: the space form for the server's secret and the allow list entry
    // as --allow-curve=KEY, the client's server key after a space.
    let server = keys_beginning_with_dash("-");
    let client = keys_beginning_with_dash("--");
    let pull = Proc::zmtp_on(
        d,
        &[
            "cat",
            "pull",
            "-n",
            "1",
            "--curve-server",
            "--curve-secret-key",
            &server.secret,
            &format!("--curve-public-key={}", server.public),
            &format!("--allow-curve={}", client.public),
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let ep = pull.bound();
    let push = run_zmtp_on(
        d,
        &[
            "cat",
            "push",
            "--connect",
            &ep,
            "--curve-server-key",
            &server.public,
            &format!("--curve-secret-key={}", client.secret),
        ],
        b"dashing back\n",
    );
    assert_eq!(push.code, Some(0), "{push:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["dashing back"]);
}

/// A CURVE server of type `ty` (with `extra` options) that allows only `allowed`, serves one
/// message and exits.
fn allow_list_server(d: &str, ty: &str, extra: &[&str], server: &Keys, allowed: &Keys) -> Proc {
    let mut args = vec!["cat", ty];
    args.extend_from_slice(extra);
    args.extend([
        "-n",
        "1",
        "--curve-server",
        "--curve-secret-key",
        &server.secret,
        "--allow-curve",
        &allowed.public,
        "--bind",
        "tcp://127.0.0.1:*",
    ]);
    Proc::zmtp_on(d, &args)
}

/// A CURVE client of type `ty` to `ep` (whose server is `server`) as `keys`, fed `input`.
fn curve_client(d: &str, ty: &str, ep: &str, server: &Keys, keys: &Keys, input: &[u8]) -> Finished {
    run_zmtp_on(
        d,
        &[
            "cat",
            ty,
            "--connect",
            ep,
            "--curve-server-key",
            &server.public,
            "--curve-secret-key",
            &keys.secret,
            "--timeout",
            "10000",
        ],
        input,
    )
}

/// A client whose key is not on the server's allow list gets ERROR 400 and exits 1 with one
/// `error:` line; the server logs the refusal, naming the client's key, and goes on to serve
/// an allowed client.
fn refused_client_exits_1_and_the_server_keeps_serving(d: &str) {
    let (server, allowed, stranger) = (keygen(), keygen(), keygen());
    let rep = allow_list_server(d, "rep", &["--echo"], &server, &allowed);
    let ep = rep.bound();
    let refused = curve_client(d, "req", &ep, &server, &stranger, b"let me in\n");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let line = refused.error_line();
    assert!(
        line.contains(&ep) && line.contains("refused") && line.contains("400"),
        "{refused:?}"
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    let log = rep.stderr_after("zmtp: handshake with");
    assert!(
        log.contains("not allowed") && log.contains(&stranger.public),
        "{log}"
    );

    let welcome = curve_client(d, "req", &ep, &server, &allowed, b"hello again\n");
    assert_eq!(welcome.code, Some(0), "{welcome:?}");
    assert_eq!(welcome.stdout, ["hello again"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["hello again"]);
}

/// A send-only client (push) whose handshake is refused while its message waits in the queue
/// exits 1 too, instead of exiting 0 once the close is done.
fn refused_push_exits_1(d: &str) {
    let (server, allowed, stranger) = (keygen(), keygen(), keygen());
    let pull = allow_list_server(d, "pull", &[], &server, &allowed);
    let ep = pull.bound();
    let refused = curve_client(d, "push", &ep, &server, &stranger, b"dropped\n");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let line = refused.error_line();
    assert!(line.contains(&ep) && line.contains("400"), "{refused:?}");
    let delivered = curve_client(d, "push", &ep, &server, &allowed, b"delivered\n");
    assert_eq!(delivered.code, Some(0), "{delivered:?}");
    let pull = pull.finish();
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert_eq!(pull.stdout, ["delivered"]);
}

/// A CURVE server lets in any client that knows its key when there is no `--allow-curve`
/// (libzmq without ZAP), saying so on stderr; a client with the wrong server key cannot open
/// the handshake: the server logs it, the client (a REQ, which waits for its reply) notes it
/// once with a hint and keeps redialling until `--timeout`.
fn no_allow_list_and_wrong_server_key(d: &str) {
    let server = keygen();
    let other = keygen();
    let client = keygen();
    let rep = Proc::zmtp_on(
        d,
        &[
            "cat",
            "rep",
            "--echo",
            "-n",
            "1",
            "--curve-server",
            "--curve-secret-key",
            &server.secret,
            "--bind",
            "tcp://127.0.0.1:*",
        ],
    );
    let note = rep.stderr_after("zmtp: CURVE server with no --allow-curve");
    assert!(note.contains("any client"), "{note}");
    let ep = rep.bound();
    let wrong = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--connect",
            &ep,
            "--curve-server-key",
            &other.public,
            "--curve-secret-key",
            &client.secret,
            "--timeout",
            "1000",
        ],
        b"never arrives\n",
    );
    assert_eq!(wrong.code, Some(3), "{wrong:?}");
    let notes: Vec<&String> = wrong
        .stderr
        .iter()
        .filter(|l| l.starts_with("zmtp: handshake with"))
        .collect();
    assert_eq!(notes.len(), 1, "{wrong:?}");
    assert!(notes[0].contains("--curve-server-key"), "{notes:?}");
    let log = rep.stderr_after("zmtp: handshake with");
    assert!(log.contains("HELLO box does not open"), "{log}");

    let right = run_zmtp_on(
        d,
        &[
            "cat",
            "req",
            "--connect",
            &ep,
            "--curve-server-key",
            &server.public,
            "--curve-secret-key",
            &client.secret,
        ],
        b"anyone with the key\n",
    );
    assert_eq!(right.code, Some(0), "{right:?}");
    assert_eq!(right.stdout, ["anyone with the key"]);
    let rep = rep.finish();
    assert_eq!(rep.code, Some(0), "{rep:?}");
    assert_eq!(rep.stdout, ["anyone with the key"]);
}

/// Contradictory or incomplete security options, and invalid keys, are errors: exit 1, one
/// `error:` line naming the options at fault, nothing on stdout, and no secret key echoed.
#[test]
fn curve_usage_errors() {
    let server = keygen();
    let client = keygen();
    let ep = "tcp://127.0.0.1:1";
    let (sp, ss, cp, cs) = (
        server.public.as_str(),
        server.secret.as_str(),
        client.public.as_str(),
        client.secret.as_str(),
    );
    let bad_secret = format!("~{}", &cs[1..]);
    let ss_eq = format!("--curve-secret-key={ss}");
    let cs_eq = format!("--curve-secret-key={cs}");
    let sp_eq = format!("--curve-server-key={sp}");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["cat", "pull", "--connect", ep, "--mechanism", "curve"],
            vec!["CURVE needs a role", "--curve-server", "--curve-server-key"],
        ),
        // Reported before the missing endpoint.
        (
            vec!["cat", "pull", "--mechanism=curve"],
            vec!["CURVE needs a role"],
        ),
        (
            vec!["cat", "pull", "--connect", ep, "--curve-secret-key", ss],
            vec!["CURVE needs a role"],
        ),
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--mechanism=null",
                "--curve-server",
                &ss_eq,
            ],
            vec!["--mechanism null", "--curve-server", "--mechanism curve"],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                "--mechanism",
                "plain",
                &sp_eq,
                &cs_eq,
            ],
            vec!["--mechanism plain", "--curve-server-key"],
        ),
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--mechanism",
                "curve",
                "--plain-server",
            ],
            vec!["--mechanism curve", "--plain-server"],
        ),
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--plain-server",
                "--curve-server",
                &ss_eq,
            ],
            vec![
                "--plain-server",
                "--curve-server",
                "cannot be used together",
            ],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                "--plain-user=a",
                "--plain-password=b",
                &sp_eq,
                &cs_eq,
            ],
            vec![
                "--plain-user",
                "--curve-server-key",
                "cannot be used together",
            ],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                "--curve-server",
                &sp_eq,
                &ss_eq,
            ],
            vec![
                "--curve-server",
                "--curve-server-key",
                "cannot be used together",
            ],
        ),
        // A client without its own key pair: libzmq requires one too.
        (
            vec!["cat", "req", "--connect", ep, &sp_eq],
            vec!["CURVE client", "--curve-secret-key", "zmtp keygen"],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                &sp_eq,
                "--curve-public-key",
                cp,
            ],
            vec!["CURVE client", "--curve-secret-key"],
        ),
        (
            vec!["cat", "pull", "--bind", ep, "--curve-server"],
            vec!["CURVE server", "--curve-secret-key"],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                &sp_eq,
                &cs_eq,
                "--allow-curve",
                sp,
            ],
            vec!["--allow-curve", "--curve-server"],
        ),
        // Invalid keys: the error names the option.
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                "--curve-server-key",
                "short",
                &cs_eq,
            ],
            vec!["--curve-server-key", "40 characters"],
        ),
        (
            vec![
                "cat",
                "req",
                "--connect",
                ep,
                &sp_eq,
                "--curve-secret-key",
                &bad_secret,
            ],
            vec!["--curve-secret-key", "Z85"],
        ),
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--curve-server",
                &ss_eq,
                "--allow-curve",
                cp,
                "--allow-curve",
                &bad_secret,
            ],
            vec!["--allow-curve (number 2)", "Z85"],
        ),
        // A public key that is not the secret key's: the error gives the right one.
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--curve-server",
                &ss_eq,
                "--curve-public-key",
                cp,
            ],
            vec!["--curve-public-key", "does not belong", sp],
        ),
        // The secret key given where the public key goes (a likely slip): not echoed.
        (
            vec![
                "cat",
                "pull",
                "--bind",
                ep,
                "--curve-server",
                &ss_eq,
                "--curve-public-key",
                cs,
            ],
            vec!["--curve-public-key", "does not belong"],
        ),
    ];
    for (args, words) in &cases {
        let out = run_zmtp(args, b"");
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        let line = out.error_line();
        for w in words {
            assert!(line.contains(w), "{args:?}: {w:?} not in {line:?}");
        }
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        for secret in [ss, cs, bad_secret.as_str()] {
            assert!(
                out.stderr.iter().all(|l| !l.contains(secret)),
                "{args:?}: a secret key on stderr: {out:?}"
            );
        }
    }
}

for_each_driver!(
    curve_round_trip_between_two_processes,
    keys_beginning_with_a_dash_in_both_forms,
    refused_client_exits_1_and_the_server_keeps_serving,
    refused_push_exits_1,
    no_allow_list_and_wrong_server_key,
);
