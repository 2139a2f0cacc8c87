//! Loopback latency and throughput in one process, both ends on one current-thread runtime.
//!
//! `cargo run --release -p driver-tokio --example quickperf`

use std::time::Instant;

use driver_tokio::{Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // Round trip.
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

    for size in [16usize, 1024, 65536] {
        let pull = Socket::new(SocketType::Pull);
        let ep = pull.bind("tcp://127.0.0.1:*").await?;
        let push = Socket::new(SocketType::Push);
        push.connect(&ep).await?;
        let count = if size == 65536 { 20_000 } else { 1_000_000 };
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
