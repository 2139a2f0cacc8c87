//! Running the built `zmtp` binary and pyzmq peers with deadlines on everything.
//!
//! A [`Proc`] is a child process whose stdout and stderr are read line by line on threads of
//! their own, so a test can wait for a given line with a timeout; a child still running when
//! its [`Proc`] is dropped is killed. No wait in here is unbounded.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any single wait of a test may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// The `zmtp` binary under test.
pub(crate) fn zmtp_bin() -> &'static str {
    env!("CARGO_BIN_EXE_zmtp")
}

/// A path in the test's temporary directory (removed first if it exists).
pub(crate) fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zmtp-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A running child process.
pub(crate) struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stderr line seen so far (for failure messages).
    stderr_seen: Arc<Mutex<Vec<String>>>,
}

/// How a process ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub(crate) code: Option<i32>,
    /// Stdout lines not yet taken with [`Proc::line`].
    pub(crate) stdout: Vec<String>,
    /// Every stderr line.
    pub(crate) stderr: Vec<String>,
}

impl Finished {
    /// The one `error:` line, asserting that there is exactly one.
    pub(crate) fn error_line(&self) -> &str {
        let errors: Vec<&String> = self
            .stderr
            .iter()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one error: line, stderr: {:?}",
            self.stderr
        );
        errors[0]
    }
}

fn read_lines(
    input: impl Read + Send + 'static,
    seen: Option<Arc<Mutex<Vec<String>>>>,
) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(input);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if let Some(seen) = &seen {
                        seen.lock().unwrap().push(line.clone());
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

impl Proc {
    /// Starts `program` with `args`, all three standard streams piped.
    pub(crate) fn spawn(name: &str, program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stderr_seen = Arc::new(Mutex::new(Vec::new()));
        let stdout = read_lines(child.stdout.take().unwrap(), None);
        let stderr = read_lines(child.stderr.take().unwrap(), Some(stderr_seen.clone()));
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            stderr_seen,
        }
    }

    /// Starts the `zmtp` binary.
    pub(crate) fn zmtp(args: &[&str]) -> Self {
        Self::spawn(&format!("zmtp {}", args.join(" ")), zmtp_bin(), args)
    }

    /// Starts the `zmtp` binary with `--driver driver` added.
    pub(crate) fn zmtp_on(driver: &str, args: &[&str]) -> Self {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--driver", driver]);
        Self::zmtp(&all)
    }

    /// Starts a helper script of `tests/py` with python3.
    pub(crate) fn python(script: &str, args: &[&str]) -> Self {
        let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut all = vec!["-u", path.as_str()];
        all.extend_from_slice(args);
        Self::spawn(&format!("{script} {}", args.join(" ")), "python3", &all)
    }

    fn context(&self) -> String {
        format!(
            "{}: stderr so far: {:?}",
            self.name,
            self.stderr_seen.lock().unwrap()
        )
    }

    /// The next stdout line, within [`DEADLINE`].
    pub(crate) fn line(&self) -> String {
        match self.stdout.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no stdout line in time; {}", self.context()),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("stdout closed before the expected line; {}", self.context())
            }
        }
    }

    /// The next stdout line if one comes within `wait`.
    pub(crate) fn line_within(&self, wait: Duration) -> Option<String> {
        self.stdout.recv_timeout(wait).ok()
    }

    /// Waits for a stderr line starting with `prefix` and returns the rest of it.
    pub(crate) fn stderr_after(&self, prefix: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(_) => panic!(
                    "no stderr line starting with {prefix:?}; {}",
                    self.context()
                ),
            }
        }
    }

    /// The endpoint of the next `bound ...` line on stderr.
    pub(crate) fn bound(&self) -> String {
        self.stderr_after("bound ")
    }

    /// The endpoint of a python peer's `ready ...` line.
    pub(crate) fn ready(&self) -> String {
        let line = self.line();
        line.strip_prefix("ready ")
            .unwrap_or_else(|| panic!("expected 'ready', got {line:?}; {}", self.context()))
            .to_owned()
    }

    /// Writes to the child's stdin.
    pub(crate) fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes the child's stdin (EOF).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// True if the child has exited.
    pub(crate) fn has_exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits (within [`DEADLINE`]) for the child to exit and collects what is left.
    pub(crate) fn finish(mut self) -> Finished {
        self.close_stdin();
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit in time; {}", self.context());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader threads end at EOF, shortly after the exit.
        let stdout: Vec<String> = drain(&self.stdout);
        drain(&self.stderr);
        let stderr = self.stderr_seen.lock().unwrap().clone();
        Finished {
            code: status.code(),
            stdout,
            stderr,
        }
    }

    /// Kills the child (for peers that would otherwise run until their own timeout).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(rx: &Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    lines
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `zmtp` with `args` and `input` on stdin to completion (within [`DEADLINE`]).
pub(crate) fn run_zmtp(args: &[&str], input: &[u8]) -> Finished {
    let mut p = Proc::zmtp(args);
    if !input.is_empty() {
        p.write(input);
    }
    p.finish()
}

/// Runs `zmtp --driver driver` like [`run_zmtp`].
pub(crate) fn run_zmtp_on(driver: &str, args: &[&str], input: &[u8]) -> Finished {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--driver", driver]);
    run_zmtp(&all, input)
}

/// Defines `$name` as a module with one test per driver, each calling `$scenario(driver)`.
#[macro_export]
macro_rules! for_each_driver {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn tokio() {
                    super::$name("tokio");
                }

                #[test]
                fn compio() {
                    super::$name("compio");
                }
            }
        )*
    };
}

/// True if the pyzmq interop tests can run. Without python3 and pyzmq they fail, unless
/// `MONOCOQUE_SKIP_INTEROP=1` says to skip them.
pub(crate) fn interop_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import zmq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("MONOCOQUE_SKIP_INTEROP").as_deref() == Ok("1") {
        eprintln!("python3 with pyzmq not found: interop test skipped (MONOCOQUE_SKIP_INTEROP=1)");
        return false;
    }
    panic!(
        "python3 with pyzmq is required for the interop tests (pip install pyzmq); \
         set MONOCOQUE_SKIP_INTEROP=1 to skip them"
    );
}

/// Lower-case hex of `bytes`.
/// The port of a `tcp://HOST:PORT` endpoint.
pub(crate) fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
