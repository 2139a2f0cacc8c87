//! A Python (pyzmq, hence libzmq) peer process for the interop tests: availability check,
//! spawning, line-by-line stdout with a timeout, captured stderr, kill on drop.
#![allow(unreachable_pub, missing_docs)]
#![allow(dead_code, reason = "each interop test file uses a different part")]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Returns false (after saying why) when the interop tests should be skipped; panics when
/// python3 with pyzmq is missing and `MONOCOQUE_SKIP_INTEROP=1` was not set.
pub fn python_available() -> bool {
    let skip = std::env::var("MONOCOQUE_SKIP_INTEROP").is_ok_and(|v| v == "1");
    let probe = Command::new("python3")
        .args(["-c", "import zmq; print(zmq.zmq_version())"])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                skip,
                "python3 with pyzmq is required for the libzmq interop tests ({why}); \
                 install it (pip install pyzmq) or set MONOCOQUE_SKIP_INTEROP=1"
            );
            eprintln!("skipping libzmq interop: {why}");
            false
        }
    }
}

/// A running Python script; killed on drop if it is still running.
pub struct PyPeer {
    name: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl PyPeer {
    /// Starts `python3 script args...`.
    pub fn spawn(script: &str, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        // Lines must arrive while the child still runs (PORT lines), so read line by line.
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().expect("piped");
        thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        let name = script.rsplit('/').next().unwrap_or(script).to_owned();
        Self {
            name,
            child,
            stdout,
            stderr,
        }
    }

    /// What the script wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, within `timeout`.
    pub fn line(&self, timeout: Duration) -> String {
        self.stdout.recv_timeout(timeout).unwrap_or_else(|e| {
            panic!(
                "no output from {} ({e}); stderr: {}",
                self.name,
                self.stderr()
            )
        })
    }

    /// The exit status, if the script has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The script's file name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
