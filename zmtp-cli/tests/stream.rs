//! `zmtp cat stream`: raw TCP peers (std::net clients) through a STREAM socket, with `--hex`
//! (routing id and data as hex fields) and without.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{hex, port_of, Proc};

fn stream_hex_routes_raw_bytes_and_closes(d: &str) {
    let mut cat = Proc::zmtp_on(
        d,
        &["cat", "stream", "--hex", "--bind", "tcp://127.0.0.1:*"],
    );
    let port = port_of(&cat.bound());
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The connection: the routing id and an empty data field.
    let hello = cat.line();
    let (id, empty) = hello.split_once('\t').expect("two fields");
    assert_eq!((id.len(), empty), (10, ""), "{hello:?}");
    // Binary data, newline included, arrives as one hex field.
    client.write_all(b"GET /\n\x00\xff").unwrap();
    assert_eq!(cat.line(), format!("{id}\t{}", hex(b"GET /\n\x00\xff")));
    // Written raw, then closed (an empty data field).
    cat.write(format!("{id}\t{}\n{id}\t\n", hex(b"200 OK\r\n")).as_bytes());
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"200 OK\r\n");
    // A second client that leaves: connection and disconnection lines.
    let other = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let line = cat.line();
    let (id2, empty) = line.split_once('\t').unwrap();
    assert!(empty.is_empty() && id2 != id, "{line:?}");
    drop(other);
    assert_eq!(cat.line(), format!("{id2}\t"));
    // An unknown routing id is reported, not fatal.
    cat.write(format!("{id}\t{}\n", hex(b"late")).as_bytes());
    cat.close_stdin();
    let done = cat.finish();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("no peer with routing id")),
        "{done:?}"
    );
}

fn stream_text_mode_and_identity_refused(d: &str) {
    let cat = Proc::zmtp_on(
        d,
        &["cat", "stream", "--bind", "tcp://127.0.0.1:*", "-n", "2"],
    );
    let port = port_of(&cat.bound());
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"plain text").unwrap();
    let hello = cat.line();
    let id = hello
        .strip_suffix('\t')
        .expect("connection line")
        .to_owned();
    assert_eq!(cat.line(), format!("{id}\tplain text"));
    let done = cat.finish();
    assert_eq!(done.code, Some(0), "{done:?}");
    let refused = support::run_zmtp_on(
        d,
        &[
            "cat",
            "stream",
            "--identity",
            "x",
            "--connect",
            "tcp://127.0.0.1:9",
        ],
        b"",
    );
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.error_line().contains("--identity"), "{refused:?}");
}

for_each_driver!(
    stream_hex_routes_raw_bytes_and_closes,
    stream_text_mode_and_identity_refused,
);
