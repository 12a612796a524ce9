//! The WebSocket side of the writer pass (issue 11, item 1): a publish's fan-out hands a
//! message to [`WsDirect::offer`] under the subscriber's queue lock, when nothing is queued
//! ahead of it and the connection's task is not writing. The frame is the message's shared
//! encoding (built once per message, `Message`'s `OnceLock`) behind a header computed on
//! the stack, written with one non-blocking `writev`: no task wake-up, no `Notify`, no
//! copy. A socket that takes nothing declines (the message is queued, the task wakes as
//! before); one that takes part keeps the rest (`ws_socket::Rest`) for its task.

use std::sync::Arc;

use super::frames;
use super::ops_counters::Transport;
use super::ws_codec::{self, OP_BINARY, OP_TEXT};
use super::ws_socket::WsSocket;
use super::App;
use crate::hub::subscriber::{Direct, Offer};
use crate::message::Message;

pub struct WsDirect {
    app: Arc<App>,
    sock: Arc<WsSocket>,
    binary: bool,
}

impl WsDirect {
    pub fn new(app: Arc<App>, sock: Arc<WsSocket>, binary: bool) -> Self {
        WsDirect { app, sock, binary }
    }
}

impl Direct for WsDirect {
    fn offer(&self, msg: &Arc<Message>) -> Offer {
        let one = std::slice::from_ref(msg);
        let (payload, opcode) = if self.binary {
            (frames::binary_batch(one), OP_BINARY)
        } else {
            (super::websocket::utf8(frames::text_batch(one)), OP_TEXT)
        };
        let (h, n) = ws_codec::header(opcode, payload.len());
        let offer = self
            .sock
            .try_frame(&h[..n], &payload, msg, &self.app.outbound);
        if offer == Offer::Written {
            self.app.ops.delivered(Transport::WebSocket, one, true);
        }
        offer
    }
}
