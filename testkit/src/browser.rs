//! A real headless Chromium for the local page's tests: Debian's `chromedriver` started on a
//! free port, one fantoccini WebDriver session on it, at a desktop width or as a 375 px
//! phone (Chromium's mobile emulation, the only way below its 500 px window minimum), in a
//! chosen language. Screenshots go under the test's output folder.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub use fantoccini::Locator;
use fantoccini::{Client, ClientBuilder, elements::Element};
use serde_json::{Value, json};

/// How the page is looked at.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A 1280 x 900 desktop window.
    Desktop,
    /// A 375 x 812 phone (CSS pixels).
    Phone,
}

/// A WebDriver session on its own chromedriver; both end when dropped (or [`Browser::close`]).
pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    /// Chromium's profile, removed with the browser.
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("shots", &self.shots)
            .finish_non_exhaustive()
    }
}

/// How long a wait for an element lasts.
pub const WAIT: Duration = Duration::from_secs(30);

impl Browser {
    /// Starts chromedriver and a headless Chromium preferring `language` (`en-US`,
    /// `zh-CN`); screenshots go to `shots`.
    pub async fn start(screen: Screen, language: &str, shots: PathBuf) -> Browser {
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        let port = crate::broker::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) runs");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", format!("--lang={language}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": { "intl.accept_languages": language },
        });
        if let Screen::Phone = screen {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2.0, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 14) Mobile",
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            driver,
            shots,
            _profile: profile,
        }
    }

    /// Waits for the element `css` matches.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {WAIT:?}: {e}"))
    }

    /// Waits until `script` (a function body returning a value) returns something truthy;
    /// that value.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        self.until_within(what, script, WAIT).await
    }

    /// [`Browser::until`] with a wait of `within` instead of [`WAIT`] (a box searching its
    /// footage takes longer).
    pub async fn until_within(&self, what: &str, script: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let body = self
                    .client
                    .execute(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await
                    .unwrap_or(Value::Null);
                panic!("{what}: not so within {within:?}; the page shows: {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks `css`; found again if the view redrew it between finding and clicking (a
    /// stale reference), a few times.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
                Err(e) => panic!("click {css}: {e}"),
            }
        }
        panic!("click {css}: the element kept being redrawn");
    }

    /// Visible text of `css`, read in the page in one step once the element is there (so a
    /// view redrawing between finding it and reading it cannot leave a stale reference).
    pub async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? {{ text: e.innerText }} : null",
            Value::String(css.to_owned())
        );
        let found = self.until(&format!("{css} shown"), &script).await;
        found["text"].as_str().unwrap_or_default().to_owned()
    }

    /// Saves a PNG of the page as `<shots>/<name>.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// The bytes the page transferred (the document and every resource but images), and
    /// its first contentful paint in ms, as the browser measured them.
    pub async fn weight_and_first_paint(&self) -> (u64, f64) {
        let value = self
            .client
            .execute(
                "const nav = performance.getEntriesByType('navigation')[0];
                 let bytes = nav ? (nav.transferSize || nav.encodedBodySize) : 0;
                 for (const r of performance.getEntriesByType('resource')) {
                   if (r.initiatorType !== 'img') bytes += (r.transferSize || r.encodedBodySize);
                 }
                 const paint = performance.getEntriesByName('first-contentful-paint')[0];
                 return [bytes, paint ? paint.startTime : -1];",
                vec![],
            )
            .await
            .expect("performance entries");
        (
            value[0].as_u64().unwrap_or(0),
            value[1].as_f64().unwrap_or(-1.0),
        )
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
