//! Test support: a connected pair of loopback TCP sockets (server side, peer side), for
//! the unit tests of the raw socket paths (`sub_conn`, `websocket`, `ws_socket`).

use tokio::net::{TcpListener, TcpStream};

/// `(server, peer)`: the accepted side and the connecting side of one loopback connection.
pub async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    (server, peer)
}
