//! Which device a logged-in session was last used from (`SESSION_RECORD_DEVICES`,
//! `SESSION_CLIENT_IP_HEADER`): what a "your sessions" page shows.

use std::net::{IpAddr, SocketAddr};

use http::{header, HeaderMap, HeaderName};

/// The longest `User-Agent` kept, in bytes (cut at a character boundary): enough to tell
/// browsers apart, too little to bloat every record of a user.
pub const MAX_USER_AGENT: usize = 256;

/// Whether and how sessions with a user note the device that last saved them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRecording {
    /// Note the `User-Agent` and client address.
    pub on: bool,
    /// The header a trusted reverse proxy puts the client's address in (`X-Forwarded-For`,
    /// whose last entry is the one the proxy appended, or `X-Real-IP`); `None`: the peer
    /// address of the connection (axum's `ConnectInfo<SocketAddr>`, with the `axum` feature).
    pub client_ip_header: Option<HeaderName>,
}

/// A device as a request shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Device {
    pub(crate) agent: Option<String>,
    pub(crate) client: Option<String>,
}

impl DeviceRecording {
    /// The device of a request with `headers`, whose connection came from `peer`; nothing when
    /// recording is off. A header that is not a valid address gives no client.
    pub(crate) fn device(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<Device> {
        if !self.on {
            return None;
        }
        let agent = headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|s| truncate(s.trim(), MAX_USER_AGENT).to_owned())
            .filter(|s| !s.is_empty());
        let client = match &self.client_ip_header {
            Some(name) => headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|s| s.trim().parse::<IpAddr>().ok()),
            None => peer.map(|p| p.ip()),
        };
        Some(Device {
            agent,
            client: client.map(|ip| ip.to_string()),
        })
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_proxy_header_s_last_entry_is_the_client() {
        let rec = DeviceRecording {
            on: true,
            client_ip_header: Some(HeaderName::from_static("x-forwarded-for")),
        };
        let h = headers(&[
            ("user-agent", "Firefox/130"),
            ("x-forwarded-for", "203.0.113.9, 198.51.100.1"),
            ("x-forwarded-for", "192.0.2.44"),
        ]);
        let d = rec
            .device(&h, Some("127.0.0.1:9".parse().unwrap()))
            .unwrap();
        assert_eq!(d.agent.as_deref(), Some("Firefox/130"));
        assert_eq!(
            d.client.as_deref(),
            Some("192.0.2.44"),
            "a client can prepend entries; only the proxy's last one counts"
        );
        let forged = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(rec.device(&forged, None).unwrap().client, None);
    }

    #[test]
    fn the_peer_address_without_a_header_and_nothing_when_off() {
        let rec = DeviceRecording {
            on: true,
            client_ip_header: None,
        };
        let d = rec
            .device(
                &headers(&[("user-agent", &"é".repeat(300))]),
                Some("[::1]:80".parse().unwrap()),
            )
            .unwrap();
        assert_eq!(d.client.as_deref(), Some("::1"));
        assert!(d.agent.unwrap().len() <= MAX_USER_AGENT);
        assert_eq!(
            DeviceRecording::default().device(&HeaderMap::new(), None),
            None
        );
    }
}
