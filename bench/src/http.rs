//! A minimal HTTP/1.1 client over one keep-alive TCP connection: what the publisher, the
//! long-poll and the SSE subscribers need, with no buffer kept between requests beyond
//! what was read ahead.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server said `Connection: close` or the body ran to EOF.
    pub closed: bool,
}

#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::new(stream))
    }

    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            closed: false,
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data).await
    }

    /// Send a request (head and body already serialised) and read the whole response.
    pub async fn request(&mut self, req: &[u8]) -> io::Result<Response> {
        self.send(req).await?;
        self.read_response().await
    }

    pub async fn read_response(&mut self) -> io::Result<Response> {
        let head = self.read_head().await?;
        let mut body = Vec::new();
        if head.status == 204 || head.status == 304 || (100..200).contains(&head.status) {
            // no body
        } else if head.chunked() {
            while let Some(c) = self.read_chunk().await? {
                body.extend_from_slice(&c);
            }
        } else if let Some(len) = head.header("content-length") {
            let len: usize = len.trim().parse().map_err(|_| bad("content-length"))?;
            while self.buf.len() < len {
                self.fill().await?;
            }
            body = self.buf.drain(..len).collect();
        } else {
            loop {
                match self.fill().await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            body = std::mem::take(&mut self.buf);
            self.closed = true;
        }
        if head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.closed = true;
        }
        Ok(Response { head, body })
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).await?;
        if n == 0 {
            self.closed = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    pub async fn read_head(&mut self) -> io::Result<Head> {
        let end = loop {
            if let Some(p) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head too large"));
            }
            self.fill().await?;
        };
        let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let headers = lines
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        Ok(Head { status, headers })
    }

    /// The next chunk of a chunked body; `None` after the last one.
    pub async fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line_end = loop {
            if let Some(p) = memchr::memmem::find(&self.buf, b"\r\n") {
                break p;
            }
            self.fill().await?;
        };
        let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("chunk size"))?;
        self.buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let p = loop {
                    if let Some(p) = memchr::memmem::find(&self.buf, b"\r\n") {
                        break p;
                    }
                    self.fill().await?;
                };
                self.buf.drain(..p + 2);
                if p == 0 {
                    return Ok(None);
                }
            }
        }
        while self.buf.len() < size + 2 {
            self.fill().await?;
        }
        let data: Vec<u8> = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        Ok(Some(data))
    }

    /// What a close-delimited streaming body delivers next (SSE without chunking).
    pub async fn read_some(&mut self) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        Ok(std::mem::take(&mut self.buf))
    }
}
