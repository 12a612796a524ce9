//! A long poll on the raw socket (`sub_conn`): the answers of `longpoll` (the same head
//! builders, so the same bytes as through hyper), and its side of the writer pass.
//!
//! A parked poll attaches [`LpDirect`] to its subscriber: the publisher's fan-out writes
//! the whole `200` reply (head and body, one non-blocking `sendmsg`:
//! `raw_write::write_now`) straight to the socket, with no task woken and nothing
//! formatted per socket: the head and body of a message are
//! built once per fan-out thread ([`shared_reply`]) and shared by every poll it releases.
//! The poll's task learns of it when the client's next request arrives (the socket turns
//! readable) or its hold time ends, and then unsubscribes. A socket that takes part of the
//! reply keeps the rest here and the task (woken: `Offer::Started`) finishes it; one that
//! takes nothing declines and the message is queued, as before the pass.
//!
//! Exactly one answer per poll: whoever takes `Out::sock` (the pass writing a reply, or the
//! task answering with a replay, queued messages, 304 or an error) answers; the other
//! finds it gone. After the answer the subscriber refuses further messages
//! (`Offer::Finished`): the next poll reads them from history.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;
use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::http1_wire::{self, BodyLen};
use super::longpoll;
use super::ops_counters::Transport;
use super::outbound::Held;
use super::subscribe::SubscribeRequest;
use super::{frames, http, raw_write, sub_conn, App, Attached};
use crate::hub::subscriber::{Direct, Offer};
use crate::hub::CloseReason;
use crate::message::Message;
use crate::protocol::{ErrorCode, MessageId};

/// What the connection does after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close (the peer shut its side, a write failed or timed out).
    Close,
}

/// Most bytes read ahead while a poll is parked (a pipelined request, or a client that
/// talks out of turn): beyond it the socket is not read until the poll is answered.
pub const MAX_INPUT: usize = 64 * 1024;

/// Serve one long poll. `input` holds what was read past the request (it gets what the
/// client sends while the poll is parked); `close`: the request asked to close after it.
pub async fn serve(
    app: &Arc<App>,
    sock: &Arc<TcpStream>,
    mut req: SubscribeRequest,
    close: bool,
    input: &mut Vec<u8>,
) -> Next {
    let _gauge = app.gauge(|c| &c.pollings);
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let attached = Attached::new(app.hub.clone(), sub.subscriber);
    if !sub.replay.is_empty() {
        let (head, body) = longpoll::reply_parts(app, req.binary, &sub.replay, sub.gap, false);
        drop(attached);
        return write(app, sock, head, &body, close).await;
    }
    let parked = Arc::new(Parked {
        out: Mutex::new(Out {
            sock: Some(sock.clone()),
            rest: None,
            last: close,
            ahead: !input.is_empty(),
        }),
        app: app.clone(),
        binary: req.binary,
        gap: sub.gap,
    });
    attached.sub.attach(Box::new(LpDirect(parked.clone())));

    let hold = tokio::time::sleep(app.config.long_poll_timeout);
    tokio::pin!(hold);
    // The peer shut its sending side (`half_close` under hyper): it still gets its answer,
    // then the connection closes.
    let mut eof = close;
    let woke = loop {
        tokio::select! {
            r = attached.sub.recv() => break Wake::Recv(r),
            _ = &mut hold => break Wake::Timeout,
            r = sock.readable(), if !eof && input.len() < MAX_INPUT => {
                if r.is_err() {
                    break Wake::Broken;
                }
                match sub_conn::read_more(sock, input) {
                    Ok(0) => {
                        eof = true;
                        // A reply the pass writes from now on says so too.
                        parked.out.lock().last = true;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => break Wake::Broken,
                }
                if parked.read_ahead(!input.is_empty()) {
                    break Wake::Answered;
                }
            }
        }
    };
    // The answer is decided before anything is written, and the subscription ends with
    // it: a socket slow to take the answer must not collect messages meanwhile (they are
    // history for the next poll, as under hyper).
    let answer = match woke {
        Wake::Broken => {
            parked.claim();
            return Next::Close;
        }
        Wake::Recv(Ok(msgs)) if !msgs.is_empty() && parked.claim() => {
            Answer::Whole(longpoll::reply_parts(app, req.binary, &msgs, sub.gap, true))
        }
        Wake::Recv(Err(CloseReason::TooManyConnections)) if parked.claim() => {
            Answer::Whole(http::error_parts(ErrorCode::TooManyConnections))
        }
        // Timeout, shutdown or overflow: tell the client where it stands; it asks again.
        Wake::Recv(Err(_)) | Wake::Timeout if parked.claim() => {
            let head = longpoll::not_modified_head(app, req.mid, &attached.sub.channels, sub.gap);
            Answer::Whole((head, Bytes::new()))
        }
        // The pass answered: what the socket did not take of its reply, if anything.
        _ => Answer::Rest(parked.out.lock().rest.take()),
    };
    drop(attached);
    match answer {
        Answer::Whole((head, body)) => write(app, sock, head, &body, eof).await,
        Answer::Rest(rest) => finish(app, sock, rest, eof).await,
    }
}

enum Answer {
    Whole((Response<()>, Bytes)),
    Rest(Option<Rest>),
}

enum Wake {
    Recv(Result<Vec<Arc<Message>>, CloseReason>),
    Timeout,
    /// The pass wrote the reply and the client spoke again (or left).
    Answered,
    Broken,
}

/// Write one answer; `last`: the connection ends after it (the request asked to close, or
/// the peer shut its side), and the head says so (`connection: close`, as hyper's does).
async fn write(app: &App, sock: &TcpStream, head: Response<()>, body: &[u8], last: bool) -> Next {
    let head = if last {
        http1_wire::closing(head)
    } else {
        head
    };
    let h = http1_wire::response_head(&head, BodyLen::Known(body.len()));
    match raw_write::write_all(sock, &[&h, body], app.config.write_timeout, &app.outbound).await {
        Ok(()) if !last => Next::KeepAlive,
        _ => Next::Close,
    }
}

/// The rest of a reply the pass started, if any.
async fn finish(app: &App, sock: &TcpStream, rest: Option<Rest>, eof: bool) -> Next {
    let Some(mut rest) = rest else {
        return if eof { Next::Close } else { Next::KeepAlive };
    };
    // `write_all` counts what it still holds.
    rest.held = None;
    let (head, body) = rest.left();
    match raw_write::write_all(sock, &[head, body], app.config.write_timeout, &app.outbound).await {
        Ok(()) => {
            app.ops
                .delivered(Transport::LongPoll, std::slice::from_ref(&rest.msg), true);
            if eof {
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
        Err(_) => Next::Close,
    }
}

/// A parked poll, shared by its task and the writer pass.
struct Parked {
    out: Mutex<Out>,
    app: Arc<App>,
    binary: bool,
    gap: bool,
}

struct Out {
    /// The socket while the poll is unanswered; taken by whoever answers.
    sock: Option<Arc<TcpStream>>,
    /// The answer is the connection's last (`connection: close`): the request asked, or
    /// the peer shut its side.
    last: bool,
    /// What the socket did not take of the reply the pass wrote.
    rest: Option<Rest>,
    /// The client already sent more (a pipelined request, read with the poll's request or
    /// while it was parked): the socket will not turn readable for it again, so the pass
    /// wakes the task when it answers, or the request would wait for the hold time.
    ahead: bool,
}

struct Rest {
    head: Bytes,
    body: Bytes,
    sent: usize,
    msg: Arc<Message>,
    /// Counts what is left until the task writes it (and counts it itself).
    held: Option<Held>,
}

impl Rest {
    fn left(&self) -> (&[u8], &[u8]) {
        if self.sent < self.head.len() {
            (&self.head[self.sent..], &self.body[..])
        } else {
            (&[], &self.body[self.sent - self.head.len()..])
        }
    }
}

impl Parked {
    /// Take the answer: true when nobody answered yet.
    fn claim(&self) -> bool {
        self.out.lock().sock.take().is_some()
    }

    /// After a read: note whether a request is waiting in the input (`Out::ahead`), and
    /// say whether the poll was answered (one lock for both: every released poll's task
    /// comes here once, with its next request).
    fn read_ahead(&self, waiting: bool) -> bool {
        let mut out = self.out.lock();
        out.ahead |= waiting;
        out.sock.is_none()
    }
}

/// The long poll's side of the writer pass.
struct LpDirect(Arc<Parked>);

impl Direct for LpDirect {
    fn offer(&self, msg: &Arc<Message>) -> Offer {
        let p = &*self.0;
        let mut out = p.out.lock();
        let Some(sock) = out.sock.as_ref() else {
            return Offer::Finished;
        };
        let (head, body) = shared_reply(msg, p.binary, p.gap, out.last);
        let total = head.len() + body.len();
        match raw_write::write_now(sock, &[IoSlice::new(&head), IoSlice::new(&body)]) {
            Ok(n) if n == total => {
                out.sock = None;
                let wake = out.last || out.ahead;
                drop(out);
                p.app
                    .ops
                    .delivered(Transport::LongPoll, std::slice::from_ref(msg), true);
                if wake {
                    // The connection ends with this reply, and its task no longer reads
                    // (the peer shut its side, or asked to close), or the next request is
                    // already read: wake it to close or serve it now (`Started` wakes
                    // it; it finds nothing left to write).
                    Offer::Started
                } else {
                    Offer::Written
                }
            }
            Ok(n) if n > 0 => {
                out.sock = None;
                out.rest = Some(Rest {
                    head,
                    body,
                    sent: n,
                    msg: msg.clone(),
                    held: Some(Held::new(&p.app.outbound, total - n)),
                });
                Offer::Started
            }
            // Full (or broken: the task's next read or write says so).
            _ => Offer::Declined,
        }
    }
}

/// One built reply: a message's head and body for one (binary, gap, last) form, valid for
/// the second its `date` names.
struct Built {
    mid: MessageId,
    second: u64,
    head: Bytes,
    body: Bytes,
}

/// The head and body of the reply releasing a poll with `msg`: built once per message,
/// form and second on each fan-out thread, then shared (the body is the message's own
/// encoding for text).
fn shared_reply(msg: &Arc<Message>, binary: bool, gap: bool, last: bool) -> (Bytes, Bytes) {
    thread_local! {
        static BUILT: RefCell<[Option<Built>; 8]> =
            const { RefCell::new([None, None, None, None, None, None, None, None]) };
    }
    let second = http1_wire::date_second();
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        let form = usize::from(binary) * 4 + usize::from(gap) * 2 + usize::from(last);
        let slot = &mut built[form];
        if let Some(b) = slot {
            if b.mid == msg.mid && b.second == second {
                return (b.head.clone(), b.body.clone());
            }
        }
        let one = std::slice::from_ref(msg);
        let body = if binary {
            frames::binary_batch(one)
        } else {
            frames::text_batch(one)
        };
        let mut head = longpoll::reply_head(binary, gap);
        if last {
            head = http1_wire::closing(head);
        }
        let head = Bytes::from(http1_wire::response_head(&head, BodyLen::Known(body.len())));
        *slot = Some(Built {
            mid: msg.mid,
            second,
            head: head.clone(),
            body: body.clone(),
        });
        (head, body)
    })
}
