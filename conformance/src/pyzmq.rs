//! A libzmq peer run as a Python process (pyzmq, which bundles libzmq 4.3.5 with CURVE): the
//! `zmq` crate's static libzmq has no CURVE. The script (`conformance/py/`) plays a whole
//! scenario and reports through its standard output; the case waits for it without blocking
//! the driver under test (it polls, sleeping on the driver's runtime).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Driver;

/// How often a wait looks at the process again.
const POLL: Duration = Duration::from_millis(10);

/// A running `python3 conformance/py/<script>`; killed when dropped.
pub struct PyPeer {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl PyPeer {
    /// Starts `script` (a file in `conformance/py/`) with `args`. Panics if Python cannot run.
    pub fn spawn(script: &str, args: &[&str]) -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/py/").to_owned() + script;
        let mut child = Command::new("python3")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 {path}: {e} (scripts/test.sh installs pyzmq)")
            });
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            sink.lock().expect("stderr").push_str(&text);
        });
        Self {
            child,
            lines,
            stderr,
            what: format!("{script} {}", args.join(" ")),
        }
    }

    /// The rest of the next line that starts with `prefix` (earlier lines are skipped).
    pub async fn line<D: Driver>(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(TryRecvError::Disconnected) => {
                    self.fail::<D>(&format!("exited before {prefix:?}"))
                }
                Err(TryRecvError::Empty) if Instant::now() > deadline => {
                    self.fail::<D>(&format!("no {prefix:?} within {limit:?}"))
                }
                Err(TryRecvError::Empty) => D::sleep(POLL).await,
            }
        }
    }

    /// Waits for the scenario to print `OK` and exit with status 0.
    pub async fn passes<D: Driver>(&mut self, limit: Duration) {
        self.line::<D>("OK", limit).await;
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(status)) => self.fail::<D>(&format!("exited with {status}")),
                Ok(None) if Instant::now() > deadline => self.fail::<D>("did not exit"),
                Ok(None) => D::sleep(POLL).await,
                Err(e) => self.fail::<D>(&format!("wait: {e}")),
            }
        }
    }

    /// True once the process has exited (whatever its status).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the process and panics with `why` and what it wrote to its standard error.
    pub fn fail<D: Driver>(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the stderr reader finish.
        std::thread::sleep(Duration::from_millis(50));
        panic!(
            "{}: libzmq peer `{}` {why}; its stderr: {}",
            D::NAME,
            self.what,
            self.stderr.lock().expect("stderr")
        );
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
