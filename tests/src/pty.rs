//! A pseudo-terminal for tests that need the binary to see a terminal (prompts without echo,
//! coloured logs): the child gets the terminal's side as stdin and/or stderr, the test reads
//! everything written to it (with what the terminal echoes) and types into it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// The controlling side of a pseudo-terminal whose other side a child uses.
pub struct Pty {
    master: File,
    seen: Arc<Mutex<Vec<u8>>>,
    reader: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Which of the child's standard streams are the terminal (the others: stdin null, stdout and
/// stderr piped).
#[derive(Debug, Clone, Copy)]
pub struct OnTerminal {
    /// Stdin is the terminal.
    pub stdin: bool,
    /// Stderr is the terminal.
    pub stderr: bool,
}

impl Pty {
    /// Spawn `cmd` with the chosen streams on a new pseudo-terminal.
    ///
    /// # Panics
    /// If no pseudo-terminal can be opened or the child cannot start.
    pub fn spawn(mut cmd: Command, on: OnTerminal) -> (Child, Pty) {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("open a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let path = std::ffi::OsStr::new(name.to_str().expect("utf-8 pty name"));
        let slave = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(OFlags::NOCTTY.bits() as i32)
                .open(path)
                .expect("open the terminal side")
        };
        cmd.stdin(if on.stdin {
            Stdio::from(slave())
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(if on.stderr {
            Stdio::from(slave())
        } else {
            Stdio::piped()
        });
        let child = cmd.spawn().expect("spawn on a terminal");
        // The command holds the terminal's side until dropped; the reader below ends (EIO)
        // only once the child's copies are closed too.
        drop(cmd);
        let master = File::from(master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("clone pty");
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("pty buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let reader = Mutex::new(Some(reader));
        (
            child,
            Pty {
                master,
                seen,
                reader,
            },
        )
    }

    /// Everything written to the terminal so far (the child's output and the echo of what was
    /// typed).
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("pty buffer")).into_owned()
    }

    /// Everything written to the terminal, once every process that had it open has closed it
    /// (call after the child has exited: its last output may still be on its way).
    pub fn finish(&self) -> String {
        if let Some(reader) = self.reader.lock().expect("pty reader").take() {
            reader.join().expect("pty reader thread");
        }
        self.seen()
    }

    /// Wait until the terminal shows `needle` (at least `count` times).
    ///
    /// # Panics
    /// After 20 s without it, showing what the terminal has.
    pub fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.seen().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "terminal never showed {needle:?} {count} time(s); it has {:?}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the terminal echoes what is typed (its modes as the child left them).
    ///
    /// # Panics
    /// If the modes cannot be read.
    pub fn echoes(&self) -> bool {
        rustix::termios::tcgetattr(&self.master)
            .expect("terminal modes")
            .local_modes
            .contains(rustix::termios::LocalModes::ECHO)
    }

    /// Type `text` into the terminal.
    pub fn type_text(&self, text: &str) {
        (&self.master)
            .write_all(text.as_bytes())
            .expect("type into the terminal");
    }
}
