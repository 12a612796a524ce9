//! bxpush: the Push & Pull server of 1C-Bitrix sites.
//!
//! Layers (each knows only the ones above it in this list):
//! - [`protocol`]: the wire format, no I/O;
//! - [`message`]: one published message and its shared encodings;
//! - [`store`]: history (memory, persisted in a data dir);
//! - [`hub`]: channels → subscribers, fan-out, presence;
//! - [`transport`]: HTTP, long polling, WebSocket, SSE, publish endpoints;
//! - [`handoff`], [`ingress`], [`forward`], [`users`]: the PHP hand-off (shared types and
//!   wire format; the owner's listener; the worker-side forwarder and spool; derived
//!   per-user channels);
//! - [`client_config`]: the config the stock Bitrix JS client gets for a user;
//! - [`config`] and [`runtime`]: settings, and starting and stopping the whole;
//!   [`node_id`]: the name a node goes by in a cluster;
//! - [`logging`], [`listen_policy`]: the log for operators, trusted listeners on loopback;
//! - [`cli`], [`doctor`], [`nginx_snippet`]: the operator's shell commands (`nginx-conf`,
//!   `doctor`, `send`, `stats`; built with the `cli` feature only).
//!
//! `bxpush bench`, the load generator, is the crate `bxpush-bench` (`bench/`).

#[cfg(feature = "cli")]
pub mod cli;
pub mod client_config;
#[cfg(feature = "redis")]
pub mod cluster;
pub mod config;
#[cfg(feature = "cli")]
pub mod doctor;
pub mod forward;
pub mod handoff;
pub mod hub;
pub mod ingress;
pub mod listen_policy;
pub mod logging;
pub mod message;
pub mod nginx_snippet;
pub mod node_id;
pub mod protocol;
pub mod runtime;
pub mod store;
pub mod transport;
pub mod users;
