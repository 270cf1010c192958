//! Whether a new administrator password is strong enough: at least 10 characters and a
//! zxcvbn score of 3 or more ("safely unguessable: moderate protection from an offline
//! attack"), with zxcvbn's own advice as the reason when it is not.

/// The fewest characters a password may have.
pub(crate) const MIN_CHARS: usize = 10;
/// The longest password taken (Argon2 takes any length; this bounds the work).
pub(crate) const MAX_BYTES: usize = 1024;

/// `Ok` for a strong password, or a sentence saying why not.
pub(crate) fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_CHARS {
        return Err(format!("use at least {MIN_CHARS} characters"));
    }
    if password.len() > MAX_BYTES {
        return Err(format!("use at most {MAX_BYTES} bytes"));
    }
    let estimate = zxcvbn::zxcvbn(password, &["dipper", "admin", "hikvision", "password"]);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let mut reason = String::from("too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            reason = format!("{reason}: {warning}");
        }
        if let Some(suggestion) = feedback.suggestions().first() {
            reason = format!("{reason} ({suggestion})");
        }
    }
    Err(reason)
}
