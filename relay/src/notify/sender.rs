//! Delivers the notifications outbox: every `poll_ms`, the notices due are claimed one by
//! one (a conditional update, so two instances never send one notice at once), sent through
//! their channel, and recorded as `sent`, or retried after a doubling wait, or `failed` after
//! `max_attempts`. A claim lapses after the attempt's timeout, so a notice whose sender died
//! is sent again by another.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use uuid::Uuid;

use super::templates::{self, Language, Rendered};
use super::{feishu, targets};
use crate::config::{NotificationsConfig, SmsConfig, SmtpConfig, SmtpSecurity};
use crate::db::{Db, DbError, Mode, Scope, now_ms};
use crate::store::notifications::{self as store, StoredChannel, StoredNotice};

/// Notices taken per look at the outbox.
const BATCH: i64 = 50;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("notifications.smtp: {0}")]
    Smtp(String),
    #[error("the notices' HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Whose URL a POST goes to.
#[derive(Debug, Clone, Copy)]
enum Hook<'a> {
    /// A tenant's webhook: checked, public addresses only unless allowed.
    Tenants,
    /// The operator's hook, with its bearer token if any.
    Operators(Option<&'a str>),
}

/// What sends notices.
#[derive(Clone)]
pub struct Sender {
    db: Db,
    config: Arc<NotificationsConfig>,
    /// For tenants' webhooks: public addresses only, unless allowed.
    webhooks: reqwest::Client,
    /// For the operator's SMS hook, wherever it is.
    hooks: reqwest::Client,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field(
                "smtp",
                &self.smtp.as_ref().map(|(_, from)| from.to_string()),
            )
            .finish_non_exhaustive()
    }
}

fn smtp_transport(
    smtp: &SmtpConfig,
    timeout: Duration,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), SenderError> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| SenderError::Smtp(format!("from: {e}")))?;
    let host = smtp.host.as_str();
    let builder = match smtp.security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| SenderError::Smtp(e.to_string()))?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| SenderError::Smtp(e.to_string()))?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let port = smtp.port.unwrap_or(match smtp.security {
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    });
    let mut builder = builder.port(port).timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok((builder.build(), from))
}

impl Sender {
    pub fn new(db: Db, config: &NotificationsConfig) -> Result<Sender, SenderError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("dipper-relay/", env!("CARGO_PKG_VERSION")))
        };
        let mut webhooks = client();
        if !config.allow_private_targets {
            webhooks = webhooks.dns_resolver(Arc::new(targets::PublicOnly));
        }
        let smtp = config
            .smtp
            .as_ref()
            .map(|smtp| smtp_transport(smtp, timeout))
            .transpose()?;
        Ok(Sender {
            db,
            config: Arc::new(config.clone()),
            webhooks: webhooks.build()?,
            hooks: client().build()?,
            smtp,
        })
    }

    /// Sends due notices every `poll_ms` until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(error) = self.deliver_due().await {
                        tracing::warn!(%error, "notifications: cannot read the outbox");
                    }
                }
                () = &mut stop => break,
            }
        }
    }

    /// Sends the notices due now, a batch at a time; how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, DbError> {
        let mut attempted = 0;
        loop {
            let now = now_ms();
            let mut tx = self.db.begin(Scope::Platform, Mode::Read).await?;
            let due = store::due(&mut tx, now, BATCH).await?;
            tx.commit().await?;
            let taken = due.len();
            for notice in due {
                if self.deliver(notice).await? {
                    attempted += 1;
                }
            }
            if taken < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(attempted);
            }
        }
    }

    /// Claims, sends and records one notice; false when another sender had it.
    async fn deliver(&self, notice: StoredNotice) -> Result<bool, DbError> {
        let now = now_ms();
        let hold = i64::try_from(self.config.timeout_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(2);
        let mut tx = self.db.begin(Scope::Platform, Mode::Write).await?;
        let claimed = store::claim(&mut tx, notice.id, (now, now.saturating_add(hold))).await?;
        let channel = if claimed {
            store::channel(&mut tx, notice.tenant_id, notice.channel_id).await?
        } else {
            None
        };
        tx.commit().await?;
        if !claimed {
            return Ok(false);
        }
        let outcome = match channel {
            Some(channel) => self.send(&notice, &channel).await,
            None => Err("the channel was removed".to_owned()),
        };
        let attempts = u32::try_from(notice.attempts)
            .unwrap_or(0)
            .saturating_add(1);
        let mut tx = self.db.begin(Scope::Platform, Mode::Write).await?;
        match &outcome {
            Ok(()) => store::mark_sent(&mut tx, notice.id, now_ms()).await?,
            Err(error) => {
                let retry_at = (attempts < self.config.max_attempts)
                    .then(|| now_ms().saturating_add(self.wait_after(attempts)));
                store::mark_failed(&mut tx, notice.id, error, retry_at).await?;
            }
        }
        tx.commit().await?;
        match outcome {
            Ok(()) => {
                metrics::counter!("dipper_relay_notifications_total", "outcome" => "sent")
                    .increment(1);
                tracing::info!(notice = %notice.id, event = %notice.event, "notice sent");
            }
            Err(error) => {
                let outcome = if attempts < self.config.max_attempts {
                    "retried"
                } else {
                    "failed"
                };
                metrics::counter!("dipper_relay_notifications_total", "outcome" => outcome)
                    .increment(1);
                tracing::warn!(notice = %notice.id, event = %notice.event, attempts, %error, outcome, "a notice was not sent");
            }
        }
        Ok(true)
    }

    /// The wait after the `attempts`-th failure, ms: `retry_min_ms` doubled per failure
    /// after the first, at most `retry_max_ms`, less up to a tenth at random so that many
    /// notices failing together do not retry together.
    fn wait_after(&self, attempts: u32) -> i64 {
        let doubled = self
            .config
            .retry_min_ms
            .saturating_mul(1_u64 << attempts.saturating_sub(1).min(40));
        let wait = doubled.min(self.config.retry_max_ms);
        let jitter = rand::random::<u64>() % (wait / 10 + 1);
        i64::try_from(wait - jitter).unwrap_or(i64::MAX)
    }

    async fn send(&self, notice: &StoredNotice, channel: &StoredChannel) -> Result<(), String> {
        let facts: Value = serde_json::from_str(&notice.facts)
            .map_err(|e| format!("the notice's facts are not JSON: {e}"))?;
        let language = Language::parse(&channel.language).unwrap_or(Language::Zh);
        let rendered = templates::render(&notice.event, &facts, language)
            .ok_or_else(|| format!("no template for {}", notice.event))?;
        match channel.kind.as_str() {
            "email" => self.email(&channel.target, &rendered).await,
            "feishu" => self.feishu(channel, &rendered).await,
            "sms" => self.sms(notice, &channel.target, &rendered).await,
            other => Err(format!("unknown channel kind {other}")),
        }
    }

    async fn email(&self, to: &str, rendered: &Rendered) -> Result<(), String> {
        let Some((transport, from)) = &self.smtp else {
            return Err("this relay has no [notifications.smtp]".to_owned());
        };
        let to: Mailbox = to.parse().map_err(|e| format!("to: {e}"))?;
        let body = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::Base64)
            .body(rendered.text.clone());
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(format!("<{}@dipper-relay>", Uuid::new_v4())))
            .singlepart(body)
            .map_err(|e| format!("the message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// POSTs `body` to `url`; the answer's JSON, or null.
    async fn post(&self, url: &str, body: &Value, hook: Hook<'_>) -> Result<Value, String> {
        let mut request = match hook {
            Hook::Tenants => {
                let url = targets::webhook_url(url, self.config.allow_private_targets)?;
                self.webhooks.post(url)
            }
            Hook::Operators(_) => self.hooks.post(url),
        }
        .json(body);
        if let Hook::Operators(Some(token)) = hook {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| format!("POST: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the hook answered {status}"));
        }
        let text = response
            .text()
            .await
            .map_err(|e| format!("the answer: {e}"))?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn feishu(&self, channel: &StoredChannel, rendered: &Rendered) -> Result<(), String> {
        let text = format!("{}\n{}", rendered.subject, rendered.text);
        let now = jiff::Timestamp::now().as_second();
        let body = feishu::body(&text, channel.secret.as_deref(), now);
        let answer = self.post(&channel.target, &body, Hook::Tenants).await?;
        match feishu::refusal(&answer) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    async fn sms(
        &self,
        notice: &StoredNotice,
        to: &str,
        rendered: &Rendered,
    ) -> Result<(), String> {
        let Some(SmsConfig { url, token }) = &self.config.sms else {
            return Err("this relay has no [notifications.sms]".to_owned());
        };
        let body = json!({
            "to": to,
            "text": rendered.text,
            "event": notice.event,
            "tenant_id": notice.tenant_id,
        });
        self.post(url, &body, Hook::Operators(token.as_deref()))
            .await
            .map(|_| ())
    }
}
