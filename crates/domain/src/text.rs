//! Bounded, trimmed free text: names, descriptions, notes.

/// Trims `raw` and checks its length in characters; the error names the bounds.
pub fn bounded(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

/// A display name of a person, store, category or product: 1 to 200 characters.
pub fn name(raw: &str) -> Result<String, String> {
    bounded(raw, 1, 200)
}

/// A longer description or note: up to 5,000 characters, may be empty.
pub fn description(raw: &str) -> Result<String, String> {
    bounded(raw, 0, 5000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(name("  Aviator  ").as_deref(), Ok("Aviator"));
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(name("bad\u{0}name").is_err());
        assert_eq!(description("").as_deref(), Ok(""));
    }
}
