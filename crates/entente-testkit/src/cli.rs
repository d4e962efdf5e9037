//! Running the `entente` binary from a test as an operator would: the helpers every binary
//! test needs (run a command, read its output, a free port, a child killed on drop, a bounded
//! wait), in one place. The binary's path comes from the calling crate
//! (`env!("CARGO_BIN_EXE_entente")`), which only that crate's tests know.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A command for the binary with the settings a test must not inherit removed: `serve` and
/// `config check` refuse unknown `ENTENTE_*` settings, and the suite's own
/// (`ENTENTE_TEST_PG_URL`) is one; an operator's `ENTENTE_DIR` or `ENTENTE_PASSWORD` would
/// change what the command does.
pub fn command(bin: &str) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("ENTENTE_DIR")
        .env_remove("ENTENTE_PASSWORD")
        .env_remove("ENTENTE_TEST_PG_URL");
    c
}

/// Run the binary with `args` and extra environment, and wait for it.
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run entente")
}

/// Standard output then standard error, as one text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as the `&str` a command line takes (temp paths are UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A loopback port free now (the listener is dropped before it is returned).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("its address")
        .port()
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
#[derive(Debug)]
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `f` until it holds, for at most two minutes (a bound, not a synchronisation delay).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
