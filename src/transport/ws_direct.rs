//! The WebSocket side of the writer pass (issue 11, item 1): a publish's fan-out hands a
//! message to [`WsDirect::offer`] under the subscriber's queue lock, when nothing is queued
//! ahead of it and the connection's task is not writing. The frame, header and payload,
//! is built once per message and kind (text or binary: `Message::frame`) and written to
//! each socket with one plain non-blocking `send`: no task wake-up, no `Notify`, no copy,
//! no encoding per socket. A socket that takes nothing declines (the message is queued,
//! the task wakes as before); one that takes part keeps the rest (`ws_socket::Rest`) for
//! its task.

use std::sync::Arc;

use bytes::Bytes;

use super::frames;
use super::ops_counters::Transport;
use super::ws_codec::{self, OP_BINARY, OP_TEXT};
use super::ws_socket::WsSocket;
use super::App;
use crate::hub::subscriber::{Direct, Offer};
use crate::message::{FrameKind, Message};

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
        let frame = if self.binary {
            msg.frame(FrameKind::WsBinary, || {
                let payload = frames::binary_batch(std::slice::from_ref(msg));
                Bytes::from(ws_codec::data_frame(OP_BINARY, &payload))
            })
        } else {
            msg.frame(FrameKind::WsText, || {
                let payload = super::websocket::utf8(frames::text_batch(std::slice::from_ref(msg)));
                Bytes::from(ws_codec::data_frame(OP_TEXT, &payload))
            })
        };
        let offer = self.sock.try_frame(frame, msg, &self.app.outbound);
        if offer == Offer::Written {
            self.app
                .ops
                .delivered(Transport::WebSocket, std::slice::from_ref(msg), true);
        }
        offer
    }
}
