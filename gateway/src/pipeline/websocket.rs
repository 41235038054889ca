//! WebSocket: the upgrade request goes to the backend with its upgrade headers; once the backend
//! switches protocols, bytes are copied both ways until either side closes.

use http::{HeaderMap, HeaderValue, header};
use hyper_util::rt::TokioIo;

use crate::http1::server::OnUpgrade;

/// Whether a request asks to upgrade to WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

/// Puts back the upgrade headers the hop-by-hop filter removed; `protocol` is the client's `Upgrade`.
pub fn keep_upgrade_headers(protocol: HeaderValue, backend: &mut HeaderMap) {
    backend.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    backend.insert(header::UPGRADE, protocol);
}

/// Copies bytes between the client and the backend once both connections are upgraded.
pub fn tunnel(client: OnUpgrade, backend: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (mut client, backend) =
            match tokio::try_join!(client, async { backend.await.map_err(std::io::Error::other) }) {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "WebSocket upgrade failed");
                    return;
                }
            };
        let mut backend = TokioIo::new(backend);
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!(%error, "WebSocket tunnel ended");
        }
    });
}
