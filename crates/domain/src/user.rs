//! Staff accounts: who may log in, with which roles, in which stores.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

named_enum!(
    /// What a user may do (see the contract's role table). Admin may do everything.
    Role { Admin = "admin", Manager = "manager", Sales = "sales", Optometrist = "optometrist", Technician = "technician" }
);
named_enum!(
    /// A suspended user cannot log in and their tokens stop working at once.
    UserStatus { Active = "active", Suspended = "suspended" }
);

/// An email address, trimmed; compared case-insensitively by storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let invalid = || Err("must be an email address like name@example.com".to_string());
        // Lengths in characters, as the OpenAPI document's pattern counts them.
        if email.chars().count() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid();
        }
        let Some((local, domain)) = email.split_once('@') else {
            return invalid();
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.chars().count() > 64 || !domain_ok {
            return invalid();
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login name: 3–32 of letters, digits, `.`, `_`, `-`; unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !(3..=32).contains(&name.len()) || !ok_chars {
            return Err("must be 3 to 32 letters, digits, '.', '_' or '-'".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plain-text password on its way to being hashed; never stored, logged or printed.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::parse_for(raw, &[])
    }

    /// As [`Password::parse`], also refusing a password made of the account's own names
    /// (`context`: its username and email), as NIST SP 800-63B 5.1.1.2 asks.
    pub fn parse_for(raw: &str, context: &[&str]) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(10..=128).contains(&len) {
            return Err("must be 10 to 128 characters".into());
        }
        weakness(raw, context).map_or(Ok(Self(raw.to_owned())), Err)
    }

    /// An argon2id PHC string with a fresh random salt (the crate's OWASP-recommended
    /// parameters: 19 MiB, 2 passes). Slow on purpose: callers run it on a blocking thread.
    pub fn hash(&self) -> String {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            // Hashing only fails for parameter or salt misuse, which the defaults rule out.
            .map(|hash| hash.to_string())
            .unwrap_or_else(|e| panic!("argon2 with default parameters failed: {e}"))
    }
}

/// The common passwords and stems refused (`common_passwords.txt`).
fn common_passwords() -> impl Iterator<Item = &'static str> {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Why `raw` is too easy to guess, if it is: a common password or one with a few digits or
/// symbols added, the account's own name or email, too few different characters, or a run
/// along the alphabet, the digits or a keyboard row.
fn weakness(raw: &str, context: &[&str]) -> Option<String> {
    let lower = raw.to_lowercase();
    // `password123!` and `Welcome2024` are their stems to a guesser.
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    let stem = if lower.len() - stem.len() <= 6 {
        stem
    } else {
        lower.as_str()
    };
    if common_passwords().any(|p| p == lower || p == stem) {
        return Some("is one of the most common passwords; choose another".into());
    }
    let names = context.iter().flat_map(|c| {
        let c = c.to_lowercase();
        let local = c.split('@').next().unwrap_or_default().to_owned();
        [c, local]
    });
    for name in names.filter(|n| !n.is_empty()) {
        if lower == name || stem == name {
            return Some("must not be the username or email".into());
        }
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Some("must have at least 4 different characters".into());
    }
    const RUNS: [&str; 3] = [
        "abcdefghijklmnopqrstuvwxyz",
        "01234567890123456789",
        "qwertyuiopasdfghjklzxcvbnm",
    ];
    let reversed: String = lower.chars().rev().collect();
    if RUNS
        .iter()
        .any(|run| run.contains(&lower) || run.contains(&reversed))
    {
        return Some("must not be a run of letters, digits or keys".into());
    }
    None
}

/// Checks a login attempt against a stored PHC hash. A malformed stored hash never matches.
pub fn verify_password(candidate: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|hash| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when a login names no user, so an unknown
/// user costs as much time as a wrong password and the two cannot be told apart.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| Password(uuid::Uuid::new_v4().to_string()).hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("a.b@example.com").is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a@.com",
            "a b@x.com",
            "a@x..com",
            "a@x.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("anita.k").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("has space").is_err());
    }

    #[test]
    fn easy_passwords_are_refused() {
        for weak in [
            "aaaaaaaaaa",
            "1234567890",
            "0987654321",
            "password12",
            "Password123!",
            "qwertyuiop",
            "abcdefghij",
            "iloveyou2024",
            "Welcome2024!",
            "ababababab",
        ] {
            assert!(Password::parse(weak).is_err(), "{weak}");
        }
        let context = ["anita.k", "anita.k@example.com"];
        assert!(Password::parse_for("anita.k@example.com", &context).is_err());
        assert!(Password::parse_for("Anita.K2024", &context).is_err());
        for fine in [
            "correct horse battery",
            "admin-password-123",
            "clerk-password",
        ] {
            assert!(Password::parse_for(fine, &context).is_ok(), "{fine}");
        }
    }

    #[test]
    fn passwords_hash_and_verify() {
        assert!(Password::parse("short").is_err());
        let pw = Password::parse("correct horse battery").expect("valid");
        let hash = pw.hash();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_eq!(format!("{pw:?}"), "Password(***)");
    }
}
