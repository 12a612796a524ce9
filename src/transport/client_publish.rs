//! Untrusted client requests (spec §2.6): a protobuf `RequestBatch` from a browser, over
//! WebSocket or `POST /bitrix/rest/` (also `/bitrix/pubweb/`). Clients may publish to
//! public channels only, with each receiver signed, and ask which public channels are online.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::http::{self, Body, BodyError};
use super::{commands, subscribe, App};
use crate::message::Sender;
use crate::protocol::request::parse_request_batch;
use crate::protocol::{ChannelId, ErrorCode, Trust};

/// Handle one request frame; `Ok(Some(bytes))` is a binary reply to send back.
/// `publisher` is the first public id of the connection's own channels.
pub fn handle(
    app: &App,
    publisher: Option<ChannelId>,
    body: &[u8],
) -> Result<Option<Vec<u8>>, ErrorCode> {
    let cmd = parse_request_batch(body, Trust::Untrusted, app.signer.as_ref(), &app.limits)?;
    commands::execute(app, cmd, publisher.map(Sender::Client))
}

/// `POST /bitrix/rest/?CHANNEL_ID=<signed private:public>[/…]` with a binary body.
pub async fn serve_http(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let sub = match subscribe::parse(req.uri().query(), app.signer.as_ref()) {
        Ok(s) => s,
        Err(_) => {
            app.bad_request(
                ErrorCode::PublicChannelIdRequired.code(),
                "client publish: no signed public channel in CHANNEL_ID",
            );
            return http::error(ErrorCode::PublicChannelIdRequired);
        }
    };
    let Some(publisher) = sub.publisher else {
        app.bad_request(
            ErrorCode::PublicChannelIdRequired.code(),
            "client publish: no public channel in CHANNEL_ID",
        );
        return http::error(ErrorCode::PublicChannelIdRequired);
    };
    let body = match http::read_body(
        req.into_body(),
        app.config.max_payload,
        app.config.read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return http::too_large(),
        Err(BodyError::TimedOut) => {
            app.bad_request(408, "client publish: body not received within read_timeout");
            return http::timed_out();
        }
        Err(BodyError::Broken) => return http::error(ErrorCode::WrongRequestData),
    };
    match handle(&app, Some(publisher), &body) {
        Ok(Some(reply)) => http::binary(reply),
        Ok(None) => http::ok_empty(),
        Err(code) => {
            app.bad_request(code.code(), &format!("client publish: {}", code.reason()));
            http::error(code)
        }
    }
}
