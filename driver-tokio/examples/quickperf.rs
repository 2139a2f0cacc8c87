//! Loopback latency and throughput in one process, both ends on one current-thread runtime.
//!
//! `cargo run --release -p driver-tokio --example quickperf`

use std::time::Instant;

use driver_tokio::{Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // QP=lat|16|1024|65536 runs one scenario only (for profiling).
    let only = std::env::var("QP").ok();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wants("raw") {
        raw_latency().await?;
    }
    if wants("lat") {
        latency().await?;
    }
    if wants("latspawn") {
        tokio::spawn(latency()).await.unwrap()?;
    }
    for size in [16usize, 1024, 65536] {
        if wants(&size.to_string()) {
            throughput(size).await?;
        }
    }
    Ok(())
}

/// The floor: the same 16 B round trip over plain tokio TCP streams, one task.
async fn raw_latency() -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut a = tokio::net::TcpStream::connect(l.local_addr()?).await?;
    let (mut b, _) = l.accept().await?;
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    let n = 20_000;
    let mut buf = [0u8; 18];
    let t = Instant::now();
    for _ in 0..n {
        a.write_all(&[0u8; 18]).await?;
        b.read_exact(&mut buf).await?;
        b.write_all(&buf).await?;
        a.read_exact(&mut buf).await?;
    }
    println!("raw tcp 16 B round trip: {:?}", t.elapsed() / n);
    Ok(())
}

async fn latency() -> std::io::Result<()> {
    let rep = Socket::new(SocketType::Rep);
    let ep = rep.bind("tcp://127.0.0.1:*").await?;
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await?;
    let n = 20_000;
    let server = async {
        for _ in 0..n {
            let m = rep.recv().await?;
            rep.send(m).await?;
        }
        std::io::Result::Ok(())
    };
    let client = async {
        req.send(vec![0u8; 16]).await?;
        req.recv().await?;
        let t = Instant::now();
        for _ in 1..n {
            req.send(vec![0u8; 16]).await?;
            req.recv().await?;
        }
        std::io::Result::Ok(t.elapsed() / (n - 1))
    };
    let (s, c) = tokio::join!(server, client);
    s?;
    println!("req/rep 16 B round trip: {:?}", c?);
    Ok(())
}

async fn throughput(size: usize) -> std::io::Result<()> {
    {
        let pull = Socket::new(SocketType::Pull);
        let ep = pull.bind("tcp://127.0.0.1:*").await?;
        let push = Socket::new(SocketType::Push);
        push.connect(&ep).await?;
        let count: usize = std::env::var("QN")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(if size == 65536 { 20_000 } else { 1_000_000 });
        let payload = vec![7u8; size];
        let sender = async {
            for _ in 0..count {
                push.send(payload.clone()).await?;
            }
            std::io::Result::Ok(())
        };
        let receiver = async {
            pull.recv().await?;
            let t = Instant::now();
            for _ in 1..count {
                pull.recv().await?;
            }
            std::io::Result::Ok(t.elapsed())
        };
        let (s, r) = tokio::join!(sender, receiver);
        s?;
        let el = r?;
        let rate = (count - 1) as f64 / el.as_secs_f64();
        println!(
            "push/pull {size} B: {:.2} M msg/s, {:.2} GB/s",
            rate / 1e6,
            rate * size as f64 / 1e9
        );
    }
    Ok(())
}
