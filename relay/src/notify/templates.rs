//! The notices' words, in Chinese and English, made from an event's facts when the notice is
//! sent. Facts are JSON written by the change (amounts in minor units with their currency,
//! instants in Unix ms with the tenant's zone); a fact missing from an older notice reads
//! as `?`, never a failure.

use serde_json::Value;

use crate::metering::zones;

/// A notice's subject (e-mail) and text (every channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
}

/// `zh` or `en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

impl Language {
    pub fn parse(text: &str) -> Option<Language> {
        match text {
            "zh" => Some(Language::Zh),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

fn text<'a>(facts: &'a Value, key: &str) -> &'a str {
    facts.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// An amount of the facts: `amount_key` in minor units of the facts' `currency`.
fn money(facts: &Value, amount_key: &str) -> String {
    let amount = facts.get(amount_key).and_then(Value::as_i64);
    let currency = facts
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|code| billing::Currency::new(code).ok());
    match (amount, currency) {
        (Some(minor), Some(currency)) => billing::Money::new(minor, currency).to_string(),
        _ => "?".to_owned(),
    }
}

/// An instant of the facts (Unix ms) in the facts' `time_zone`.
fn local(facts: &Value, key: &str) -> Option<jiff::Zoned> {
    let zone = zones::zone_or_default(text(facts, "time_zone"));
    facts
        .get(key)
        .and_then(Value::as_i64)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|at| at.to_zoned(zone))
}

/// An instant of the facts as a local time of the facts' `time_zone`.
fn local_time(facts: &Value, key: &str) -> String {
    local(facts, key).map_or_else(
        || "?".to_owned(),
        |at| at.strftime("%Y-%m-%d %H:%M %Z").to_string(),
    )
}

/// An instant of the facts as a local date of the facts' `time_zone`.
fn local_date(facts: &Value, key: &str) -> String {
    local(facts, key).map_or_else(|| "?".to_owned(), |at| at.date().to_string())
}

fn numbers(facts: &Value) -> String {
    facts
        .get("invoices")
        .and_then(Value::as_array)
        .map(|numbers| {
            numbers
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|joined| !joined.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// The notice of `event` in `language`; `None` for an event this build does not know.
pub fn render(event: &str, facts: &Value, language: Language) -> Option<Rendered> {
    let words = match event {
        super::INVOICE_ISSUED => invoice_issued,
        super::PAYMENT_RECEIVED => payment_received,
        super::TENANT_OVERDUE => tenant_overdue,
        super::TENANT_SUSPENDED => tenant_suspended,
        super::TENANT_RESTORED => tenant_restored,
        super::DEVICE_OFFLINE => device_offline,
        _ => return None,
    };
    let (subject, text) = words(facts, text(facts, "tenant_name"), language);
    Some(Rendered { subject, text })
}

/// `invoice.issued`: the number, the period, the total and the due date.
fn invoice_issued(facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            format!(
                "Invoice {} for {}",
                text(facts, "number"),
                text(facts, "period")
            ),
            format!(
                "{tenant}: invoice {} for {} was issued, {} due by {}.",
                text(facts, "number"),
                text(facts, "period"),
                money(facts, "total_minor"),
                local_date(facts, "due_at"),
            ),
        ),
        Language::Zh => (
            format!("{} 账单 {}", text(facts, "period"), text(facts, "number")),
            format!(
                "{tenant}：{} 的账单 {} 已开具，应付 {}，请于 {} 前付款。",
                text(facts, "period"),
                text(facts, "number"),
                money(facts, "total_minor"),
                local_date(facts, "due_at"),
            ),
        ),
    }
}

/// `payment.received`: the amount, the invoice, the reference and what remains.
fn payment_received(facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            format!("Payment received for invoice {}", text(facts, "number")),
            format!(
                "{tenant}: a payment of {} was recorded on invoice {} (reference {}); {} \
                     remains to pay.",
                money(facts, "amount_minor"),
                text(facts, "number"),
                text(facts, "reference"),
                money(facts, "balance_minor"),
            ),
        ),
        Language::Zh => (
            format!("已收到账单 {} 的付款", text(facts, "number")),
            format!(
                "{tenant}：账单 {} 已记录付款 {}（参考号 {}），尚欠 {}。",
                text(facts, "number"),
                money(facts, "amount_minor"),
                text(facts, "reference"),
                money(facts, "balance_minor"),
            ),
        ),
    }
}

/// `tenant.overdue`: the invoices overdue, the amount owed and when the service stops.
fn tenant_overdue(facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            "Payment overdue: service will be suspended".to_owned(),
            format!(
                "{tenant}: invoice(s) {} are overdue, {} unpaid. Unless paid, remote searches \
                     and device changes will be suspended on {}.",
                numbers(facts),
                money(facts, "owed_minor"),
                local_time(facts, "suspend_at"),
            ),
        ),
        Language::Zh => (
            "账单逾期：服务将被暂停".to_owned(),
            format!(
                "{tenant}：账单 {} 已逾期，未付 {}。如未付款，远程搜索和设备变更将于 {} 暂停。",
                numbers(facts),
                money(facts, "owed_minor"),
                local_time(facts, "suspend_at"),
            ),
        ),
    }
}

/// `tenant.suspended`: the invoices unpaid and the amount owed.
fn tenant_suspended(facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            "Service suspended for an unpaid invoice".to_owned(),
            format!(
                "{tenant}: remote searches and device changes are suspended: invoice(s) {} \
                     are unpaid, {} owed. Boxes keep recording and indexing; paying restores the \
                     service at once.",
                numbers(facts),
                money(facts, "owed_minor"),
            ),
        ),
        Language::Zh => (
            "因账单未付，服务已暂停".to_owned(),
            format!(
                "{tenant}：账单 {} 未付，欠款 {}，远程搜索和设备变更已暂停。设备仍在录像和建立索引；\
                     付款后立即恢复。",
                numbers(facts),
                money(facts, "owed_minor"),
            ),
        ),
    }
}

/// `tenant.restored`: nothing is overdue any more.
fn tenant_restored(_facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            "Service restored".to_owned(),
            format!("{tenant}: nothing is overdue any more; the service is fully restored."),
        ),
        Language::Zh => (
            "服务已恢复".to_owned(),
            format!("{tenant}：已无逾期账单，服务已完全恢复。"),
        ),
    }
}

/// `device.offline`: the box and since when.
fn device_offline(facts: &Value, tenant: &str, language: Language) -> (String, String) {
    match language {
        Language::En => (
            format!("Box {} is offline", text(facts, "device_name")),
            format!(
                "{tenant}: box {} has been offline since {}.",
                text(facts, "device_name"),
                local_time(facts, "offline_since"),
            ),
        ),
        Language::Zh => (
            format!("设备 {} 离线", text(facts, "device_name")),
            format!(
                "{tenant}：设备 {} 自 {} 起离线。",
                text(facts, "device_name"),
                local_time(facts, "offline_since"),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_event_has_both_languages() {
        for event in super::super::EVENTS {
            for language in [Language::Zh, Language::En] {
                let rendered = render(event, &json!({}), language);
                let rendered = rendered.unwrap_or_else(|| panic!("{event} {language:?}"));
                assert!(!rendered.subject.is_empty() && !rendered.text.is_empty());
            }
        }
        assert_eq!(render("invoice.eaten", &json!({}), Language::En), None);
    }

    #[test]
    fn amounts_and_dates_are_in_the_currency_and_the_tenants_zone() {
        let facts = json!({
            "tenant_name": "Garden Court", "number": "INV-202611-X", "period": "2026-11",
            "total_minor": 123_450, "currency": "CNY", "time_zone": "Asia/Shanghai",
            // 2026-12-15T16:30:00Z is the 16th in Shanghai.
            "due_at": 1_797_352_200_000_i64,
        });
        let en = render(super::super::INVOICE_ISSUED, &facts, Language::En).expect("known");
        assert_eq!(
            en.text,
            "Garden Court: invoice INV-202611-X for 2026-11 was issued, 1234.50 CNY due by 2026-12-16."
        );
        let zh = render(super::super::INVOICE_ISSUED, &facts, Language::Zh).expect("known");
        assert!(
            zh.text.contains("1234.50 CNY") && zh.text.contains("2026-12-16"),
            "{}",
            zh.text
        );
        let jpy = json!({"amount_minor": 500, "balance_minor": 0, "currency": "JPY"});
        let paid = render(super::super::PAYMENT_RECEIVED, &jpy, Language::En).expect("known");
        assert!(
            paid.text.contains("500 JPY") && paid.text.contains("0 JPY"),
            "{}",
            paid.text
        );
    }

    #[test]
    fn a_missing_fact_reads_as_a_question_mark() {
        let facts = json!({"tenant_name": "T"});
        let rendered = render(super::super::TENANT_SUSPENDED, &facts, Language::En).expect("known");
        assert!(
            rendered.text.contains("invoice(s) ? are unpaid, ? owed"),
            "{}",
            rendered.text
        );
    }
}
