//! The HTTP server under hostile clients: a slow-loris connection that never finishes its
//! request headers is closed after the header read timeout, counted in the metrics, and the
//! node keeps serving others.

use entente_server::{HttpLimits, init, open, serve_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_is_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    init(dir.path(), "EU", addr, None).await.unwrap();
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
        },
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
