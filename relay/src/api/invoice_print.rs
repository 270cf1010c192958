//! An invoice to print or to load in a spreadsheet (the tenant's admins): a self-contained
//! HTML page in Chinese or English (no script, every stored text escaped, a policy that loads
//! nothing) and its lines as CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use billing::{Currency, Money};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::begin_as_tenant_admin;
use super::types::rfc3339;
use crate::auth::Principal;
use crate::db::Mode;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::invoices::{self, StoredInvoice, StoredLine};
use crate::store::tenants;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PrintQuery {
    /// `en` (default) or `zh`.
    #[param(inline)]
    pub lang: Option<Lang>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

/// The words of the page, by language.
struct Words {
    title: &'static str,
    number: &'static str,
    tenant: &'static str,
    period: &'static str,
    issued: &'static str,
    due: &'static str,
    status: &'static str,
    item: &'static str,
    quantity: &'static str,
    unit_price: &'static str,
    discount: &'static str,
    amount: &'static str,
    subtotal: &'static str,
    total: &'static str,
    credited: &'static str,
    paid: &'static str,
    balance: &'static str,
}

const EN: Words = Words {
    title: "Invoice",
    number: "Number",
    tenant: "Billed to",
    period: "Period",
    issued: "Issued",
    due: "Due",
    status: "Status",
    item: "Item",
    quantity: "Quantity",
    unit_price: "Unit price",
    discount: "Discount",
    amount: "Amount",
    subtotal: "Usage subtotal",
    total: "Total",
    credited: "Credit notes",
    paid: "Paid",
    balance: "Balance due",
};

const ZH: Words = Words {
    title: "账单",
    number: "账单编号",
    tenant: "客户",
    period: "账期",
    issued: "开具时间",
    due: "付款截止",
    status: "状态",
    item: "项目",
    quantity: "数量",
    unit_price: "单价",
    discount: "折扣",
    amount: "金额",
    subtotal: "用量小计",
    total: "合计",
    credited: "红字冲减",
    paid: "已付",
    balance: "应付余额",
};

/// A line's item in the page's language, from its stable key (`{meter}/{date}/{band}`).
fn item(line: &StoredLine, lang: Lang) -> String {
    let mut parts = line.key.splitn(3, '/');
    let (meter, date, band) = (parts.next(), parts.next(), parts.next());
    let (Some(meter), Some(date), Some(band)) = (meter, date, band) else {
        return match lang {
            Lang::En => "Minimum monthly charge".to_owned(),
            Lang::Zh => "月最低消费补足".to_owned(),
        };
    };
    let meter = match (meter, lang) {
        ("device_days", Lang::Zh) => "设备天数",
        ("traffic_bytes", Lang::Zh) => "上行流量（字节）",
        ("api_calls", Lang::Zh) => "API 调用",
        ("searches", Lang::Zh) => "检索次数",
        ("camera_hours", Lang::Zh) => "摄像头检索时长（秒）",
        ("device_days", Lang::En) => "Device-days",
        ("traffic_bytes", Lang::En) => "Uplink traffic (bytes)",
        ("api_calls", Lang::En) => "API calls",
        ("searches", Lang::En) => "Searches",
        ("camera_hours", Lang::En) => "Camera time searched (seconds)",
        (other, _) => other,
    };
    let band = match (band, lang) {
        ("free", Lang::En) => "free allowance".to_owned(),
        ("free", Lang::Zh) => "免费额度".to_owned(),
        ("base", Lang::En) => "base price".to_owned(),
        ("base", Lang::Zh) => "基础价".to_owned(),
        (tier, Lang::En) => tier.replace("tier-", "volume tier "),
        (tier, Lang::Zh) => tier.replace("tier-", "阶梯 "),
    };
    match lang {
        Lang::En => format!("{meter}, {band} (price from {date})"),
        Lang::Zh => format!("{meter}，{band}（{date} 起价格）"),
    }
}

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn money(minor: i64, currency: Option<Currency>) -> String {
    match currency {
        Some(currency) => Money::new(minor, currency).decimal(),
        None => minor.to_string(),
    }
}

async fn load(
    state: &AppState,
    principal: &Principal,
    (tenant_id, invoice_id): (Uuid, Uuid),
) -> Result<(StoredInvoice, Vec<StoredLine>, String), ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(state, principal, tenant_id, Mode::Read).await?;
    let invoice = invoices::find(&mut tx, tenant, invoice_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let lines = invoices::lines(&mut tx, tenant, invoice_id).await?;
    let name = tenants::find(&mut tx, tenant)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    tx.commit().await?;
    Ok((invoice, lines, name))
}

fn html(invoice: &StoredInvoice, lines: &[StoredLine], tenant: &str, lang: Lang) -> String {
    let w = if lang == Lang::Zh { &ZH } else { &EN };
    let currency = Currency::new(&invoice.currency).ok();
    let code = escape(&invoice.currency);
    let mut rows = String::new();
    for line in lines {
        let discount = if line.discount_basis_points == 0 {
            String::new()
        } else {
            format!("{}%", f64::from(line.discount_basis_points) / 100.0)
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{} / {}</td><td class=n>{}</td><td class=n>{}</td></tr>\n",
            escape(&item(line, lang)),
            line.quantity,
            money(line.unit_price_minor, currency),
            line.units_per_price,
            escape(&discount),
            money(line.amount_minor, currency),
        ));
    }
    let total_row = |label: &str, minor: i64| {
        format!(
            "<tr class=t><td colspan=4>{label}</td><td class=n>{} {code}</td></tr>\n",
            money(minor, currency)
        )
    };
    let lang_tag = if lang == Lang::Zh { "zh-CN" } else { "en" };
    format!(
        "<!doctype html>\n<html lang={lang_tag}><head><meta charset=utf-8>\
<meta name=viewport content=\"width=device-width, initial-scale=1\">\
<title>{title} {number}</title>\
<style>body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}}\
table{{border-collapse:collapse;width:100%}}td,th{{padding:4px 8px;border-bottom:1px solid #ccc;text-align:left}}\
.n{{text-align:right}}.t td{{font-weight:600}}dl{{display:grid;grid-template-columns:max-content auto;gap:2px 1em}}\
@media print{{body{{margin:0}}}}</style></head><body>\
<h1>{title}</h1><dl>\
<dt>{l_number}</dt><dd>{number}</dd><dt>{l_tenant}</dt><dd>{tenant}</dd>\
<dt>{l_period}</dt><dd>{period} ({zone})</dd><dt>{l_issued}</dt><dd>{issued}</dd>\
<dt>{l_due}</dt><dd>{due}</dd><dt>{l_status}</dt><dd>{status}</dd></dl>\
<table><thead><tr><th>{l_item}</th><th class=n>{l_quantity}</th><th class=n>{l_unit}</th>\
<th class=n>{l_discount}</th><th class=n>{l_amount} ({code})</th></tr></thead><tbody>\n{rows}{subtotal}{total}{credited}{paid}{balance}</tbody></table>\
</body></html>\n",
        title = w.title,
        number = escape(&invoice.number),
        l_number = w.number,
        l_tenant = w.tenant,
        tenant = escape(tenant),
        l_period = w.period,
        period = escape(&invoice.period),
        zone = escape(&invoice.time_zone),
        l_issued = w.issued,
        issued = rfc3339(invoice.issued_at),
        l_due = w.due,
        due = rfc3339(invoice.due_at),
        l_status = w.status,
        status = escape(&invoice.status),
        l_item = w.item,
        l_quantity = w.quantity,
        l_unit = w.unit_price,
        l_discount = w.discount,
        l_amount = w.amount,
        subtotal = total_row(w.subtotal, invoice.subtotal_minor),
        total = total_row(w.total, invoice.total_minor),
        credited = total_row(w.credited, invoice.credited_minor),
        paid = total_row(w.paid, invoice.paid_minor),
        balance = total_row(w.balance, invoice.balance_minor()),
    )
}

/// The invoice as a page to print (the tenant's admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/html", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path), PrintQuery),
    responses((status = 200, description = "The invoice as HTML", body = String, content_type = "text/html")))]
pub async fn invoice_html(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<PrintQuery>,
) -> Result<Response, ApiError> {
    let (invoice, lines, tenant) = load(&state, &principal, ids).await?;
    let page = html(&invoice, &lines, &tenant, query.lang.unwrap_or(Lang::En));
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "private, no-store"),
    ];
    Ok((headers, page).into_response())
}

/// One CSV field, quoted (RFC 4180); a text that a spreadsheet would read as a formula gets
/// a leading `'`.
fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// The invoice's lines as CSV (the tenant's admins): one row per line, amounts in minor
/// units.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/csv", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    responses((status = 200, description = "The invoice's lines as CSV", body = String, content_type = "text/csv")))]
pub async fn invoice_csv(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let (invoice, lines, _) = load(&state, &principal, ids).await?;
    let mut csv = String::from(
        "invoice,period,currency,key,description,quantity,unit_price_minor,units_per_price,discount_basis_points,amount_minor\r\n",
    );
    for line in &lines {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(&invoice.number),
            csv_field(&invoice.period),
            csv_field(&invoice.currency),
            csv_field(&line.key),
            csv_field(&line.description),
            line.quantity,
            line.unit_price_minor,
            line.units_per_price,
            line.discount_basis_points,
            line.amount_minor,
        ));
    }
    let disposition = format!("attachment; filename=\"{}.csv\"", invoice.number);
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, csv).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_formulas_guarded() {
        assert_eq!(
            escape("<img src=x onerror='a'>&\""),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;"
        );
        assert_eq!(csv_field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn items_are_named_in_both_languages() {
        let line = StoredLine {
            position: 0,
            key: "api_calls/2026-10-01/tier-0".to_owned(),
            description: String::new(),
            quantity: 2_000,
            unit_price_minor: 50,
            units_per_price: 1_000,
            discount_basis_points: 5_000,
            amount_minor: 50,
        };
        assert_eq!(
            item(&line, Lang::En),
            "API calls, volume tier 0 (price from 2026-10-01)"
        );
        assert_eq!(
            item(&line, Lang::Zh),
            "API 调用，阶梯 0（2026-10-01 起价格）"
        );
        let minimum = StoredLine {
            key: "minimum".to_owned(),
            ..line
        };
        assert_eq!(item(&minimum, Lang::Zh), "月最低消费补足");
    }
}
