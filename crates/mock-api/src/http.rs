//! Just enough HTTP/1.1 for the mock: request heads up to 64 KiB, `Content-Length` bodies,
//! keep-alive. Hand-written so that every fault (a half body, a reset) is exactly what it says.

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request head (request line and headers) the server reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The largest request body the server reads (and discards: the API takes no bodies).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path without the query string.
    pub(crate) path: String,
    /// The raw query string (without `?`), still percent-encoded.
    pub(crate) query: String,
    headers: Vec<(String, String)>,
    /// Whether the client wants the connection kept open after the response.
    pub(crate) keep_alive: bool,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection between requests.
    Closed,
    /// The bytes are not an HTTP/1.x request this server reads; answer 400 and close.
    Malformed(&'static str),
    /// The socket failed.
    Io,
}

/// Reads one request from `stream`. `buf` keeps bytes past the request (a pipelined next
/// request) for the next call.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Request, ReadError> {
    let mut searched = 0;
    let head_end = loop {
        if let Some(pos) = find_head_end(&buf[searched..]) {
            break searched + pos;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Malformed("request head over 64 KiB"));
        }
        // The terminator may straddle two reads.
        searched = buf.len().saturating_sub(3);
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Malformed("connection closed inside a request head")
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_HEAD_BYTES {
        return Err(ReadError::Malformed("request head over 64 KiB"));
    }
    let head: Vec<u8> = buf.drain(..head_end + 4).collect();
    let request = parse_head(&head[..head_end])?;
    let body_len = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ReadError::Malformed("Content-Length is not a number"))?,
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed("Transfer-Encoding is not supported"));
    }
    if body_len > MAX_BODY_BYTES {
        return Err(ReadError::Malformed("request body over 1 MiB"));
    }
    while buf.len() < body_len {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Malformed(
                "connection closed inside a request body",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..body_len);
    Ok(request)
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let text =
        std::str::from_utf8(head).map_err(|_| ReadError::Malformed("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Malformed("unsupported HTTP version")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ReadError::Malformed("bad method"));
    }
    // Absolute-form targets (`http://host/path`) are legal too; keep the path.
    let origin = match target.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => target,
    };
    if !origin.starts_with('/') {
        return Err(ReadError::Malformed("request target is not a path"));
    }
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(ReadError::Malformed("header line without a colon"))?;
        if name.is_empty() || name.contains(' ') {
            return Err(ReadError::Malformed("bad header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        keep_alive: !http10,
    };
    if let Some(connection) = request.header("connection") {
        let has = |token: &str| {
            connection
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if has("close") {
            request.keep_alive = false;
        } else if has("keep-alive") {
            request.keep_alive = true;
        }
    }
    Ok(request)
}

/// A response to write.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A JSON response. Serialising our own wire types cannot fail; if it ever did, the
    /// client gets a 500 rather than the server a panic.
    pub(crate) fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json; charset=utf-8",
                headers: Vec::new(),
                body,
            },
            Err(err) => Response {
                status: 500,
                content_type: "text/plain; charset=utf-8",
                headers: Vec::new(),
                body: format!("mock could not serialise its response: {err}").into_bytes(),
            },
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The status line and headers, announcing `content_length` body bytes.
    fn head(&self, content_length: usize, close: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            content_length
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Writes the whole response.
    pub(crate) async fn write_to<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        close: bool,
    ) -> std::io::Result<()> {
        let mut response = self.head(self.body.len(), close);
        response.extend_from_slice(&self.body);
        stream.write_all(&response).await?;
        stream.flush().await
    }

    /// Writes the head announcing the full body but only its first half; the caller closes.
    pub(crate) async fn write_truncated<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
    ) -> std::io::Result<()> {
        stream.write_all(&self.head(self.body.len(), true)).await?;
        stream.write_all(&self.body[..self.body.len() / 2]).await?;
        stream.flush().await
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Request, ReadError> {
        let mut stream = bytes;
        read_request(&mut stream, &mut Vec::new()).await
    }

    #[tokio::test]
    async fn reads_pipelined_requests_one_at_a_time() {
        let mut stream: &[u8] =
            b"GET /v3/images?a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut buf = Vec::new();
        let first = read_request(&mut stream, &mut buf).await.unwrap();
        assert_eq!(
            (first.path.as_str(), first.query.as_str()),
            ("/v3/images", "a=1")
        );
        assert!(first.keep_alive);
        let second = read_request(&mut stream, &mut buf).await.unwrap();
        assert_eq!(second.path, "/b");
        assert!(!second.keep_alive);
        assert!(matches!(
            read_request(&mut stream, &mut buf).await,
            Err(ReadError::Closed)
        ));
    }

    #[tokio::test]
    async fn rejects_garbage_without_panicking() {
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost",
        ] {
            assert!(
                matches!(read(bad).await, Err(ReadError::Malformed(_))),
                "{bad:?}"
            );
        }
        let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 70_000]].concat();
        assert!(matches!(read(&huge).await, Err(ReadError::Malformed(_))));
    }

    #[tokio::test]
    async fn skips_a_request_body() {
        let mut stream: &[u8] =
            b"GET /a HTTP/1.0\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
        let mut buf = Vec::new();
        let first = read_request(&mut stream, &mut buf).await.unwrap();
        assert!(!first.keep_alive, "HTTP/1.0 closes by default");
        assert_eq!(
            read_request(&mut stream, &mut buf).await.unwrap().path,
            "/b"
        );
    }
}
