//! A fault-injecting endpoint: an HTTP proxy in front of moto that, for the next N calls of a
//! chosen operation or of a whole service (matched on the X-Amz-Target header of JSON-protocol
//! services: `PutInlinePolicyToPermissionSet`, or `SWBExternalService.` for all of Identity
//! Center), answers with an error of a chosen type, answers a bare 5xx, or holds the call for a
//! while before forwarding it; everything else is forwarded unchanged. Rules can be added and
//! cleared while a test runs. One request per connection.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Rule {
    operation: String,
    remaining: usize,
    fault: Injected,
}

#[derive(Clone)]
enum Injected {
    /// An AWS error of this type (`ThrottlingException`, `ConflictException`, ...).
    Error(String),
    /// A bare server error with this status (500, 503), as a load balancer might answer.
    Status(u16),
    /// Forwarded after this pause (a hang, from the caller's side, if longer than its timeout).
    Hang(std::time::Duration),
}

impl Rule {
    /// `operation` names one operation, or a whole service when it ends with a dot.
    fn matches(&self, target: &str) -> bool {
        if self.operation.ends_with('.') {
            target.starts_with(&self.operation)
        } else {
            target.ends_with(&format!(".{}", self.operation))
        }
    }
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultProxy {
    /// Point the SDK here instead of at moto.
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (http://host:port) on a free port.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Self {
            url,
            rules: Arc::default(),
            injected: Arc::default(),
        };
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let me = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    break;
                };
                let (me, upstream) = (me.clone(), upstream.clone());
                tokio::spawn(async move { me.serve(conn, &upstream).await });
            }
        });
        proxy
    }

    /// Answers the next `times` calls of `operation` (e.g. "PutInlinePolicyToPermissionSet")
    /// with `error_type` (e.g. "ConflictException").
    pub fn fail(&self, operation: &str, times: usize, error_type: &str) {
        self.add(operation, times, Injected::Error(error_type.into()));
    }

    /// Answers the next `times` calls of `operation` with a bare `status` (500, 503).
    pub fn fail_status(&self, operation: &str, times: usize, status: u16) {
        self.add(operation, times, Injected::Status(status));
    }

    /// Holds the next `times` calls of `operation` for `pause`, then forwards them.
    pub fn hang(&self, operation: &str, times: usize, pause: std::time::Duration) {
        self.add(operation, times, Injected::Hang(pause));
    }

    fn add(&self, operation: &str, times: usize, fault: Injected) {
        self.rules.lock().unwrap().push(Rule {
            operation: operation.into(),
            remaining: times,
            fault,
        });
    }

    /// Stops injecting: every call from now on reaches moto.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// The operations that were answered with an injected error, in order.
    pub fn injected(&self) -> Vec<String> {
        self.injected.lock().unwrap().clone()
    }

    async fn serve(&self, mut conn: TcpStream, upstream: &str) {
        let Some((head, body)) = read_request(&mut conn).await else {
            return;
        };
        let target = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let injected = {
            let mut rules = self.rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| r.remaining > 0 && r.matches(&target))
                .map(|r| {
                    r.remaining -= 1;
                    r.fault.clone()
                })
        };
        if let Some(fault) = &injected {
            self.injected
                .lock()
                .unwrap()
                .push(target.rsplit('.').next().unwrap_or("").to_string());
            let (status, error_type) = match fault {
                Injected::Hang(pause) => {
                    tokio::time::sleep(*pause).await;
                    (String::new(), String::new())
                }
                Injected::Status(code) => (format!("{code} Server Error"), String::new()),
                Injected::Error(error_type) => {
                    let status = if ["Throttl", "Throughput", "AccessDenied", "Validation"]
                        .iter()
                        .any(|k| error_type.contains(k))
                    {
                        "400 Bad Request"
                    } else {
                        "409 Conflict"
                    };
                    (status.to_string(), error_type.clone())
                }
            };
            if !status.is_empty() {
                let body = if error_type.is_empty() {
                    String::new()
                } else {
                    format!("{{\"__type\":\"{error_type}\",\"message\":\"injected by the test\"}}")
                };
                let typed = if error_type.is_empty() {
                    String::new()
                } else {
                    format!("x-amzn-errortype: {error_type}\r\n")
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\n{typed}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                return;
            }
        }
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        let head: String = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let _ = up
            .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
            .await;
        let _ = up.write_all(&body).await;
        let mut response = Vec::new();
        let _ = up.read_to_end(&mut response).await;
        let _ = conn.write_all(&response).await;
    }
}

/// Reads one request: its head (without the blank line) and its body.
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}
