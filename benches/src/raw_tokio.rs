//! The raw-TCP round-trip floor over tokio (epoll): the same framing as [`crate::raw`] with
//! tokio's `TcpStream` on one current-thread runtime, both ends driven in sequence from one
//! task. It shows what the runtime alone costs in a round trip: where the blocking floor
//! makes four syscalls (two writes, two reads), any epoll-based implementation also waits in
//! `epoll_wait` twice, because the reply is never there yet when the reader first looks.
//!
//! Streaming scenarios are not run: there the blocking floor already is the fair bound.

use std::io;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::raw::{decode_header, push_frame};
use crate::{payload, Measurement, Params, Scenario};

/// Runs `scenario` (round trips only) over tokio TCP.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    if !scenario.is_round_trip() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the tokio floor is a round-trip floor (the blocking floor bounds streaming)",
        ));
    }
    crate::ours::tokio_runtime()?.block_on(round_trip(params))
}

/// Reads from `s` into `buf` until one whole frame is there; returns its body's range and
/// drops the frame from `buf` on the next call (round trips have one frame in flight).
async fn next_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<(usize, usize)> {
    buf.clear();
    loop {
        if let Some((h, len)) = decode_header(buf) {
            if buf.len() >= h + len {
                return Ok((h, h + len));
            }
        }
        if s.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

async fn round_trip(p: &Params) -> io::Result<Measurement> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (mut client, (mut server, _)) = tokio::try_join!(
        TcpStream::connect(listener.local_addr()?),
        listener.accept()
    )?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let body = payload(p.size);
    let mut out = Vec::with_capacity(p.size + 9);
    let mut echo = Vec::with_capacity(p.size + 9);
    let mut server_in = Vec::with_capacity(64 * 1024);
    let mut client_in = Vec::with_capacity(64 * 1024);
    let mut start = Instant::now();
    for i in 0..=p.count {
        if i == 1 {
            start = Instant::now();
        }
        out.clear();
        push_frame(&mut out, &body);
        client.write_all(&out).await?;
        let (a, b) = next_frame(&mut server, &mut server_in).await?;
        echo.clear();
        push_frame(&mut echo, &server_in[a..b]);
        server.write_all(&echo).await?;
        let (a, b) = next_frame(&mut client, &mut client_in).await?;
        std::hint::black_box(&client_in[a..b]);
    }
    Ok(Measurement {
        elapsed: start.elapsed(),
        delivered: p.count,
    })
}
