//! Where a channel may send: an e-mail address, an http(s) webhook URL, a phone number; and,
//! unless `notifications.allow_private_targets` is set, never into the relay's own network.
//! A tenant's admin writes the webhook URL, so the relay would otherwise post wherever they
//! point it (a server-side request forgery): hosts given as addresses are checked here, and
//! names are resolved by [`PublicOnly`], which drops loopback, private, link-local and other
//! non-public addresses, so a name pointing inside fails as a name with no address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // 0.0.0.0/8 and the reserved 240.0.0.0/4.
        || a == 0
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// The URL of a webhook or hook, checked: http or https, a host, and (unless `private` is
/// allowed) not an address outside the public internet.
pub fn webhook_url(text: &str, private: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    let Some(name) = url.host_str() else {
        return Err("must name a host".to_owned());
    };
    let host = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if host.is_none() && !private && (name == "localhost" || name.ends_with(".localhost")) {
        return Err("must not point at the relay's own host".to_owned());
    }
    if let Some(ip) = host
        && !private
        && !is_public(ip)
    {
        return Err(format!("{ip} is not a public address"));
    }
    Ok(url)
}

/// An e-mail address, checked.
pub fn email(text: &str) -> Result<String, String> {
    let address: lettre::Address = text
        .trim()
        .parse()
        .map_err(|e| format!("not an e-mail address: {e}"))?;
    Ok(address.to_string())
}

/// A phone number: an optional `+`, then 5 to 20 digits (spaces and dashes dropped).
pub fn phone(text: &str) -> Result<String, String> {
    let kept: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(kept)
    } else {
        Err("a phone number: an optional + then 5 to 20 digits".to_owned())
    }
}

/// A resolver that gives only public addresses (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                let message = format!("{host} has no public address");
                return Err(message.into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_inside_are_not_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = inside.parse().expect("an address");
            assert!(!is_public(ip), "{inside}");
        }
        for outside in ["1.1.1.1", "203.0.114.1", "2606:4700::1111"] {
            let ip: IpAddr = outside.parse().expect("an address");
            assert!(is_public(ip), "{outside}");
        }
    }

    #[test]
    fn a_webhook_inside_is_refused_unless_allowed() {
        let metadata = "http://169.254.169.254/latest/meta-data";
        assert!(webhook_url(metadata, false).is_err());
        assert!(webhook_url("http://localhost:8080/hook", false).is_err());
        assert!(webhook_url("http://[::1]/hook", false).is_err());
        assert!(webhook_url("http://127.0.0.1:9/hook", true).is_ok());
        let feishu = "https://open.feishu.cn/open-apis/bot/v2/hook/abc";
        assert!(webhook_url(feishu, false).is_ok());
        assert!(webhook_url("ftp://example.com/x", true).is_err());
        assert!(webhook_url("https://user:pw@example.com/x", true).is_err());
        assert!(webhook_url("not a url", true).is_err());
    }

    #[test]
    fn emails_and_phones_are_checked() {
        assert_eq!(email(" ops@example.com ").as_deref(), Ok("ops@example.com"));
        assert!(email("ops@").is_err());
        assert_eq!(phone("+86 138-0013-8000").as_deref(), Ok("+8613800138000"));
        assert!(phone("call me").is_err());
        assert!(phone("+1234").is_err());
    }
}
