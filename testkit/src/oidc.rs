//! A real OpenID Connect provider on loopback for the console's sign-in tests: panva's
//! `oidc-provider` (npm, installed with `testkit/oidc/provider.mjs` into `.cache/oidc` by
//! scripts/lib/setup.sh), with its development sign-in pages (any login name), one public
//! client using the authorization code flow with PKCE, and JWT access tokens for the relay's
//! audience carrying `dipper_tenant` and `dipper_roles` per account, as Keycloak issues them
//! with its mappers.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running provider, stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    pub setup: OidcSetup,
}

/// Claims an account's access tokens carry: its tenant (none for a platform admin) and roles.
#[derive(Debug, Clone)]
pub struct OidcAccount {
    pub login: String,
    pub tenant: Option<String>,
    pub roles: Vec<String>,
}

/// A provider to be: its port chosen, so the relay can be configured before the provider
/// learns the console's address (its redirect URI).
#[derive(Debug, Clone)]
pub struct OidcSetup {
    port: u16,
    /// The client id of the console.
    pub client_id: String,
    /// The audience its access tokens carry.
    pub audience: String,
}

impl Default for OidcSetup {
    fn default() -> Self {
        OidcSetup::new()
    }
}

impl OidcSetup {
    pub fn new() -> OidcSetup {
        OidcSetup {
            port: crate::free_port(),
            client_id: "dipper-console".to_owned(),
            audience: "dipper-relay".to_owned(),
        }
    }

    /// `http://127.0.0.1:<port>`: its issuer.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The relay's `[oidc]` section for this provider, the console's client included.
    pub fn relay_toml(&self) -> String {
        format!(
            "[oidc]\nissuer = \"{issuer}\"\naudience = \"{aud}\"\njwks_url = \"{issuer}/jwks\"\n\
             console_client_id = \"{client}\"\n",
            issuer = self.issuer(),
            aud = self.audience,
            client = self.client_id,
        )
    }

    /// Starts the provider for a console at `redirect` (its `/console/` address), with
    /// `accounts`; returns once it serves.
    pub fn start(self, redirect: &str, accounts: &[OidcAccount]) -> OidcProvider {
        let dir = crate::repo().join(".cache/oidc");
        let script = dir.join("provider.mjs");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir() && script.is_file(),
            "{} is missing: run scripts/test or scripts/demo once (scripts/lib/setup.sh's \
             dipper_prepare_oidc installs it)",
            dir.display()
        );
        let claims: serde_json::Map<String, Value> = accounts
            .iter()
            .map(|a| {
                let mut c = json!({ "dipper_roles": a.roles });
                if let Some(tenant) = &a.tenant {
                    c["dipper_tenant"] = json!(tenant);
                }
                (a.login.clone(), c)
            })
            .collect();
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_CLIENT_ID", &self.client_id)
            .env("OIDC_REDIRECTS", redirect)
            .env("OIDC_AUDIENCE", &self.audience)
            .env("OIDC_ACCOUNTS", Value::Object(claims).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the OpenID Connect provider");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("listening ") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            panic!("the OpenID Connect provider did not start (exit: {status:?})");
        }
        OidcProvider { child, setup: self }
    }
}

impl OidcProvider {
    pub fn issuer(&self) -> String {
        self.setup.issuer()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
