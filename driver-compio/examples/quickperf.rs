//! Loopback latency and throughput in one process, both ends on one compio runtime (one
//! thread), next to the raw floor over plain compio TCP streams.
//!
//! `cargo run --release -p driver-compio --example quickperf`
//!
//! `QP=raw|lat|16|1024|65536` runs one scenario only (for profiling); `QN=count` overrides the
//! message count of the throughput scenarios.

use std::io;
use std::time::{Duration, Instant};

use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use driver_compio::{Socket, SocketType};
use futures_util::future::join;

const ROUND_TRIPS: u32 = 20_000;

fn main() -> io::Result<()> {
    let only = std::env::var("QP").ok();
    let runtime = compio::runtime::Runtime::new()?;
    let selected = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if selected("raw") {
        let rtt = runtime.block_on(raw_round_trip())?;
        println!("raw compio tcp 16 B round trip: {rtt:?}");
    }
    if selected("lat") {
        let rtt = runtime.block_on(req_rep_round_trip())?;
        println!("req/rep 16 B round trip: {rtt:?}");
    }
    for size in [16, 1024, 65536] {
        if selected(&size.to_string()) {
            let count = std::env::var("QN")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(if size == 65536 { 20_000 } else { 1_000_000 });
            let per_sec = runtime.block_on(push_pull_rate(size, count))?;
            println!(
                "push/pull {size} B: {:.2} M msg/s, {:.2} GB/s",
                per_sec / 1e6,
                per_sec * size as f64 / 1e9
            );
        }
    }
    Ok(())
}

/// The floor: one task writes 18 bytes (a 16 B ZMTP frame with its header) one way and back
/// over two connected compio TCP streams.
async fn raw_round_trip() -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (client, accepted) = join(TcpStream::connect(addr), listener.accept()).await;
    let (mut client, mut server) = (client?, accepted?.0);
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(18);
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        client.write_all([0u8; 18]).await.0?;
        buf.clear();
        let compio::BufResult(read, request) = server.read_exact(buf).await;
        read?;
        let compio::BufResult(written, mut reply) = server.write_all(request).await;
        written?;
        reply.clear();
        let compio::BufResult(read, echoed) = client.read_exact(reply).await;
        read?;
        buf = echoed;
    }
    Ok(start.elapsed() / ROUND_TRIPS)
}

/// REQ/REP echo of 16 B messages; both sockets on this thread.
async fn req_rep_round_trip() -> io::Result<Duration> {
    let rep = Socket::new(SocketType::Rep);
    let req = Socket::new(SocketType::Req);
    req.connect(&rep.bind("tcp://127.0.0.1:*").await?).await?;
    let echo = async {
        for _ in 0..ROUND_TRIPS {
            let request = rep.recv().await?;
            rep.send(request).await?;
        }
        io::Result::Ok(())
    };
    let ask = async {
        // The first round trip includes the handshake: leave it out.
        req.send([0u8; 16].to_vec()).await?;
        req.recv().await?;
        let start = Instant::now();
        for _ in 1..ROUND_TRIPS {
            req.send([0u8; 16].to_vec()).await?;
            req.recv().await?;
        }
        io::Result::Ok(start.elapsed() / (ROUND_TRIPS - 1))
    };
    let (echoed, rtt) = join(echo, ask).await;
    echoed?;
    rtt
}

/// Messages per second from PUSH to PULL, with plain `send().await` (each send copies the
/// payload once, as `zmq_send` does).
async fn push_pull_rate(size: usize, count: usize) -> io::Result<f64> {
    let pull = Socket::new(SocketType::Pull);
    let push = Socket::new(SocketType::Push);
    push.connect(&pull.bind("tcp://127.0.0.1:*").await?).await?;
    let payload = vec![7u8; size];
    let produce = async {
        for _ in 0..count {
            push.send(payload.clone()).await?;
        }
        io::Result::Ok(())
    };
    let consume = async {
        pull.recv().await?;
        let start = Instant::now();
        for _ in 1..count {
            pull.recv().await?;
        }
        io::Result::Ok(start.elapsed())
    };
    let (produced, elapsed) = join(produce, consume).await;
    produced?;
    Ok((count - 1) as f64 / elapsed?.as_secs_f64())
}
