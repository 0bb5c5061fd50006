//! Customers of the chain: the people who buy and whose eyes are tested.

/// A phone number normalized to digits with an optional leading `+` (spaces, dashes, dots and
/// brackets dropped), so the same number typed two ways finds the same customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        if rest
            .chars()
            .any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')))
        {
            return Err(
                "must be a phone number: digits, optionally with +, spaces or dashes".into(),
            );
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            return Err("must have 7 to 15 digits".into());
        }
        Ok(Self(format!("{plus}{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(
            Phone::parse(" +91 98765-43210 ").map(|p| p.0),
            Ok("+919876543210".into())
        );
        assert_eq!(
            Phone::parse("(022) 2345 6789").map(|p| p.0),
            Ok("02223456789".into())
        );
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("++91 9876543210").is_err());
    }
}
