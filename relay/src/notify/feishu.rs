//! A Feishu (Lark) custom bot's message: `{"msg_type":"text","content":{"text":...}}`, with
//! `timestamp` and `sign` when the bot has a signing secret. The signature is the bot's:
//! base64 of HMAC-SHA256 keyed with `"{timestamp}\n{secret}"` over an empty message. The bot
//! answers HTTP 200 with `{"code": 0}` on success and another code (and `msg`) otherwise.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The signature of a message sent at `timestamp` (Unix seconds) with `secret`.
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The body posting `text`, signed with `secret` at `timestamp` when there is one.
pub fn body(text: &str, secret: Option<&str>, timestamp: i64) -> Value {
    let mut body = json!({ "msg_type": "text", "content": { "text": text } });
    if let Some(secret) = secret {
        body["timestamp"] = Value::String(timestamp.to_string());
        body["sign"] = Value::String(sign(timestamp, secret));
    }
    body
}

/// The bot's refusal in its answer, if any: a `code` (or `StatusCode`) other than 0.
pub fn refusal(answer: &Value) -> Option<String> {
    let code = answer
        .get("code")
        .or_else(|| answer.get("StatusCode"))
        .and_then(Value::as_i64)?;
    if code == 0 {
        return None;
    }
    let message = answer
        .get("msg")
        .or_else(|| answer.get("StatusMessage"))
        .and_then(Value::as_str)
        .unwrap_or("no message");
    Some(format!(
        "Feishu refused the message: code {code}, {message}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_nothing_keyed_with_timestamp_and_secret() {
        // Computed independently: python3 -c 'import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b"1599360473\ndemo", b"", hashlib.sha256).digest()))'
        assert_eq!(
            sign(1_599_360_473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn an_unsigned_body_has_no_timestamp_and_a_signed_one_both() {
        let plain = body("hello", None, 5);
        assert_eq!(plain["msg_type"], "text");
        assert_eq!(plain["content"]["text"], "hello");
        assert!(plain.get("sign").is_none() && plain.get("timestamp").is_none());
        let signed = body("hello", Some("s"), 5);
        assert_eq!(signed["timestamp"], "5");
        assert_eq!(signed["sign"], sign(5, "s"));
    }

    #[test]
    fn a_nonzero_code_is_a_refusal() {
        assert_eq!(refusal(&json!({"code": 0, "msg": "success"})), None);
        assert_eq!(refusal(&json!({"StatusCode": 0})), None);
        let refused = refusal(&json!({"code": 19021, "msg": "sign match fail"}));
        assert!(refused.is_some_and(|r| r.contains("19021") && r.contains("sign match fail")));
    }
}
