//! `entente serve` as an operator runs it: HTTPS by default with the node's certificate,
//! SIGTERM stops it cleanly, and running out of file descriptors does not make the accept
//! loop spin.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entente_testkit::cli::{Kill, free_port, path as d};

fn entente(args: &[&str]) -> std::process::Output {
    entente_testkit::cli::run(env!("CARGO_BIN_EXE_entente"), args, &[])
}

/// Wait (bounded) until `url`/healthz answers 200 over the node's own certificate.
async fn wait_healthy(
    http: &reqwest::Client,
    url: &str,
    child: &mut std::process::Child,
    log: &Path,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        if child.try_wait().unwrap().is_some() {
            panic!(
                "serve exited early: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{url} never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime is the 14th field.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_https_by_default_and_sigterm_stops_it_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    let listen = format!("127.0.0.1:{}", free_port());
    let o = entente(&[
        "init",
        "--dir",
        d(&dir),
        "--partner",
        "EU",
        "--listen",
        &listen,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(["serve", "--dir", d(&dir)])
        .env_remove("ENTENTE_TEST_PG_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("https://{listen}");
    // tls.crt appears when serve starts.
    let crt = dir.join("tls.crt");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !crt.exists() {
        assert!(Instant::now() < deadline, "no tls.crt");
        if child.try_wait().unwrap().is_some() {
            panic!(
                "serve exited early: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = entente_server::tools_https(&[&crt])
        .unwrap()
        .build()
        .unwrap();
    wait_healthy(&http, &url, &mut child, &log_path).await;
    let r = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert!(r.headers().contains_key("strict-transport-security"));
    // The key files are the operator's only.
    use std::os::unix::fs::PermissionsExt;
    for f in ["node.key", "tls.key"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others");
    }
    // Plain HTTP on the TLS port gets no answer.
    let plain = entente_server::tools_http().build().unwrap();
    assert!(
        plain
            .get(format!("http://{listen}/healthz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );

    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(tmp.path().join("serve.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_listener_backs_off_instead_of_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nzl");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let o = entente(&[
        "init",
        "--dir",
        d(&dir),
        "--partner",
        "NZL",
        "--listen",
        &listen,
        "--dev-plain-http",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // A low descriptor limit for this process only (the shell's ulimit, then exec).
    let child = Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -n 96 && exec {} serve --dir {}",
                env!("CARGO_BIN_EXE_entente"),
                d(&dir)
            ),
        ])
        .env("ENTENTE_LIMITS_HEADER_READ_TIMEOUT_SECS", "600")
        .env_remove("ENTENTE_TEST_PG_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = Kill(child);
    let url = format!("http://{listen}");
    let http = entente_server::tools_http().build().unwrap();
    wait_healthy(&http, &url, &mut child.0, &log_path).await;
    // Hold more idle connections than the node has descriptors left.
    let mut held = vec![];
    for _ in 0..200 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.0.id();
    let t0 = cpu_ticks(pid);
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ticks = cpu_ticks(pid) - t0;
    let wall = w0.elapsed().as_secs_f64();
    // Clock ticks are 1/100 s on Linux. Spinning on accept costs a whole core (~200 ticks in
    // two seconds); backing off costs a few.
    let share = ticks as f64 / 100.0 / wall;
    assert!(
        share < 0.5,
        "the idle node used {:.0} % of a core",
        share * 100.0
    );
    let log_len = std::fs::metadata(&log_path).unwrap().len();
    assert!(log_len < 200_000, "the log grew to {log_len} bytes");
    // Once the connections go, the node answers again; the failures were logged, at most
    // once a second.
    drop(held);
    wait_healthy(&http, &url, &mut child.0, &log_path).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("accept failed; backing off"), "{log}");
}
