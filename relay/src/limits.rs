//! Request rate limits per user and per tenant, and login attempts per client address: token
//! buckets (GCRA, from `governor`) kept in this process's memory. The user and tenant
//! buckets are checked after authentication, the address bucket before a login touches the
//! database. A request over a limit is refused with 429 and a `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Principal;
use crate::config::LimitsConfig;
use crate::error::ApiError;

/// The per-user and per-tenant buckets.
#[derive(Debug)]
pub struct RateLimits {
    per_user: DefaultKeyedRateLimiter<String>,
    per_tenant: DefaultKeyedRateLimiter<String>,
    logins_per_address: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

impl RateLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            per_user: RateLimiter::keyed(quota(config.per_user_per_second, config.per_user_burst)),
            per_tenant: RateLimiter::keyed(quota(
                config.per_tenant_per_second,
                config.per_tenant_burst,
            )),
            logins_per_address: RateLimiter::keyed(
                Quota::per_minute(
                    NonZeroU32::new(config.login_per_address_per_minute).unwrap_or(NonZeroU32::MIN),
                )
                .allow_burst(
                    NonZeroU32::new(config.login_per_address_burst).unwrap_or(NonZeroU32::MIN),
                ),
            ),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from the caller's buckets, or says how long to wait.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        if let Err(not_until) = self.per_user.check_key(&principal.actor) {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(ApiError::too_many_requests(
                "rate_limited",
                "too many requests from this user; slow down",
                wait.as_secs() + 1,
            ));
        }
        if let Some(tenant) = principal.tenant_id
            && let Err(not_until) = self.per_tenant.check_key(&tenant.to_string())
        {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(ApiError::too_many_requests(
                "rate_limited",
                "too many requests from this tenant; slow down",
                wait.as_secs() + 1,
            ));
        }
        Ok(())
    }

    /// Takes one login attempt from `address`'s bucket, or says how long to wait.
    pub fn check_login(&self, address: &str) -> Result<(), ApiError> {
        self.logins_per_address
            .check_key(&address.to_owned())
            .map_err(|not_until| {
                ApiError::too_many_requests(
                    "rate_limited",
                    "too many login attempts from this address; slow down",
                    not_until.wait_time_from(self.clock.now()).as_secs() + 1,
                )
            })
    }

    /// Forgets buckets that are full again, so memory follows the active callers.
    pub fn retain_recent(&self) {
        self.per_user.retain_recent();
        self.per_tenant.retain_recent();
        self.logins_per_address.retain_recent();
    }
}
