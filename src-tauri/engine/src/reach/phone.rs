//! "Test from your phone": one-time URLs that prove another device reaches Porch.
//!
//! Owns the live tests (in memory only: nothing is stored in the database), the parsing of
//! a user agent into a browser family ("Android, Chrome"), and the small pages the device
//! sees. A test is a random token, valid [`LIFETIME`], used once: the first device other
//! than this computer to open it marks it reached (its address and browser family), and
//! every later open, or any open after expiry, is refused with a page that says so. Opened
//! from this computer (loopback or one of its own addresses), the page asks for another
//! device and the token stays usable.
//!
//! SECURITY: the token is 128 random bits; the page it opens shows nothing but the test's
//! outcome (no item, no name, no address of this computer) and needs no key. At most
//! [`MAX_TESTS`] tests are kept; the oldest go first.
//!
//! Concurrency: one short std mutex around the map (no `.await` inside); each test's
//! outcome is a `watch` channel, so `porch doctor --wait` and the panel long-poll it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a test URL stays valid.
pub const LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How many tests are kept at once (the oldest is dropped first).
const MAX_TESTS: usize = 32;

/// The path prefix the gateway serves the tests on: `/__porch__/reach/<token>`.
pub const PATH_PREFIX: &str = "/__porch__/reach/";

/// Where a test stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PhoneState {
    /// Nobody opened it yet (or only this computer did).
    Waiting {
        /// Whether this computer opened it (the page asked for another device).
        opened_here: bool,
    },
    /// Another device opened it.
    Reached {
        /// Its address, e.g. `192.168.1.40`.
        peer: String,
        /// Its browser family, e.g. `Android, Chrome`.
        browser: String,
        /// "reached from 192.168.1.40 (Android, Chrome)".
        message: String,
    },
    /// Ten minutes passed with no other device.
    Expired,
}

/// What the gateway shows the device that opened a test URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// It worked: this device reached Porch.
    Reached,
    /// Opened on this computer: try another device.
    ThisComputer,
    /// Used already.
    Used,
    /// Past its ten minutes.
    Expired,
    /// No such test (never made, or Porch restarted).
    Unknown,
}

#[derive(Debug)]
struct Test {
    expires: Instant,
    state: watch::Sender<PhoneState>,
}

/// The live tests. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PhoneTests {
    tests: Arc<Mutex<HashMap<String, Test>>>,
}

impl PhoneTests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Test>> {
        // Short sections with no `.await`; a poisoned map is still a valid map.
        self.tests.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new test valid for `lifetime`; returns its token.
    pub fn create(&self, lifetime: Duration) -> String {
        let token = hex::encode(rand::rng().random::<[u8; 16]>());
        let now = Instant::now();
        let mut tests = self.lock();
        tests.retain(|_, t| t.expires + LIFETIME > now);
        while tests.len() >= MAX_TESTS {
            let oldest = tests.iter().min_by_key(|(_, t)| t.expires).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => tests.remove(&k),
                None => break,
            };
        }
        let state = watch::Sender::new(PhoneState::Waiting { opened_here: false });
        tests.insert(token.clone(), Test { expires: now + lifetime, state });
        token
    }

    /// Whether `token` names a test (live or recently ended); `None` for an unknown one.
    fn receiver(&self, token: &str) -> Option<(Instant, watch::Receiver<PhoneState>)> {
        let tests = self.lock();
        tests.get(token).map(|t| (t.expires, t.state.subscribe()))
    }

    /// The test's state now (expiry applied); `None` for an unknown token.
    pub fn state(&self, token: &str) -> Option<PhoneState> {
        let (expires, rx) = self.receiver(token)?;
        let s = rx.borrow().clone();
        Some(match s {
            PhoneState::Waiting { .. } if Instant::now() >= expires => PhoneState::Expired,
            s => s,
        })
    }

    /// Waits up to `limit` for the test's state to differ from `Waiting { opened_here }`
    /// (the state the caller knows): reached, expired, or opened on this computer when the
    /// caller did not know that yet. Then its state.
    pub async fn wait(&self, token: &str, limit: Duration, opened_here: bool) -> Option<PhoneState> {
        let (expires, mut rx) = self.receiver(token)?;
        let deadline = (Instant::now() + limit).min(expires);
        let changed = |s: &PhoneState| match s {
            PhoneState::Waiting { opened_here: here_now } => *here_now && !opened_here,
            PhoneState::Reached { .. } | PhoneState::Expired => true,
        };
        let _ = tokio::time::timeout_at(deadline, rx.wait_for(changed)).await;
        self.state(token)
    }

    /// A device opened the test URL: `peer` is its address, `this_computer` whether that
    /// address is this computer's, `user_agent` what its browser said.
    pub fn open(&self, token: &str, peer: Option<IpAddr>, this_computer: bool, user_agent: &str) -> Opened {
        let tests = self.lock();
        let Some(test) = tests.get(token) else { return Opened::Unknown };
        let current = test.state.borrow().clone();
        match current {
            PhoneState::Reached { .. } => Opened::Used,
            PhoneState::Expired => Opened::Expired,
            PhoneState::Waiting { .. } if Instant::now() >= test.expires => {
                test.state.send_replace(PhoneState::Expired);
                Opened::Expired
            }
            PhoneState::Waiting { .. } if this_computer || peer.is_none() => {
                test.state.send_replace(PhoneState::Waiting { opened_here: true });
                Opened::ThisComputer
            }
            PhoneState::Waiting { .. } => {
                let peer = peer.map(plain_ip).map(|ip| ip.to_string()).unwrap_or_default();
                let browser = browser_family(user_agent);
                let message = format!("reached from {peer} ({browser})");
                tracing::info!(%message, "phone test");
                test.state.send_replace(PhoneState::Reached { peer, browser, message });
                Opened::Reached
            }
        }
    }
}

/// An IPv4-mapped IPv6 peer as plain IPv4.
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The system and browser a user agent names, e.g. "Android, Chrome" or "iOS, Safari";
/// "unknown browser" when it names neither.
pub fn browser_family(ua: &str) -> String {
    let os = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    let browser = if ua.contains("Edg/") || ua.contains("EdgA/") || ua.contains("EdgiOS/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("CriOS/") || ua.contains("Chrome/") || ua.contains("Chromium/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        ["curl/", "Wget/", "python-requests/"]
            .iter()
            .find(|t| ua.starts_with(*t))
            .map(|tool| tool.trim_end_matches('/'))
    };
    match (os, browser) {
        (Some(o), Some(b)) => format!("{o}, {b}"),
        (None, Some(b)) => b.to_string(),
        (Some(o), None) => format!("{o}, unknown browser"),
        (None, None) => "unknown browser".to_string(),
    }
}

/// The page a device sees, and its status.
pub fn page(opened: &Opened) -> (u16, String) {
    let (status, title, text) = match opened {
        Opened::Reached => (200, "It works", "This device reached Porch over the network. You can close this page: Porch shows the result on the computer that runs it."),
        Opened::ThisComputer => (200, "Opened on the computer running Porch", "This page was opened on the computer Porch runs on, which proves nothing about the network. Open the same address on another device (a phone on the same Wi-Fi), for example by scanning the QR code. The link still works once."),
        Opened::Used => (410, "This test link was used already", "Each test link works once. Start a new test on the computer running Porch."),
        Opened::Expired => (410, "This test link has expired", "Test links are valid for ten minutes. Start a new test on the computer running Porch."),
        Opened::Unknown => (404, "This test link is not valid", "It may be mistyped, or Porch restarted since it was made. Start a new test on the computer running Porch."),
    };
    let (title, text) = (crate::static_site::pages::esc(title), crate::static_site::pages::esc(text));
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Porch</title><style>body{{font:17px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}</style>\
         </head><body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (status, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

    #[test]
    fn browser_families_come_from_the_user_agent() {
        assert_eq!(browser_family(PHONE), "Android, Chrome");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_family(iphone), "iOS, Safari");
        assert_eq!(
            browser_family("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            "Windows, Firefox"
        );
        assert_eq!(browser_family("curl/8.5.0"), "curl");
        assert_eq!(browser_family(""), "unknown browser");
    }

    #[tokio::test(start_paused = true)]
    async fn a_test_is_used_once_and_expires() {
        let tests = PhoneTests::default();
        let peer: IpAddr = "192.168.1.40".parse().expect("ip");
        let token = tests.create(LIFETIME);
        assert_eq!(tests.open(&token, Some("127.0.0.1".parse().expect("ip")), true, PHONE), Opened::ThisComputer);
        assert_eq!(tests.state(&token), Some(PhoneState::Waiting { opened_here: true }));
        // A caller that did not know of the open on this computer is told at once; one that
        // did waits on (here: its whole limit, on the paused clock).
        let before = tokio::time::Instant::now();
        assert_eq!(
            tests.wait(&token, Duration::from_secs(30), false).await,
            Some(PhoneState::Waiting { opened_here: true })
        );
        assert_eq!(before.elapsed(), Duration::ZERO);
        assert_eq!(
            tests.wait(&token, Duration::from_secs(30), true).await,
            Some(PhoneState::Waiting { opened_here: true })
        );
        assert_eq!(before.elapsed(), Duration::from_secs(30));
        assert_eq!(tests.open(&token, Some(peer), false, PHONE), Opened::Reached);
        match tests.wait(&token, Duration::from_secs(1), true).await {
            Some(PhoneState::Reached { message, .. }) => {
                assert_eq!(message, "reached from 192.168.1.40 (Android, Chrome)")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(tests.open(&token, Some(peer), false, PHONE), Opened::Used);
        assert_eq!(tests.open("0123", Some(peer), false, PHONE), Opened::Unknown);

        let late = tests.create(LIFETIME);
        // Waiting ends at expiry, on the paused clock.
        assert_eq!(tests.wait(&late, Duration::from_secs(3600), false).await, Some(PhoneState::Expired));
        assert_eq!(tests.open(&late, Some(peer), false, PHONE), Opened::Expired);
        assert_eq!(page(&Opened::Expired).0, 410);
        assert_eq!(page(&Opened::Used).0, 410);
    }
}
