//! Standard input as an async source of lines, for any runtime.
//!
//! Reading a terminal or a pipe blocks, so a plain thread reads lines and hands them over
//! through a small bounded queue; the async side is woken through a [`Waker`]. The bound keeps
//! a large input file from being read into memory while the socket is at its high-water mark.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, BufRead};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// Lines read ahead of the application at most.
const READ_AHEAD: usize = 64;

/// Lines from standard input (the trailing `\n` removed).
pub(crate) struct Lines {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    space: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    /// Set once the reader is done: `Ok(())` at end of input, or the read error.
    end: Option<io::Result<()>>,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Lines {
    /// Starts reading standard input on a thread of its own.
    pub(crate) fn stdin() -> io::Result<Self> {
        Self::spawn(|| io::stdin().lock())
    }

    /// Starts reading the input that `open` returns on a thread of its own.
    pub(crate) fn spawn<R: BufRead>(open: impl FnOnce() -> R + Send + 'static) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            space: Condvar::new(),
        });
        let reader = shared.clone();
        std::thread::Builder::new()
            .name("zmtp-stdin".into())
            .spawn(move || read_all(open(), &reader))?;
        Ok(Self { shared })
    }

    /// The next line; `None` at end of input. Cancel safe: a line is taken only when returned.
    pub(crate) async fn next(&self) -> io::Result<Option<Vec<u8>>> {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if let Some(line) = state.queue.pop_front() {
                self.shared.space.notify_one();
                return Poll::Ready(Ok(Some(line)));
            }
            match &state.end {
                Some(Ok(())) => Poll::Ready(Ok(None)),
                Some(Err(e)) => Poll::Ready(Err(io::Error::new(e.kind(), e.to_string()))),
                None => {
                    state.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

fn read_all(mut input: impl BufRead, shared: &Shared) {
    let end = loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break Ok(()),
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                let mut state = shared.lock();
                while state.queue.len() >= READ_AHEAD {
                    state = shared
                        .space
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                state.queue.push_back(line);
                if let Some(w) = state.waker.take() {
                    w.wake();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    let mut state = shared.lock();
    state.end = Some(end);
    if let Some(w) = state.waker.take() {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn splits_lines_and_keeps_a_last_line_without_newline() {
        let lines = Lines::spawn(|| io::Cursor::new(b"a\tb\n\nlast".to_vec())).unwrap();
        block_on(async {
            assert_eq!(lines.next().await.unwrap().unwrap(), b"a\tb");
            assert_eq!(lines.next().await.unwrap().unwrap(), b"");
            assert_eq!(lines.next().await.unwrap().unwrap(), b"last");
            assert!(lines.next().await.unwrap().is_none());
            assert!(lines.next().await.unwrap().is_none());
        });
    }

    #[test]
    fn reads_more_lines_than_the_read_ahead_bound() {
        let text: String = (0..500).map(|i| format!("{i}\n")).collect();
        let lines = Lines::spawn(move || io::Cursor::new(text.into_bytes())).unwrap();
        block_on(async {
            for i in 0..500 {
                assert_eq!(
                    lines.next().await.unwrap().unwrap(),
                    i.to_string().as_bytes()
                );
            }
            assert!(lines.next().await.unwrap().is_none());
        });
    }
}
