//! A minimal HTTP/1.1 GET client over one keep-alive connection, enough to time queries.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// One connection to one server; reconnects after an error.
pub(crate) struct HttpClient {
    addr: SocketAddr,
    sender: Option<SendRequest<Empty<Bytes>>>,
    timeout: Duration,
}

impl HttpClient {
    pub(crate) fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self {
            addr,
            sender: None,
            timeout,
        }
    }

    /// `GET path_and_query`: the status and body, or a description of the failure.
    pub(crate) async fn get(&mut self, path_and_query: &str) -> Result<(u16, Bytes), String> {
        match tokio::time::timeout(self.timeout, self.get_inner(path_and_query)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    async fn get_inner(&mut self, path_and_query: &str) -> Result<(u16, Bytes), String> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
            stream.set_nodelay(true).ok();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("http handshake with {} failed: {e}", self.addr))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        let request = hyper::Request::get(path_and_query)
            .header(hyper::header::HOST, self.addr.to_string())
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("invalid request {path_and_query:?}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path_and_query} failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body of GET {path_and_query} failed: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
