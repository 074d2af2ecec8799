//! The fake's HTTP/1.1 server (request head, `Content-Length` body, keep-alive) and the
//! kubelet side of `pods/portforward` streams.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::{
    Effect, IDLE_TIMEOUT, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUESTS_PER_CONNECTION,
    Reply, Seen, State, lock, query_params, status,
};

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a request head; `None` at a clean EOF or on anything malformed or too large.
async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<Head> {
    let mut total = 0;
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r
            .take(MAX_HEAD_BYTES as u64)
            .read_until(b'\n', &mut line)
            .await
            .ok()?;
        if n == 0 {
            return None;
        }
        total += n;
        if total > MAX_HEAD_BYTES || lines.len() > MAX_HEADERS {
            return None;
        }
        let text = String::from_utf8(line).ok()?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                continue; // tolerated blank line between requests
            }
            break;
        }
        lines.push(text.to_owned());
    }
    let mut request_line = lines.first()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Head {
        method,
        target,
        headers,
    })
}

async fn write_reply<W: AsyncWrite + Unpin>(w: &mut W, reply: Reply) -> std::io::Result<()> {
    let (code, content_type, body) = match reply {
        Reply::Json(code, v) => (code, "application/json", v.to_string()),
        Reply::Text(code, t) => (code, "text/plain", t),
    };
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes()).await?;
    w.write_all(body.as_bytes()).await?;
    w.flush().await
}

pub(super) async fn serve_connection(tcp: TcpStream, state: Arc<Mutex<State>>) {
    let mut conn = BufReader::new(tcp);
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let Ok(Some(head)) = tokio::time::timeout(IDLE_TIMEOUT, read_head(&mut conn)).await else {
            return;
        };
        if head
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            let _ = write_reply(
                &mut conn,
                status(
                    411,
                    "BadRequest",
                    "the fake needs Content-Length".to_owned(),
                ),
            )
            .await;
            return;
        }
        let length: usize = head
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if length > MAX_BODY_BYTES {
            return;
        }
        let mut body = vec![0u8; length];
        if conn.read_exact(&mut body).await.is_err() {
            return;
        }
        let seen = Seen {
            method: head.method.clone(),
            path: head.target.clone(),
            content_type: head.header("content-type").map(str::to_owned),
            body: (!body.is_empty()).then(|| {
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
            }),
        };
        let query = query_params(head.target.split_once('?').map_or("", |(_, q)| q));
        let upgrade = head
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade
            && head
                .target
                .split('?')
                .next()
                .is_some_and(|p| p.ends_with("/portforward"))
        {
            portforward(conn, &head, &seen, &query, &state).await;
            return;
        }
        let mut effects = Vec::new();
        let reply = {
            let mut s = lock(&state);
            let reply = s.handle(&seen, &query, &mut effects);
            s.seen.push(seen);
            reply
        };
        for effect in effects {
            match effect {
                Effect::Scale(f, n) => f(n),
                Effect::PodsDeleted(f) => f(),
            }
        }
        if write_reply(&mut conn, reply).await.is_err() {
            return;
        }
        if head
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

/// Answers a `pods/portforward` upgrade for a Service's pod and bridges the stream.
async fn portforward(
    mut conn: BufReader<TcpStream>,
    head: &Head,
    seen: &Seen,
    query: &BTreeMap<String, String>,
    state: &Mutex<State>,
) {
    let segments: Vec<&str> = seen
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_matches('/')
        .split('/')
        .collect();
    let port: Option<u16> = query.get("ports").and_then(|p| p.parse().ok());
    let backend = {
        let mut s = lock(state);
        s.seen.push(seen.clone());
        match segments.as_slice() {
            ["api", "v1", "namespaces", ns, "pods", pod, "portforward"] => s
                .services
                .iter()
                .find(|svc| {
                    svc.namespace == *ns && svc.pod_name() == *pod && Some(svc.target_port) == port
                })
                .map(|svc| svc.backend),
            _ => None,
        }
    };
    let (Some(backend), Some(port), Some(key)) = (backend, port, head.header("sec-websocket-key"))
    else {
        let _ = write_reply(
            &mut conn,
            status(
                404,
                "NotFound",
                "no service pod with that port to forward to".to_owned(),
            ),
        )
        .await;
        return;
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    );
    if conn.write_all(answer.as_bytes()).await.is_err() || conn.flush().await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(conn, Role::Server, None).await;
    bridge_portforward(ws, port, backend).await;
}

/// The kubelet's side of one `v4.channel.k8s.io` portforward stream: announce `port` on the
/// data (0) and error (1) channels, then copy channel-0 frames to a new TCP connection to
/// `backend` and its bytes back as channel-0 frames. An unreachable backend is reported on
/// the error channel, as a kubelet does.
pub async fn bridge_portforward<S>(ws: WebSocketStream<S>, port: u16, backend: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let [lo, hi] = port.to_le_bytes();
    for ch in [0u8, 1] {
        if sink.send(Message::binary(vec![ch, lo, hi])).await.is_err() {
            return;
        }
    }
    let upstream = match TcpStream::connect(backend).await {
        Ok(u) => u,
        Err(e) => {
            let mut frame = vec![1u8];
            frame.extend_from_slice(
                format!("error forwarding port {port} to pod: dial tcp {backend}: {e}").as_bytes(),
            );
            let _ = sink.send(Message::binary(frame)).await;
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    };
    let (mut up_read, mut up_write) = upstream.into_split();
    let to_backend = async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if b.len() > 1 && b[0] == 0 => {
                    let written = up_write.write_all(&b[1..]).await;
                    if written.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = up_write.shutdown().await;
    };
    let from_backend = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut frame = Vec::with_capacity(n + 1);
                    frame.push(0);
                    frame.extend_from_slice(&buf[..n]);
                    if sink.send(Message::binary(frame)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    tokio::join!(to_backend, from_backend);
}
