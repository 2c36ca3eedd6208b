//! Serving the router on 127.0.0.1 with the limits a server needs even on a laptop: a client
//! that never finishes its request headers is cut off after [`Limits::header_read`], and at
//! most [`Limits::connections`] connections are open at once (the rest wait to be accepted).
//! axum's own `serve` has neither, so 400 half-open connections could pin jit-local for good.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's headers, and how many connections may be open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed to send the headers of each request.
    pub header_read: Duration,
    /// Connections served at once.
    pub connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    eprintln!("jit-local: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _open = permit;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(stream), service);
            // A client that hangs up or is cut off is not jit-local's error.
            let _ = connection.await;
        });
    }
}
