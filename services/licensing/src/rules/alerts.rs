//! Why an assignment is invalid, in words a person reads (seed 003's
//! alerts): shown on the license's assignments and in the invalid
//! assignments report, so nobody has to decode a reason code.

/// The sentence for a stored invalid-assignment `reason` (the engine's,
/// as stored) covering `units`.
pub fn describe(reason: &str, units: i64) -> String {
    let units = match units {
        1 => "1 unit".to_string(),
        units => format!("{units} units"),
    };
    match reason {
        "wrong_consumer_kind" => format!(
            "{units} assigned to the wrong kind of consumer: the license counts computers and \
             this is a user, or the reverse"
        ),
        "inactive_computer" => {
            format!("{units} assigned to an inactive computer, which compliance does not count")
        }
        "not_installed" => {
            format!("{units} assigned to a computer where nothing the license covers is installed")
        }
        "not_used" => format!(
            "{units} assigned to a user who has not used anything the license covers since \
             the metering period began"
        ),
        "too_many_processors" => format!(
            "{units} assigned to a computer with more processors (or cores) than the \
             assignment covers"
        ),
        "exceeds_license_quantity" => format!(
            "{units} assigned beyond the license's quantity (after what upgrades took from it)"
        ),
        "excess" => format!("{units} assigned beyond what the consumer requires"),
        _ => format!("{units} invalid for a reason this version does not know"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_as_a_sentence_with_its_units() {
        let reasons = [
            ("wrong_consumer_kind", "wrong kind of consumer"),
            ("inactive_computer", "inactive computer"),
            ("not_installed", "nothing the license covers is installed"),
            ("not_used", "has not used"),
            ("too_many_processors", "more processors"),
            ("exceeds_license_quantity", "beyond the license's quantity"),
            ("excess", "beyond what the consumer requires"),
        ];
        for (reason, words) in reasons {
            let sentence = describe(reason, 2);
            assert!(sentence.starts_with("2 units "), "{sentence}");
            assert!(sentence.contains(words), "{reason}: {sentence}");
        }
        assert!(describe("excess", 1).starts_with("1 unit "));
        assert!(describe("new", 1).contains("does not know"));
    }
}
