//! `ResponseStatus` (the answer to a failed or refused request), `userCheck` (the body a
//! device sends with a 401, telling how many attempts are left or how long it stays locked)
//! and `DeviceStatus` (`/ISAPI/System/status`: clock, uptime, CPU and memory).

use serde::{Deserialize, Serialize};

/// A device's answer to a request it did not carry out (or, with status code 1, did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(
        rename = "requestURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_url: Option<String>,
    /// 1 OK, 2 Device Busy, 3 Device Error, 4 Invalid Operation, 5 Invalid XML Format,
    /// 6 Invalid XML Content, 7 Reboot Required.
    pub status_code: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_string: Option<String>,
    /// e.g. `deviceBusy`, `notSupport`, `lowPrivilege`, `badAuthorization`, `badXmlContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status_code: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

impl ResponseStatus {
    /// A status as the simulator and tests build it.
    pub fn new(request_url: &str, status_code: u32, status_string: &str, sub: &str) -> Self {
        ResponseStatus {
            version: Some("1.0".to_owned()),
            xmlns: Some(super::ISAPI_NAMESPACE.to_owned()),
            request_url: Some(request_url.to_owned()),
            status_code,
            status_string: Some(status_string.to_owned()),
            sub_status_code: Some(sub.to_owned()),
            error_code: None,
            error_msg: None,
        }
    }

    /// The sub-status code, or "" when the device sent none.
    pub fn sub_status(&self) -> &str {
        self.sub_status_code.as_deref().unwrap_or("").trim()
    }

    /// Whether this status reports success (status code 1, or 0 on some firmware).
    pub fn is_ok(&self) -> bool {
        self.status_code <= 1 && matches!(self.sub_status(), "" | "ok")
    }
}

/// The body some firmware sends with a 401: remaining attempts and the lockout state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCheck {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_value: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_string: Option<String>,
    /// `lock` while the client address is locked out, `unlock` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_status: Option<String>,
    /// Seconds until the lock is lifted.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unlock_time: Option<u64>,
    /// Attempts left before the address is locked.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_login_time: Option<u32>,
}

impl UserCheck {
    pub fn is_locked(&self) -> bool {
        self.lock_status.as_deref().map(str::trim) == Some("lock")
    }
}

/// `/ISAPI/System/status`: what a device says about its own health. Third-party clients
/// probe it first to see whether a device answers; every part is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    /// The device's wall clock with its offset, e.g. `2026-11-24T12:00:00+08:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_device_time: Option<String>,
    /// Seconds since the device started.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub device_up_time: Option<u64>,
    #[serde(rename = "CPUList", default, skip_serializing_if = "Option::is_none")]
    pub cpu_list: Option<CpuList>,
    #[serde(
        rename = "MemoryList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_list: Option<MemoryList>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuList {
    #[serde(rename = "CPU", default)]
    pub cpus: Vec<Cpu>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_description: Option<String>,
    /// Percent.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_utilization: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryList {
    #[serde(rename = "Memory", default)]
    pub memories: Vec<Memory>,
}

/// Sizes in MB, with a fraction as devices write them (`210.500000`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_usage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_available: Option<String>,
}
