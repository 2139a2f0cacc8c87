//! A soak: mixed traffic on one driver for a while, a peer restarted every few seconds, with
//! throughput and RSS sampled every second (`scripts/soak.py` runs it once per driver).
//!
//! ```text
//! soak tokio|compio [--seconds N] [--restart-ms N]
//! ```
//!
//! One process, one thread, one runtime of the chosen driver, four patterns side by side over
//! TCP on 127.0.0.1. In each, the bound side lives for the whole run and the connecting side is
//! closed and made again every `--restart-ms` (the four staggered, so a peer restarts every
//! quarter of that):
//!
//! - PUSH → PULL: each PUSH incarnation sends numbered messages, 100 at a time with a 1 ms
//!   pause, then closes (linger: forever). Every message of every incarnation must arrive
//!   once, in order.
//! - REQ → REP: each REQ sends numbered requests, one at a time; each reply must be its request.
//! - PUB → SUB: the PUB publishes numbered messages (100 per ms at most) the whole run; each SUB
//!   incarnation subscribes to everything and to a topic of its own (trie churn). A SUB may miss
//!   messages (while it connects, or at the high-water mark: PUB/SUB drops by design) but what it
//!   gets must be increasing: gaps are counted as drops, duplicates or reordering as errors.
//! - DEALER → ROUTER (echo): each DEALER incarnation has a routing id of its own (the ROUTER's
//!   table churns) and keeps 32 numbered requests in flight; before closing it waits for every
//!   reply. Every reply must come back once, in order.
//!
//! Prints one JSON line per second (`t` seconds since start, `rss_kb`, messages per pattern in
//! that second, restarts so far) and a last line with `"summary": true`: totals, losses (must be
//! 0), PUB/SUB drops (allowed) and the errors seen. Exits 1 if anything was lost or an error seen.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::{join_all, select, Either};
use zmtp_async::{Runtime, Socket};
use zmtp_proto::SocketOptions;
use zmtp_proto::{Msg, SocketType};

/// Counters shared by the loops and the sampler.
#[derive(Default)]
struct Stats {
    push_pull: Cell<u64>,
    req_rep: Cell<u64>,
    pub_sub: Cell<u64>,
    dealer_router: Cell<u64>,
    restarts: Cell<u64>,
    sub_drops: Cell<u64>,
    errors: RefCell<Vec<String>>,
}

impl Stats {
    fn error(&self, e: String) {
        let mut errors = self.errors.borrow_mut();
        if errors.len() < 50 {
            errors.push(e);
        }
    }
}

/// `f`, or `None` if `deadline` comes first.
async fn until<R: Runtime, F: Future>(deadline: Instant, f: F) -> Option<F::Output> {
    match select(pin!(f), R::sleep_until(deadline)).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

fn body(inc: u64, seq: u64) -> Msg {
    let mut b = vec![0u8; 64];
    b[..8].copy_from_slice(&inc.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    Msg::from(b)
}

fn parse(frame: &[u8]) -> Option<(u64, u64)> {
    if frame.len() < 16 {
        return None;
    }
    Some((
        u64::from_le_bytes(frame[..8].try_into().ok()?),
        u64::from_le_bytes(frame[8..16].try_into().ok()?),
    ))
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

struct Run {
    start: Instant,
    end: Instant,
    restart: Duration,
    stats: Stats,
}

impl Run {
    /// The end of this incarnation's life (or of the run).
    fn life(&self, offset: Duration) -> Instant {
        (Instant::now() + self.restart + offset).min(self.end)
    }
}

async fn push_pull<R: Runtime>(run: &Run) -> u64 {
    let pull = Socket::<R>::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").await.expect("bind pull");
    let sent: RefCell<HashMap<u64, u64>> = RefCell::default();
    let done = Cell::new(false);
    let sender = async {
        let mut inc = 0;
        // Stagger: the first incarnation lives a quarter of the period longer than the rest.
        let mut offset = Duration::ZERO;
        while Instant::now() < run.end {
            inc += 1;
            let push = Socket::<R>::new(SocketType::Push);
            push.connect(&ep).await.expect("connect push");
            let life = run.life(offset);
            offset = Duration::ZERO;
            let mut seq = 0;
            'life: while Instant::now() < life {
                for _ in 0..100 {
                    if let Err(e) = push.send(body(inc, seq)).await {
                        run.stats.error(format!("push send: {e}"));
                        break 'life;
                    }
                    seq += 1;
                }
                R::sleep_until(Instant::now() + Duration::from_millis(1)).await;
            }
            sent.borrow_mut().insert(inc, seq);
            push.close().await;
            run.stats.restarts.set(run.stats.restarts.get() + 1);
        }
        done.set(true);
    };
    let receiver = async {
        let mut next: HashMap<u64, u64> = HashMap::new();
        let mut received = 0u64;
        loop {
            let total: u64 = sent.borrow().values().sum();
            if done.get() && received >= total {
                break;
            }
            let Some(msg) =
                until::<R, _>(Instant::now() + Duration::from_millis(200), pull.recv()).await
            else {
                if Instant::now() > run.end + Duration::from_secs(30) {
                    break;
                }
                continue;
            };
            let Ok(msg) = msg else { break };
            let Some((inc, seq)) = parse(&msg[0]) else {
                run.stats.error("pull: short message".into());
                continue;
            };
            let expected = next.entry(inc).or_insert(0);
            if seq != *expected {
                run.stats.error(format!(
                    "pull: incarnation {inc}: got {seq}, expected {expected}"
                ));
            }
            *expected = seq + 1;
            received += 1;
            run.stats.push_pull.set(run.stats.push_pull.get() + 1);
        }
        received
    };
    let (_, received) = futures_util::future::join(sender, receiver).await;
    pull.close().await;
    let total: u64 = sent.borrow().values().sum();
    total.saturating_sub(received)
}

async fn req_rep<R: Runtime>(run: &Run) -> u64 {
    let rep = Socket::<R>::new(SocketType::Rep);
    let ep = rep.bind("tcp://127.0.0.1:0").await.expect("bind rep");
    let done = Cell::new(false);
    let mut lost = 0;
    let server = async {
        while !done.get() {
            let Some(Ok(msg)) =
                until::<R, _>(Instant::now() + Duration::from_millis(200), rep.recv()).await
            else {
                continue;
            };
            if let Err(e) = rep.send(msg).await {
                run.stats.error(format!("rep send: {e}"));
            }
        }
    };
    let client = async {
        let mut inc = 0;
        let mut offset = run.restart / 4;
        while Instant::now() < run.end {
            inc += 1;
            let req = Socket::<R>::new(SocketType::Req);
            req.connect(&ep).await.expect("connect req");
            let life = run.life(offset);
            offset = Duration::ZERO;
            let mut seq = 0;
            while Instant::now() < life {
                let request = body(inc, seq);
                if let Err(e) = req.send(request.clone()).await {
                    run.stats.error(format!("req send: {e}"));
                    break;
                }
                match until::<R, _>(Instant::now() + Duration::from_secs(5), req.recv()).await {
                    Some(Ok(reply)) if reply[0] == request[0] => {
                        run.stats.req_rep.set(run.stats.req_rep.get() + 1);
                    }
                    Some(Ok(_)) => run.stats.error(format!("req {inc}: wrong reply to {seq}")),
                    Some(Err(e)) => run.stats.error(format!("req recv: {e}")),
                    None => {
                        lost += 1;
                        run.stats
                            .error(format!("req {inc}: no reply to {seq} in 5 s"));
                        break;
                    }
                }
                seq += 1;
            }
            req.close().await;
            run.stats.restarts.set(run.stats.restarts.get() + 1);
        }
        done.set(true);
    };
    futures_util::future::join(server, client).await;
    rep.close().await;
    lost
}

async fn pub_sub<R: Runtime>(run: &Run) {
    let publisher = Socket::<R>::new(SocketType::Pub);
    let ep = publisher.bind("tcp://127.0.0.1:0").await.expect("bind pub");
    let done = Cell::new(false);
    let sender = async {
        let mut seq = 0;
        while !done.get() {
            for _ in 0..100 {
                if let Err(e) = publisher.send(body(0, seq)).await {
                    run.stats.error(format!("pub send: {e}"));
                }
                seq += 1;
            }
            R::sleep_until(Instant::now() + Duration::from_millis(1)).await;
        }
    };
    let subscriber = async {
        let mut inc = 0u64;
        let mut offset = run.restart / 2;
        while Instant::now() < run.end {
            inc += 1;
            let sub = Socket::<R>::new(SocketType::Sub);
            sub.connect(&ep).await.expect("connect sub");
            sub.subscribe(b"").await.expect("subscribe");
            sub.subscribe(format!("incarnation {inc}"))
                .await
                .expect("subscribe");
            let life = run.life(offset);
            offset = Duration::ZERO;
            let mut last: Option<u64> = None;
            while let Some(msg) = until::<R, _>(life, sub.recv()).await {
                let Ok(msg) = msg else { break };
                let Some((_, seq)) = parse(&msg[0]) else {
                    run.stats.error("sub: short message".into());
                    continue;
                };
                if let Some(last) = last {
                    if seq <= last {
                        run.stats.error(format!(
                            "sub {inc}: got {seq} after {last} (duplicate or reordered)"
                        ));
                    } else {
                        run.stats
                            .sub_drops
                            .set(run.stats.sub_drops.get() + (seq - last - 1));
                    }
                }
                last = Some(seq);
                run.stats.pub_sub.set(run.stats.pub_sub.get() + 1);
            }
            sub.close().await;
            run.stats.restarts.set(run.stats.restarts.get() + 1);
        }
        done.set(true);
    };
    futures_util::future::join(sender, subscriber).await;
    publisher.close().await;
}

async fn dealer_router<R: Runtime>(run: &Run) -> u64 {
    let router = Socket::<R>::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:0").await.expect("bind router");
    let done = Cell::new(false);
    let mut lost = 0;
    let server = async {
        while !done.get() {
            let Some(Ok(msg)) =
                until::<R, _>(Instant::now() + Duration::from_millis(200), router.recv()).await
            else {
                continue;
            };
            if let Err(e) = router.send(msg).await {
                run.stats.error(format!("router send: {e}"));
            }
        }
    };
    let client = async {
        let mut inc = 0;
        let mut offset = run.restart * 3 / 4;
        while Instant::now() < run.end {
            inc += 1;
            let mut options = SocketOptions::default();
            options.connection.routing_id = format!("dealer {inc}").into_bytes().into();
            let dealer = Socket::<R>::with_options(SocketType::Dealer, options);
            dealer.connect(&ep).await.expect("connect dealer");
            let life = run.life(offset);
            offset = Duration::ZERO;
            let (mut sent, mut next) = (0u64, 0u64);
            for _ in 0..32 {
                dealer.send(body(inc, sent)).await.expect("dealer send");
                sent += 1;
            }
            while next < sent {
                let Some(reply) =
                    until::<R, _>(Instant::now() + Duration::from_secs(5), dealer.recv()).await
                else {
                    lost += sent - next;
                    run.stats.error(format!(
                        "dealer {inc}: {} replies missing after 5 s",
                        sent - next
                    ));
                    break;
                };
                let Ok(reply) = reply else { break };
                match parse(&reply[0]) {
                    Some((i, seq)) if i == inc && seq == next => {}
                    other => run
                        .stats
                        .error(format!("dealer {inc}: got {other:?}, expected {next}")),
                }
                next += 1;
                run.stats
                    .dealer_router
                    .set(run.stats.dealer_router.get() + 1);
                if Instant::now() < life {
                    if let Err(e) = dealer.send(body(inc, sent)).await {
                        run.stats.error(format!("dealer send: {e}"));
                        break;
                    }
                    sent += 1;
                }
            }
            dealer.close().await;
            run.stats.restarts.set(run.stats.restarts.get() + 1);
        }
        done.set(true);
    };
    futures_util::future::join(server, client).await;
    router.close().await;
    lost
}

async fn sampler<R: Runtime>(run: &Run, finished: &Cell<bool>) {
    let s = &run.stats;
    let mut last = [0u64; 4];
    let mut tick = run.start;
    let mut out = std::io::stdout();
    while !finished.get() {
        tick += Duration::from_secs(1);
        R::sleep_until(tick).await;
        let now = [
            s.push_pull.get(),
            s.req_rep.get(),
            s.pub_sub.get(),
            s.dealer_router.get(),
        ];
        let d: Vec<u64> = now.iter().zip(last).map(|(n, l)| n - l).collect();
        last = now;
        let _ = writeln!(
            out,
            "{{\"t\":{:.3},\"rss_kb\":{},\"push_pull\":{},\"req_rep\":{},\"pub_sub\":{},\"dealer_router\":{},\"msgs\":{},\"restarts\":{}}}",
            run.start.elapsed().as_secs_f64(),
            rss_kb(),
            d[0],
            d[1],
            d[2],
            d[3],
            d.iter().sum::<u64>(),
            s.restarts.get()
        );
        let _ = out.flush();
    }
}

fn soak<R: Runtime>(seconds: u64, restart: Duration) -> std::io::Result<bool> {
    R::block_on(async {
        let start = Instant::now();
        let run = Rc::new(Run {
            start,
            end: start + Duration::from_secs(seconds),
            restart,
            stats: Stats::default(),
        });
        let finished = Cell::new(false);
        let work = async {
            let out = join_all::<Vec<Pin<Box<dyn Future<Output = u64>>>>>(vec![
                Box::pin(push_pull::<R>(&run)),
                Box::pin(req_rep::<R>(&run)),
                Box::pin(async {
                    pub_sub::<R>(&run).await;
                    0
                }),
                Box::pin(dealer_router::<R>(&run)),
            ])
            .await;
            finished.set(true);
            out
        };
        let (lost, ()) = futures_util::future::join(work, sampler::<R>(&run, &finished)).await;
        let s = &run.stats;
        let errors = s.errors.borrow();
        let pass = lost.iter().all(|&l| l == 0) && errors.is_empty();
        println!(
            "{{\"summary\":true,\"driver\":\"{}\",\"seconds\":{:.1},\"push_pull\":{},\"req_rep\":{},\"pub_sub\":{},\"dealer_router\":{},\"restarts\":{},\"lost_push_pull\":{},\"lost_req_rep\":{},\"lost_dealer_router\":{},\"sub_drops\":{},\"errors\":{:?},\"pass\":{}}}",
            R::NAME,
            start.elapsed().as_secs_f64(),
            s.push_pull.get(),
            s.req_rep.get(),
            s.pub_sub.get(),
            s.dealer_router.get(),
            s.restarts.get(),
            lost[0],
            lost[1],
            lost[3],
            s.sub_drops.get(),
            *errors,
            pass
        );
        pass
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 600;
    let mut restart = Duration::from_secs(4);
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), v) {
            ("--seconds", Some(v)) => seconds = v,
            ("--restart-ms", Some(v)) => restart = Duration::from_millis(v),
            _ => {
                eprintln!("usage: soak tokio|compio [--seconds N] [--restart-ms N]");
                return ExitCode::from(2);
            }
        }
    }
    let result = match args.first().map(String::as_str) {
        Some("tokio") => soak::<driver_tokio::Tokio>(seconds, restart),
        Some("compio") => soak::<driver_compio::Compio>(seconds, restart),
        _ => {
            eprintln!("usage: soak tokio|compio [--seconds N] [--restart-ms N]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}
