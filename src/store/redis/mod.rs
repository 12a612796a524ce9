//! The Redis engine's foundation (several nodes, issue 9): the Node push-server 2.x key
//! layout and the operations on it. Not wired into the hub yet; see DESIGN.md
//! "Several nodes (Redis)" for how it will be.
//!
//! - [`layout`]: key names and value encodings of spec §9.1 (no I/O);
//! - [`url`]: the `redis://` / `redis+unix://` URL, checked before connecting;
//! - [`backoff`]: reconnection delays;
//! - [`conn`]: a connection and the engine's operations expressed on the layout;
//! - [`notifications`]: the `pushserver:*` pub/sub stream;
//! - [`watches`]: tag watches shared by the owners (bxpush's own keys).

pub mod backoff;
pub mod conn;
pub mod layout;
pub mod notifications;
pub mod url;
pub mod watches;

pub use backoff::Backoff;
pub use conn::RedisConn;
pub use notifications::{Notifications, Notified};
pub use url::{BadRedisUrl, RedisAddr, RedisUrl};
