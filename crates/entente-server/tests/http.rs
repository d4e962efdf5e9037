//! The HTTP server under hostile clients: a slow-loris connection that never finishes its
//! request headers is closed after the header read timeout, a body trickled byte by byte is
//! cut off at the body deadline, connections over the per-client cap are closed on arrival;
//! each is counted in the metrics, and the node keeps serving others.

use entente_server::{HttpLimits, open, serve_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_is_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    entente_server::init_dev_plain(dir.path(), "EU", addr)
        .await
        .unwrap();
    let node = open(dir.path()).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        node.clone(),
        listener,
        async move {
            let _ = stop_rx.await;
        },
        HttpLimits {
            header_read_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        None,
    ));

    // The slow client sends half a request head and then nothing.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();

    // Meanwhile a normal client is answered.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    ok.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // The server closes the slow connection on its own (the outer timeout only guards the
    // test against hanging if it never does).
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the slow connection was never closed");
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to an unfinished request"
    );
    // Counted: the closing task may finish just after the client saw the close, so wait for it
    // (a condition wait with a deadline, not a timing assertion).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while node
        .sync_counters()
        .header_timeouts
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cut-off was never counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    entente_server::add_user(&node, "admin", "admin", "admin-password-1")
        .await
        .unwrap();
    let (status, metrics) =
        entente_server::call_api(node.clone(), "admin", "GET", "/metrics", None)
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("entente_http_header_timeouts_total 1\n"),
        "{metrics}"
    );

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

/// A node on a plain loopback listener with `limits`; stop it by sending on the channel.
async fn start(
    limits: HttpLimits,
) -> (
    tempfile::TempDir,
    std::net::SocketAddr,
    std::sync::Arc<entente_node::Node>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    entente_server::init_dev_plain(dir.path(), "EU", addr)
        .await
        .unwrap();
    let node = open(dir.path()).await.unwrap();
    entente_server::add_user(&node, "admin", "admin", "admin-password-1")
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        node.clone(),
        listener,
        async move {
            let _ = stop_rx.await;
        },
        limits,
        None,
    ));
    (dir, addr, node, stop_tx, server)
}

async fn metrics(node: &std::sync::Arc<entente_node::Node>) -> String {
    let (status, m) = entente_server::call_api(node.clone(), "admin", "GET", "/metrics", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_byte_by_byte_is_cut_off_at_the_body_deadline() {
    let (_dir, addr, _node, stop, server) = start(HttpLimits {
        body_read_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    // One byte every 100 ms would take 100 s for the whole body; each byte resets a
    // per-frame timeout, but not the deadline. The server must answer or close long before.
    let t0 = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = loop {
        if t0.elapsed() > Duration::from_secs(20) {
            break false;
        }
        tokio::select! {
            r = slow.read(&mut buf) => match r {
                Ok(0) | Err(_) => break true,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if slow.write_all(b" ").await.is_err() {
                    break true;
                }
            }
        }
    };
    assert!(ended, "a trickled body held the connection for 20 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_client_cap_are_closed_on_arrival() {
    let (_dir, addr, node, stop, server) = start(HttpLimits {
        max_connections_per_client: 2,
        ..Default::default()
    })
    .await;
    // Two idle connections take the client's slots.
    let a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The third is closed without an answer, and counted.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = c
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer))
        .await
        .expect("the capped connection was not closed");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        metrics(&node)
            .await
            .contains("entente_http_connections_refused_total{reason=\"client_cap\"} 1\n")
    );
    // Slots come back when connections end.
    drop((a, b));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = ok
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let _ = ok.read_to_end(&mut answer).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slots never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A client that sends its whole request before reading (Python's `requests`, curl with a
/// file) and posts more than the node accepts gets the 413 it is owed over TLS, not an
/// `EOF in violation of protocol`: the node reads and discards the refused body before it
/// answers and closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_over_tls_gets_its_413_answer() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    entente_server::init(dir.path(), "EU", addr, None)
        .await
        .unwrap();
    let node = open(dir.path()).await.unwrap();
    let tls = entente_server::tls::pinned_server_tls(&node).unwrap();
    let cert = node
        .config()
        .transport
        .identity
        .as_ref()
        .unwrap()
        .cert_pem()
        .to_owned();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        node.clone(),
        listener,
        async move {
            let _ = stop_rx.await;
        },
        HttpLimits::default(),
        Some(tls),
    ));

    let client = entente_tls::client_trusting(&[&cert]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = connector.connect(name, tcp).await.unwrap();
    // 8 MiB against the REST limit of 1 MiB: far more than the socket buffers hold, so a node
    // that closed without reading would break this write or the read after it.
    let body = vec![b' '; 8 * 1024 * 1024];
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body)
        .await
        .expect("the node read the whole body");
    s.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "answer: {answer:.200}");
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
