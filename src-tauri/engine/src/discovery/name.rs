//! The rules of the name Porch answers to on the network (`<name>.local`): one DNS label of
//! lowercase letters, digits and hyphens, 1–63 bytes, not starting or ending with a hyphen.
//!
//! Owns checking a name the publisher gives (the `hostname` setting), suggesting a valid
//! form of a bad one, and the default (this computer's host name made valid). Does not
//! advertise anything (`discovery/mod.rs` does).
//!
//! Concurrency: pure functions; the computer's name is read once and kept.

/// The longest DNS label, in bytes.
pub const MAX_LEN: usize = 63;

/// The rule in words, for messages.
pub const RULE: &str =
    "letters a–z, digits and hyphens only, 1 to 63 of them, not starting or ending with a hyphen (a trailing .local is dropped)";

/// A name the publisher typed, as saved: trimmed, lowercased, a trailing `.local` (or
/// `.local.`) dropped. Anything that is then not a valid label is refused with the rule
/// and, when there is one, a valid form to use instead.
pub fn check(raw: &str) -> Result<String, String> {
    let name = normalise(raw);
    if is_valid(&name) {
        return Ok(name);
    }
    let shown = raw.trim();
    let why = if name.is_empty() { "it is empty".to_string() } else { format!("{shown:?} is not") };
    let suggestion = suggest(raw);
    Err(match suggestion {
        Some(s) => format!("a network name must be {RULE}; {why}. Try {s:?}"),
        None => format!("a network name must be {RULE}; {why}. Try a short name such as \"my-laptop\""),
    })
}

/// Whether `name` is already a valid label (lowercase).
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A valid name close to `raw`: letters lowercased, accents dropped where they have a plain
/// form (`ü` → `u`), every run of other characters one hyphen, cut to 63 bytes. `None`
/// when nothing usable is left.
pub fn suggest(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in normalise(raw).chars() {
        let plain = fold(c);
        match plain {
            Some(p) => out.push(p),
            None if !out.ends_with('-') => out.push('-'),
            None => {}
        }
    }
    let mut s: String = out.trim_matches('-').chars().take(MAX_LEN).collect();
    while s.ends_with('-') {
        s.pop();
    }
    is_valid(&s).then_some(s)
}

/// This computer's host name made valid (its first label), or `porch` when it has none.
pub fn computer_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        let first = host.split('.').next().unwrap_or_default();
        match suggest(first) {
            Some(name) if name != "localhost" => name,
            _ => "porch".to_string(),
        }
    })
}

fn normalise(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    lower.strip_suffix(".local").unwrap_or(lower).to_string()
}

/// A character's plain ASCII form for a name, if it has one.
fn fold(c: char) -> Option<char> {
    if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
        return Some(c);
    }
    let plain = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' | 'ß' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ť' => 't',
        'ď' => 'd',
        _ => return None,
    };
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_lowercased_and_lose_local() {
        assert_eq!(check("my-laptop").as_deref(), Ok("my-laptop"));
        assert_eq!(check("  My-Laptop ").as_deref(), Ok("my-laptop"));
        assert_eq!(check("my-laptop.local").as_deref(), Ok("my-laptop"));
        assert_eq!(check("MY-LAPTOP.LOCAL.").as_deref(), Ok("my-laptop"));
        assert_eq!(check("pc2").as_deref(), Ok("pc2"));
        assert_eq!(check(&"a".repeat(63)).map(|s| s.len()), Ok(63));
    }

    #[test]
    fn bad_names_are_refused_with_the_rule_and_a_suggestion() {
        for (bad, suggestion) in [
            ("my laptop", Some("my-laptop")),
            ("Jürgens Mac", Some("jurgens-mac")),
            ("ü", Some("u")),
            ("-edge-", Some("edge")),
            ("a.b", Some("a-b")),
            ("under_score", Some("under-score")),
            ("", None),
            ("   ", None),
            (".local", None),
            ("日本", None),
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.contains("letters a–z, digits and hyphens only, 1 to 63"), "{bad}: {e}");
            match suggestion {
                Some(s) => assert!(e.contains(&format!("Try \"{s}\"")), "{bad}: {e}"),
                None => assert!(e.contains("such as \"my-laptop\""), "{bad}: {e}"),
            }
        }
        let long = "a".repeat(64);
        let e = check(&long).expect_err("too long");
        assert!(e.contains(&format!("Try \"{}\"", "a".repeat(63))), "{e}");
        assert!(check("").expect_err("empty").contains("it is empty"));
    }

    #[test]
    fn every_suggestion_passes_the_check() {
        for raw in ["My Laptop", "x--y", "ÄÖÜ", "a b c", "host.example.com", &"é".repeat(70)] {
            if let Some(s) = suggest(raw) {
                assert_eq!(check(&s).as_deref(), Ok(s.as_str()), "{raw}");
            }
        }
        assert!(is_valid(computer_name()), "{}", computer_name());
    }
}
