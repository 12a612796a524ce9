//! Trusted publishing and queries on `/bitrix/pub/` (spec §2.4, 2.5, 2.7): what the
//! Bitrix `pull` module sends. Reachable only on the publish listener (loopback by default).

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::http::{self, Body, BodyError};
use super::{commands, App};
use crate::hub::Publish;
use crate::message::Sender;
use crate::protocol::descriptor::{parse_channel_list, Trust};
use crate::protocol::query::{parse_query, query_param};
use crate::protocol::request::parse_request_batch;
use crate::protocol::{ChannelKey, ErrorCode};

pub async fn serve(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let pairs = parse_query(req.uri().query().unwrap_or(""));
    let binary = query_param(&pairs, "binaryMode") == Some("true");
    let method = req.method().clone();
    let expiry = req
        .headers()
        .get("Message-Expiry")
        .and_then(|v| v.to_str().ok())
        .map(expiry_seconds)
        .unwrap_or(0);
    let channel_id = query_param(&pairs, "CHANNEL_ID").map(str::to_string);
    let body = match http::read_body(
        req.into_body(),
        app.config.max_payload,
        app.config.read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            app.bad_request(413, "publish: body over max_payload");
            return http::too_large();
        }
        Err(BodyError::TimedOut) => {
            app.bad_request(408, "publish: body not received within read_timeout");
            return http::timed_out();
        }
        Err(BodyError::Broken) => return http::error(ErrorCode::WrongRequestData),
    };
    let result = match (method, binary) {
        (Method::POST, true) => protobuf(&app, &body),
        (Method::POST, false) => text(&app, channel_id.as_deref(), body, expiry),
        (Method::GET, _) => channel_stats(&app, channel_id.as_deref(), &body),
        _ => return http::not_found(),
    };
    result.unwrap_or_else(|code| {
        app.bad_request(code.code(), &format!("publish: {}", code.reason()));
        http::error(code)
    })
}

fn receivers(app: &App, list: &str) -> Result<Vec<ChannelKey>, ErrorCode> {
    let ds = parse_channel_list(list, app.signer.as_ref(), Trust::Trusted)?;
    if ds.len() > app.limits.max_channels_per_request {
        return Err(ErrorCode::TooManyChannels);
    }
    Ok(ds.iter().map(|d| ChannelKey::private(d.private)).collect())
}

/// Text mode: the body is opaque (the site checker posts a bare token) and is spliced
/// verbatim into the envelope. `Message-Expiry` ≤ 0 or absent = live only. Text mode has
/// no `type`: the message is counted as `unknown`.
fn text(
    app: &App,
    list: Option<&str>,
    body: Bytes,
    expiry: u32,
) -> Result<Response<Body>, ErrorCode> {
    let receivers = receivers(app, list.unwrap_or(""))?;
    let p = Publish::backend(receivers, body, expiry, String::new());
    app.hub.publish(p).map_err(|e| e.code())?;
    Ok(http::ok_empty())
}

/// `binaryMode=true`: a `RequestBatch` from PHP; `CHANNEL_ID` in the URL is ignored.
fn protobuf(app: &App, body: &[u8]) -> Result<Response<Body>, ErrorCode> {
    let cmd = parse_request_batch(body, Trust::Trusted, app.signer.as_ref(), &app.limits)?;
    Ok(match commands::execute(app, cmd, Some(Sender::Backend))? {
        Some(reply) => http::binary(reply),
        None => http::ok_empty(),
    })
}

/// `GET /bitrix/pub/?CHANNEL_ID=a/b`: `{"infos":[…]}` of the online private channels.
/// The PHP agent may also send the list in a GET body (`CHANNEL_ID=…` form or bare).
fn channel_stats(app: &App, list: Option<&str>, body: &[u8]) -> Result<Response<Body>, ErrorCode> {
    let from_body;
    let list = match list {
        Some(l) if !l.is_empty() => l,
        _ => {
            let text = String::from_utf8_lossy(body);
            let pairs = parse_query(text.trim());
            from_body = query_param(&pairs, "CHANNEL_ID")
                .map(str::to_string)
                .unwrap_or_else(|| text.trim().to_string());
            from_body.as_str()
        }
    };
    if list.split('/').all(str::is_empty) {
        return Err(ErrorCode::NoChannels);
    }
    let keys = receivers(app, list).map_err(|e| match e {
        ErrorCode::WrongChannelId => ErrorCode::InvalidChannelId,
        other => other,
    })?;
    app.hub
        .counters
        .count_request("channelStats", crate::hub::now_unix());
    let infos: Vec<_> = keys
        .iter()
        .filter(|k| app.hub.is_online(k))
        .map(|k| serde_json::json!({"channel": k.id.to_hex(), "subscribers": 1}))
        .collect();
    Ok(http::text(
        StatusCode::OK,
        serde_json::json!({ "infos": infos }).to_string(),
    ))
}

/// `Message-Expiry` as a number the way JavaScript's `Number()` reads it, so
/// `99999999999999999999` and `1e3` are stored (capped to `message_ttl` later) as Node
/// stores them; what is not a positive number is 0 (deliver, do not store).
fn expiry_seconds(v: &str) -> u32 {
    let v = v.trim();
    if let Ok(n) = v.parse::<i64>() {
        return n.clamp(0, u32::MAX as i64) as u32;
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => f.min(u32::MAX as f64) as u32,
        Ok(f) if f == f64::INFINITY => u32::MAX,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_reads_like_a_javascript_number() {
        use super::expiry_seconds as e;
        assert_eq!(e("60"), 60);
        assert_eq!(e(" 60 "), 60);
        assert_eq!(e("99999999999999999999"), u32::MAX);
        assert_eq!(e("1e3"), 1000);
        assert_eq!(e("-5"), 0);
        assert_eq!(e("abc"), 0);
        assert_eq!(e("NaN"), 0);
    }
}
