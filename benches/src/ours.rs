//! Our drivers. `driver-tokio` and `driver-compio` have the same API, so one body, written
//! once as a macro, is instantiated for each with its runtime and sleep.

/// Defines `run` (and helpers) for one of our drivers.
macro_rules! driver_bench {
    (
        driver: $driver:ident,
        runtime: $runtime:path,
        sleep: $sleep:path $(,)?
    ) => {
        use std::io;
        use std::sync::Arc;
        use std::time::Instant;

        use futures_util::future::join;
        use $driver::{Socket, SocketOptions, SocketType};

        use crate::{
            is_warmup, payload, warmup_payload, FanOut, LossTimer, Measurement, Params, Scenario,
            SubscriberTally, WARMUP_INTERVAL, WARMUP_LIMIT,
        };

        /// Runs `scenario` with this driver.
        pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
            match scenario {
                Scenario::ReqRep => {
                    $runtime()?.block_on(round_trip(params, SocketType::Req, SocketType::Rep))
                }
                Scenario::DealerRouter => {
                    $runtime()?.block_on(round_trip(params, SocketType::Dealer, SocketType::Router))
                }
                Scenario::PushPull => push_pull(params),
                Scenario::PubSub => pub_sub(params),
            }
        }

        /// Both ends on this thread's runtime; the server echoes what it receives (for
        /// ROUTER, the identity frame routes the echo back).
        async fn round_trip(
            p: &Params,
            client: SocketType,
            server: SocketType,
        ) -> io::Result<Measurement> {
            let srv = Socket::new(server);
            let endpoint = srv.bind("tcp://127.0.0.1:*").await?;
            let cli = Socket::new(client);
            cli.connect(&endpoint).await?;
            let body = payload(p.size);
            let count = p.count;
            let serve = async {
                for _ in 0..=count {
                    let m = srv.recv().await?;
                    srv.send(m).await?;
                }
                io::Result::Ok(())
            };
            let drive = async {
                let mut start = Instant::now();
                for i in 0..=count {
                    if i == 1 {
                        start = Instant::now();
                    }
                    // The one copy from the caller's buffer: `send_slice`.
                    cli.send_slice(&body).await?;
                    std::hint::black_box(cli.recv().await?);
                }
                io::Result::Ok(start.elapsed())
            };
            let (s, c) = join(serve, drive).await;
            s?;
            Ok(Measurement {
                elapsed: c?,
                delivered: count,
            })
        }

        fn push_pull(p: &Params) -> io::Result<Measurement> {
            let rt = $runtime()?;
            let (pull, endpoint) = rt.block_on(async {
                let pull = Socket::new(SocketType::Pull);
                let ep = pull.bind("tcp://127.0.0.1:*").await?;
                io::Result::Ok((pull, ep))
            })?;
            let (size, count) = (p.size, p.count);
            let sender = std::thread::spawn(move || -> io::Result<()> {
                $runtime()?.block_on(async {
                    let push = Socket::new(SocketType::Push);
                    push.connect(&endpoint).await?;
                    let body = payload(size);
                    push.send(warmup_payload(size)).await?;
                    for _ in 0..count {
                        push.send_slice(&body).await?;
                    }
                    // Linger is infinite by default: close returns once all is written.
                    push.close().await;
                    Ok(())
                })
            });
            let elapsed = rt.block_on(async {
                while !is_warmup(&pull.recv().await?[0]) {}
                let start = Instant::now();
                for _ in 0..count {
                    std::hint::black_box(pull.recv().await?);
                }
                io::Result::Ok(start.elapsed())
            })?;
            sender
                .join()
                .map_err(|_| crate::io_err("sender panicked"))??;
            Ok(Measurement {
                elapsed,
                delivered: count,
            })
        }

        fn pub_sub(p: &Params) -> io::Result<Measurement> {
            let hwm = p.fanout_hwm() as usize;
            let rt = $runtime()?;
            let fan = FanOut::new();
            let (publisher, endpoint) = rt.block_on(async {
                let mut o = SocketOptions::default();
                o.sndhwm = hwm;
                let s = Socket::with_options(SocketType::Pub, o);
                let ep = s.bind("tcp://127.0.0.1:*").await?;
                io::Result::Ok((s, ep))
            })?;
            let mut subs = Vec::new();
            for _ in 0..p.subscribers {
                let (endpoint, fan, count) = (endpoint.clone(), Arc::clone(&fan), p.count);
                subs.push(std::thread::spawn(move || -> io::Result<()> {
                    $runtime()?.block_on(async {
                        let mut o = SocketOptions::default();
                        o.rcvhwm = hwm;
                        let sub = Socket::with_options(SocketType::Sub, o);
                        sub.subscribe(b"").await?;
                        sub.connect(&endpoint).await?;
                        let mut tally = SubscriberTally::default();
                        let mut loss = LossTimer::new($sleep);
                        while let Some(m) = loss.recv(sub.recv()).await {
                            if tally.on_message(&m?[0], &fan, count) {
                                break;
                            }
                        }
                        tally.finish(&fan);
                        Ok(())
                    })
                }));
            }
            let body = payload(p.size);
            rt.block_on(async {
                let deadline = Instant::now() + WARMUP_LIMIT;
                while fan.ready_count() < p.subscribers && Instant::now() < deadline {
                    publisher.send(warmup_payload(p.size)).await?;
                    $sleep(WARMUP_INTERVAL).await;
                }
                fan.mark_start();
                for _ in 0..p.count {
                    publisher.send_slice(&body).await?;
                }
                publisher.close().await;
                io::Result::Ok(())
            })?;
            for s in subs {
                s.join()
                    .map_err(|_| crate::io_err("subscriber panicked"))??;
            }
            Ok(fan.measurement())
        }
    };
}

/// Our tokio driver (`driver-tokio`), on current-thread runtimes.
pub mod tokio_driver {
    driver_bench! {
        driver: driver_tokio,
        runtime: crate::ours::tokio_runtime,
        sleep: tokio::time::sleep,
    }
}

/// Our compio driver (`driver-compio`, io_uring), one compio runtime per thread.
pub mod compio_driver {
    driver_bench! {
        driver: driver_compio,
        runtime: crate::compio_runtime,
        sleep: compio::time::sleep,
    }
}

/// A current-thread tokio runtime with I/O and timers.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
