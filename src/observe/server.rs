//! The owner of gauntlet's own small HTTP servers (the OTLP tap, the webhook sink, the
//! services' OTLP sink): binds an axum [`Router`] (port from the OS when asked for port 0),
//! serves it on a task with graceful shutdown, and stops it on [`HttpServer::shutdown`] or
//! on drop. Each server module keeps only its routes and what it records.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`HttpServer::shutdown`] lets in-flight requests finish before aborting.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// `127.0.0.1` with a port chosen by the OS.
pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A server could not start; `what` names it, e.g. `the webhook sink`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot bind {what} on {addr}")]
    Bind {
        /// The server.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket did not tell its address.
    #[error("cannot read {what}'s bound address")]
    LocalAddr {
        /// The server.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running server; dropping it stops the server at once.
#[derive(Debug)]
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `addr` and serves `app` until stopped; `what` names the server in errors and
    /// logs.
    pub(crate) async fn start(
        what: &'static str,
        addr: SocketAddr,
        app: Router,
    ) -> Result<Self, ServeError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { what, addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::LocalAddr { what, addr, source })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "{what} stopped with an error");
            }
        });
        tracing::debug!(addr = %bound, "{what} listening");
        Ok(HttpServer {
            addr: bound,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish for at most [`SHUTDOWN_GRACE`], then
    /// aborts.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Drop cannot wait; aborting closes the listener at once.
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_until_shut_down_then_refuses() {
        let app = Router::new().route("/", axum::routing::get(|| async { "up" }));
        let server = HttpServer::start("the test server", loopback(), app)
            .await
            .expect("binds");
        let addr = server.addr();
        assert_ne!(addr.port(), 0);
        let body = reqwest::get(format!("http://{addr}/"))
            .await
            .expect("served")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "up");
        server.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_taken_port_names_the_server() {
        let first = HttpServer::start("the first server", loopback(), Router::new())
            .await
            .expect("binds");
        let err = HttpServer::start("the second server", first.addr(), Router::new())
            .await
            .expect_err("port taken");
        assert_eq!(
            err.to_string(),
            format!("cannot bind the second server on {}", first.addr())
        );
    }
}
