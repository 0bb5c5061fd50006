//! The document's patterns against the domain's own parsers, on samples at every edge.

use super::*;
use chrono::NaiveDate;
use domain::catalog::{Sku, StoreCode};
use domain::customer::Phone;
use domain::user::{Email, Username};

/// An ECMA-262 pattern of this module as a Rust regex: `\uXXXX` is `\x{XXXX}` there, and
/// the email's length look-ahead (which the regex crate lacks) is checked by `len` instead.
fn regex(pattern: &str) -> regex::Regex {
    let mut rust = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("\\u") {
        rust.push_str(&rest[..at]);
        rust.push_str(&format!("\\x{{{}}}", &rest[at + 2..at + 6]));
        rest = &rest[at + 6..];
    }
    rust.push_str(rest);
    regex::RegexBuilder::new(&rust)
        .size_limit(1 << 28)
        .build()
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The pattern accepts exactly what `parse` accepts, on every sample.
fn agrees(pattern: &str, parse: impl Fn(&str) -> bool, samples: &[String]) {
    let re = regex(pattern);
    for sample in samples {
        assert_eq!(
            re.is_match(sample),
            parse(sample),
            "{sample:?} against {pattern}"
        );
    }
}

fn strings(samples: &[&str]) -> Vec<String> {
    samples.iter().map(|s| (*s).to_owned()).collect()
}

/// Surrounding whitespace of every kind `trim` removes, and characters close to it.
const EDGES: [&str; 9] = [
    " ", "\t", "\n", "\u{0B}", "\r", "\u{85}", "\u{A0}", "\u{3000}", "\u{2028}",
];

fn padded(core: &[&str]) -> Vec<String> {
    let mut out = strings(core);
    for edge in EDGES {
        for c in core {
            out.push(format!("{edge}{c}{edge}"));
        }
    }
    // Not whitespace: kept, so they count.
    for c in core {
        out.push(format!("\u{FEFF}{c}"));
        out.push(format!("{c}\u{1}"));
        out.push(format!("{c}\u{1C}"));
    }
    out
}

#[test]
fn text_patterns_agree_with_domain_text() {
    let long = "x".repeat(200);
    let longer = "x".repeat(201);
    let middle = format!("a{}b", " ".repeat(198));
    let samples = padded(&[
        "Aviator",
        "",
        "a",
        "ab",
        "a b",
        "tab\tinside",
        "new\nline",
        "bad\u{0}name",
        "a\u{85}b",
        "a\rb",
        "a\u{7F}b",
        "a\u{A0}b",
        "名前",
        &long,
        &longer,
        &middle,
    ]);
    agrees(
        &text_pattern(1, 200),
        |s| domain::text::name(s).is_ok(),
        &samples,
    );
    agrees(
        &text_pattern(0, 200),
        |s| domain::text::bounded(s, 0, 200).is_ok(),
        &samples,
    );
}

#[test]
fn identifier_patterns_agree_with_the_domain_types() {
    let skus = padded(&[
        "RB-3025-001",
        "AB1",
        "ab-123",
        "-AB",
        "AB",
        "A B C",
        "AB-",
        "ÅB1",
        &"A".repeat(32),
        &"A".repeat(33),
    ]);
    agrees(
        sku()["pattern"].as_str().unwrap_or_default(),
        |s| Sku::parse(s).is_ok(),
        &skus,
    );
    let codes = padded(&[
        "mum-01",
        "PUN01",
        "x",
        "AB",
        &"A".repeat(16),
        &"A".repeat(17),
        "A B",
        "ÄB",
    ]);
    agrees(
        store_code()["pattern"].as_str().unwrap_or_default(),
        |s| StoreCode::parse(s).is_ok(),
        &codes,
    );
    let names = padded(&[
        "asha",
        "a.b_c-d",
        "ab",
        &"a".repeat(32),
        &"a".repeat(33),
        "a b",
        "åsa",
    ]);
    agrees(
        username()["pattern"].as_str().unwrap_or_default(),
        |s| Username::parse(s).is_ok(),
        &names,
    );
    let phones = padded(&[
        "+91 98765-43210",
        "(022) 2345 6789",
        "12345",
        "call me",
        "++91 9876543210",
        "+ 1234567",
        "123\u{A0}4567",
        "1234567890123456",
        "123456789012345",
        "+",
        "",
        "-+1234567",
        "1.2.3.4.5.6.7",
        "１２３４５６７",
        "1234567+",
    ]);
    agrees(&phone_pattern(), |s| Phone::parse(s).is_ok(), &phones);
}

#[test]
fn the_email_pattern_agrees_with_email() {
    let pattern = email()["pattern"].as_str().unwrap_or_default().to_owned();
    // The look-ahead bounds the trimmed address to 254 characters; the regex crate has no
    // look-ahead, so that part is checked here by hand.
    let start = pattern.find("(?=").expect("a look-ahead");
    let end = start + pattern[start..].find("$)").expect("its end") + 2;
    let without = format!("{}{}", &pattern[..start], &pattern[end..]);
    let re = regex(&without);
    let matches = |s: &str| re.is_match(s) && s.trim().chars().count() <= 254;
    let long_domain = format!("a@{}.co", "b".repeat(249));
    let longest = format!("a@{}.co", "b".repeat(248));
    let samples = padded(&[
        "name@example.com",
        "a@b",
        "a@b.",
        "a@.b",
        "a@b..c",
        "@b.c",
        "a b@c.d",
        "a@b@c.d",
        "é@ü.de",
        "a\u{1}@b.c",
        "a@b.c.d",
        &format!("{}@e.co", "x".repeat(64)),
        &format!("{}@e.co", "x".repeat(65)),
        &long_domain,
        &longest,
    ]);
    for sample in &samples {
        assert_eq!(
            matches(sample),
            Email::parse(sample).is_ok(),
            "{sample:?} against {pattern}"
        );
    }
}

#[test]
fn the_date_pattern_agrees_with_the_server() {
    let re = regex(&date_pattern());
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "crate::extract::full_date::required")]
        date: NaiveDate,
    }
    let server = |s: &str| {
        serde_json::from_value::<Body>(json!({ "date": s }))
            .ok()
            .and_then(|b| domain::dates::date(b.date).ok())
            .is_some()
    };
    let mut samples = strings(&[
        "1900-01-01",
        "1899-12-31",
        "2200-12-31",
        "2201-01-01",
        "2000-02-29",
        "1900-02-29",
        "2100-02-29",
        "2024-02-29",
        "2023-02-29",
        "2024-04-31",
        "2024-04-30",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "2024-1-5",
        "+2024-01-05",
        "2024-01-05T00:00:00Z",
        "0000-01-01",
        "",
        "2200-02-29",
        "2196-02-29",
    ]);
    // Every day of a leap year and of a common one, and the ends of each month of the range.
    let mut day = NaiveDate::from_ymd_opt(2023, 12, 25).expect("a date");
    while day < NaiveDate::from_ymd_opt(2025, 1, 5).expect("a date") {
        samples.push(day.to_string());
        day = day.succ_opt().expect("a next day");
    }
    for sample in &samples {
        assert_eq!(re.is_match(sample), server(sample), "{sample:?}");
    }
}

/// Every rule names a field the document has (`apply` panics otherwise), and every
/// pattern compiles.
#[test]
fn every_rule_applies_and_compiles() {
    let doc = crate::router::openapi_document();
    let mut patterns = 0;
    let mut walk = vec![&doc];
    while let Some(value) = walk.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(p)) = map.get("pattern") {
                    // The email's look-ahead aside (tested above).
                    if !p.contains("(?=") && !p.contains("(?!") {
                        regex(p);
                    }
                    patterns += 1;
                }
                walk.extend(map.values());
            }
            Value::Array(items) => walk.extend(items),
            _ => {}
        }
    }
    assert!(patterns > 30, "{patterns} patterns");
}
