//! The syntax of the names and codes that several provisioning files share: entry
//! ids, E.164 prefixes and DNS names. Each check returns whether the text is well
//! formed; the caller writes the error message, since it knows the field.

/// What an id looks like, for error messages.
pub(crate) const ID_SYNTAX: &str =
    "expected lowercase letters, digits, '-' and '_', starting with a letter or digit";

/// An entry id: `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn is_id(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// An E.164 prefix: `+` followed by `min..=max` digits.
pub(crate) fn is_e164_prefix(text: &str, max_digits: usize) -> bool {
    match text.strip_prefix('+') {
        Some(digits) => is_digits(digits, 1, max_digits),
        None => false,
    }
}

/// `min..=max` ASCII digits and nothing else.
pub(crate) fn is_digits(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A DNS host name: dot-separated labels of letters, digits and '-', each 1 to 63
/// characters and not starting or ending with '-', at most 253 characters in all,
/// with at least two labels and a top-level label that is not all digits (so that
/// a mistyped IPv4 address is not taken for a name).
pub(crate) fn is_dns_name(text: &str) -> bool {
    if text.is_empty() || text.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = text.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["acme", "acme-paris", "a", "0day", "x_y-z9"] {
            assert!(is_id(good), "{good}");
        }
        for bad in ["", "-acme", "_a", "Acme", "acme paris", "acmé", "a.b"] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn e164_prefixes() {
        assert!(is_e164_prefix("+32", 6));
        assert!(is_e164_prefix("+123456", 6));
        assert!(!is_e164_prefix("+1234567", 6));
        assert!(is_e164_prefix("+331234567890123", 15));
        assert!(!is_e164_prefix("+", 6));
        assert!(!is_e164_prefix("32", 6));
        assert!(!is_e164_prefix("+3 2", 6));
        assert!(!is_e164_prefix("++32", 6));
    }

    #[test]
    fn dns_names() {
        for good in ["sbc.contoso.fr", "SBC1.Acme.fr", "a-b.c0.example"] {
            assert!(is_dns_name(good), "{good}");
        }
        let long_label = format!("{}.fr", "a".repeat(64));
        for bad in [
            "",
            "localhost",
            "sbc..fr",
            "-sbc.fr",
            "sbc-.fr",
            "sbc_1.fr",
            "192.0.2.10",
            "*.contoso.fr",
            "sbc.contoso.fr.",
            long_label.as_str(),
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
