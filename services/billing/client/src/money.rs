//! Exact decimal strings for money and margins. The services count money
//! in integer minor units of an ISO 4217 currency and margins in basis
//! points; an export must show exactly those figures, so the decimal point
//! is placed by integer arithmetic and floating point is never involved.

use estate_proto::common::Money;

/// Decimal places of a currency's minor unit (ISO 4217): 2 unless the
/// currency is listed with 0, 3 or 4.
pub fn minor_unit_digits(currency_code: &str) -> u32 {
    match currency_code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// `amount_minor` as a decimal with `digits` places: `(12345, 2)` is
/// `"123.45"`, `(-5, 2)` is `"-0.05"`, `(7, 0)` is `"7"`.
pub fn decimal(amount_minor: i64, digits: u32) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64.
    let magnitude = amount_minor.unsigned_abs();
    let Some(scale) = 10u64.checked_pow(digits) else {
        debug_assert!(false, "no currency has {digits} minor digits");
        return amount_minor.to_string();
    };
    if digits == 0 {
        return format!("{sign}{magnitude}");
    }
    let width = digits as usize;
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
}

/// A money value as a decimal string in its currency's major unit, without
/// the code: `EUR 11106` minor is `"111.06"`.
pub fn money_decimal(money: &Money) -> String {
    decimal(money.amount_minor, minor_unit_digits(&money.currency_code))
}

/// Basis points as a percentage with two places: 1450 is `"14.50"`.
pub fn basis_points_percent(basis_points: i32) -> String {
    decimal(i64::from(basis_points), 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(currency_code: &str, amount_minor: i64) -> Money {
        Money {
            currency_code: currency_code.into(),
            amount_minor,
        }
    }

    #[test]
    fn minor_units_become_exact_decimals_in_the_currencys_major_unit() {
        assert_eq!(money_decimal(&money("EUR", 11_106)), "111.06");
        assert_eq!(money_decimal(&money("EUR", 9_496)), "94.96");
        assert_eq!(money_decimal(&money("USD", 5)), "0.05");
        assert_eq!(money_decimal(&money("USD", 100)), "1.00");
        assert_eq!(money_decimal(&money("EUR", 0)), "0.00");
        assert_eq!(money_decimal(&money("EUR", -1_234)), "-12.34");
        assert_eq!(money_decimal(&money("EUR", -5)), "-0.05");
        assert_eq!(money_decimal(&money("JPY", 1_500)), "1500");
        assert_eq!(money_decimal(&money("KWD", 1_500)), "1.500");
        assert_eq!(money_decimal(&money("CLF", 12_345)), "1.2345");
    }

    #[test]
    fn the_extremes_of_64_bits_are_exact() {
        // Beyond f64's 53-bit mantissa: a float would round these.
        assert_eq!(
            money_decimal(&money("EUR", i64::MAX)),
            "92233720368547758.07"
        );
        assert_eq!(
            money_decimal(&money("EUR", i64::MIN)),
            "-92233720368547758.08"
        );
        assert_eq!(
            money_decimal(&money("EUR", 9_007_199_254_740_993)),
            "90071992547409.93"
        );
    }

    #[test]
    fn margins_in_basis_points_are_percentages_with_two_places() {
        assert_eq!(basis_points_percent(1450), "14.50");
        assert_eq!(basis_points_percent(0), "0.00");
        assert_eq!(basis_points_percent(5), "0.05");
        assert_eq!(basis_points_percent(10_000), "100.00");
    }
}
