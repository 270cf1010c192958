//! Request rate limits per user and per tenant, login attempts per client address, and device
//! activations per client address and per device: token buckets (GCRA, from `governor`) kept
//! in this process's memory. The user and tenant buckets are checked after authentication,
//! the login and activation buckets before the request touches the database. A request over
//! a limit is refused with 429 and a `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Principal;
use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};

/// The per-user and per-tenant buckets.
#[derive(Debug)]
pub struct RateLimits {
    per_user: DefaultKeyedRateLimiter<String>,
    per_tenant: DefaultKeyedRateLimiter<String>,
    logins_per_address: DefaultKeyedRateLimiter<String>,
    activations_per_address: DefaultKeyedRateLimiter<String>,
    activations_per_device: DefaultKeyedRateLimiter<uuid::Uuid>,
    clock: DefaultClock,
}

fn quota_per_minute(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
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
            logins_per_address: RateLimiter::keyed(quota_per_minute(
                config.login_per_address_per_minute,
                config.login_per_address_burst,
            )),
            activations_per_address: RateLimiter::keyed(quota_per_minute(
                config.activate_per_address_per_minute,
                config.activate_per_address_burst,
            )),
            activations_per_device: RateLimiter::keyed(quota_per_minute(
                config.activate_per_device_per_minute,
                config.activate_per_device_burst,
            )),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from the caller's buckets, or says how long to wait.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        if let Err(not_until) = self.per_user.check_key(&principal.actor) {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(ApiError::too_many_requests(
                ErrorCode::RateLimited,
                "too many requests from this user; slow down",
                wait.as_secs() + 1,
            ));
        }
        if let Some(tenant) = principal.tenant_id
            && let Err(not_until) = self.per_tenant.check_key(&tenant.to_string())
        {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(ApiError::too_many_requests(
                ErrorCode::RateLimited,
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
                    ErrorCode::RateLimited,
                    "too many login attempts from this address; slow down",
                    not_until.wait_time_from(self.clock.now()).as_secs() + 1,
                )
            })
    }

    /// Takes one activation attempt from `address`'s bucket and from `device`'s, or says
    /// how long to wait. The address is checked first, so one client cannot spend every
    /// device's attempts; the device's bucket bounds guessing one key from many addresses.
    pub fn check_activation(&self, address: &str, device: uuid::Uuid) -> Result<(), ApiError> {
        if let Err(not_until) = self.activations_per_address.check_key(&address.to_owned()) {
            return Err(ApiError::too_many_requests(
                ErrorCode::RateLimited,
                "too many device activations from this address; slow down",
                not_until.wait_time_from(self.clock.now()).as_secs() + 1,
            ));
        }
        if let Err(not_until) = self.activations_per_device.check_key(&device) {
            return Err(ApiError::too_many_requests(
                ErrorCode::RateLimited,
                "too many activation attempts for this device; slow down",
                not_until.wait_time_from(self.clock.now()).as_secs() + 1,
            ));
        }
        Ok(())
    }

    /// Forgets buckets that are full again, so memory follows the active callers.
    pub fn retain_recent(&self) {
        self.per_user.retain_recent();
        self.per_tenant.retain_recent();
        self.logins_per_address.retain_recent();
        self.activations_per_address.retain_recent();
        self.activations_per_device.retain_recent();
    }
}
