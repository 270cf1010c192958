//! The access rules against a real database: first boot, sign-in, throttling, sessions,
//! password changes, reset, and the local token's file.

use std::os::unix::fs::PermissionsExt;

use super::throttle::Throttle;
use super::*;

const STRONG: &str = "river-lantern-harbour-42";

fn access(dir: &std::path::Path) -> (Access, Database) {
    let db = Database::open(dir).expect("database");
    let access = Access::new(
        db.clone(),
        "the-token".to_owned(),
        PasswordHasher::default(),
    );
    (access, db)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_password_is_set_once_and_signs_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (access, _db) = access(dir.path());
    assert!(!access.password_set().await.expect("read"));
    let weak = access.set_first_password("password123".to_owned()).await;
    assert!(matches!(weak, Err(AccessError::Weak(_))), "{weak:?}");
    let short = access.set_first_password("Ab3$".to_owned()).await;
    assert!(
        matches!(&short, Err(AccessError::Weak(why)) if why.contains("10 characters")),
        "{short:?}"
    );
    assert!(!access.password_set().await.expect("read"));

    let session = access
        .set_first_password(STRONG.to_owned())
        .await
        .expect("set");
    assert!(access.password_set().await.expect("read"));
    let live = access.session(&session.cookie).await.expect("read");
    assert_eq!(live.expect("signed in").csrf, session.csrf);
    let again = access
        .set_first_password("another-strong-passphrase-7".to_owned())
        .await;
    assert!(matches!(again, Err(AccessError::AlreadySet)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_makes_a_new_session_each_time_and_sign_out_ends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (access, _db) = access(dir.path());
    let not_set = access.sign_in(STRONG.to_owned()).await;
    assert!(matches!(not_set, Err(AccessError::NotSet)), "{not_set:?}");
    let first = access
        .set_first_password(STRONG.to_owned())
        .await
        .expect("set");
    let second = access.sign_in(STRONG.to_owned()).await.expect("sign in");
    assert_ne!(first.cookie, second.cookie);
    assert_ne!(first.csrf, second.csrf);
    let session = access
        .session(&second.cookie)
        .await
        .expect("read")
        .expect("live");
    access.sign_out(&session).await.expect("sign out");
    assert!(
        access
            .session(&second.cookie)
            .await
            .expect("read")
            .is_none()
    );
    assert!(access.session(&first.cookie).await.expect("read").is_some());
    assert!(access.session("made-up").await.expect("read").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_throttled_until_a_reset_and_the_password_survives_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (access, db) = access(dir.path());
    access
        .set_first_password(STRONG.to_owned())
        .await
        .expect("set");
    for attempt in 0..throttle::FREE_FAILURES {
        let wrong = access.sign_in(format!("wrong-{attempt}")).await;
        assert!(
            matches!(wrong, Err(AccessError::WrongPassword)),
            "{wrong:?}"
        );
    }
    // Even the right password waits now, and the wait is about the first step's length.
    let waiting = access.sign_in(STRONG.to_owned()).await;
    let Err(AccessError::Throttled {
        retry_after_seconds,
    }) = waiting
    else {
        panic!("expected a wait, got {waiting:?}");
    };
    assert!(
        (1..=30).contains(&retry_after_seconds),
        "{retry_after_seconds}"
    );
    // The console's reset forgets the password, the sessions and the count: a first boot.
    assert!(reset(&db).await.expect("reset"));
    assert!(!access.password_set().await.expect("read"));
    access
        .set_first_password(STRONG.to_owned())
        .await
        .expect("set again");
    access.sign_in(STRONG.to_owned()).await.expect("no wait");
}

#[test]
fn the_wait_doubles_up_to_a_bound_and_always_ends() {
    let throttle = Throttle::default();
    assert_eq!(throttle.wait_ms(None, 0), None);
    assert_eq!(throttle.wait_ms(Some((4, 1_000)), 1_000), None);
    assert_eq!(throttle.wait_ms(Some((5, 1_000)), 1_000), Some(30_000));
    assert_eq!(throttle.wait_ms(Some((6, 1_000)), 1_000), Some(60_000));
    assert_eq!(throttle.wait_ms(Some((5, 1_000)), 31_000), None);
    let bound = throttle::LONGEST_WAIT_MS;
    assert_eq!(throttle.wait_ms(Some((1_000, 0)), 0), Some(bound));
    assert_eq!(throttle.wait_ms(Some((u32::MAX, 0)), bound), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_needs_the_current_one_and_ends_every_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (access, _db) = access(dir.path());
    let first = access
        .set_first_password(STRONG.to_owned())
        .await
        .expect("set");
    let wrong = access
        .change_password("not-it".to_owned(), "new-strong-passphrase-91".to_owned())
        .await;
    assert!(
        matches!(wrong, Err(AccessError::WrongPassword)),
        "{wrong:?}"
    );
    let weak = access
        .change_password(STRONG.to_owned(), "12345678901".to_owned())
        .await;
    assert!(matches!(weak, Err(AccessError::Weak(_))), "{weak:?}");
    access
        .change_password(STRONG.to_owned(), "new-strong-passphrase-91".to_owned())
        .await
        .expect("change");
    assert!(access.session(&first.cookie).await.expect("read").is_none());
    let old = access.sign_in(STRONG.to_owned()).await;
    assert!(matches!(old, Err(AccessError::WrongPassword)), "{old:?}");
    access
        .sign_in("new-strong-passphrase-91".to_owned())
        .await
        .expect("new password");
}

#[test]
fn the_local_token_is_private_and_kept_across_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = load_or_create_token(dir.path()).expect("token");
    assert!(token.len() >= 43, "{token}");
    let path = dir.path().join(TOKEN_FILE);
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(load_or_create_token(dir.path()).expect("again"), token);
    assert_eq!(read_token(&path).expect("read"), Some(token.clone()));
    // Readable by others: maybe seen, so replaced by a new private one.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let replaced = load_or_create_token(dir.path()).expect("replaced");
    assert_ne!(replaced, token);
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn token_comparison_needs_every_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (access, _db) = access(dir.path());
    assert!(access.is_local_token("the-token"));
    assert!(!access.is_local_token("the-tokem"));
    assert!(!access.is_local_token("the-token "));
    assert!(!access.is_local_token(""));
}
