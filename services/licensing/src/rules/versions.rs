//! Version order within a family, which downgrade and upgrade rights
//! follow: "9" < "10" < "10.1" < "2016" and "1.0-beta" < "1.0-rc".

/// A key whose byte order (PostgreSQL `COLLATE "C"`) is the release order
/// of versions: numeric segments compare as numbers, other segments as
/// lower-case text, and a version sorts before its extensions ("10" <
/// "10.1"). Segments are split at `.`, `-`, `_`, `+` and spaces.
pub fn version_key(version: &str) -> String {
    version
        .split(['.', '-', '_', '+', ' '])
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            if segment.bytes().all(|byte| byte.is_ascii_digit()) {
                let digits = segment.trim_start_matches('0');
                // Digits sort before letters ('0' < 'a'); the length prefix
                // makes longer numbers sort after shorter ones.
                format!("0{:02}{digits}", digits.len())
            } else {
                format!("1{}", segment.to_lowercase())
            }
        })
        .collect::<Vec<_>>()
        .join("\u{1}")
}

#[cfg(test)]
mod tests {
    use super::version_key;

    fn ordered(versions: &[&str]) {
        for pair in versions.windows(2) {
            assert!(
                version_key(pair[0]) < version_key(pair[1]),
                "{} should sort before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn numeric_segments_compare_as_numbers() {
        ordered(&[
            "", "2", "9", "10", "10.0.1", "10.1", "10.10", "2016", "2019",
        ]);
    }

    #[test]
    fn text_segments_follow_numbers_and_compare_case_insensitively() {
        ordered(&["1.0", "1.0-Beta", "1.0-rc", "1.1"]);
        assert_eq!(version_key("1.0-RC"), version_key("1.0-rc"));
        assert_eq!(version_key("010"), version_key("10"));
    }
}
