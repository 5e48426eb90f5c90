//! NHS numbers from the range NHS England reserves for testing: ten digits starting `999`, the last a
//! modulus-11 check digit. Numbers whose check digit would be 10 do not exist and are never issued.

/// The modulus-11 check digit of an NHS number's first nine digits; `None` when it would be 10 (such a
/// number is invalid and is skipped, as the NHS does).
pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        d => u8::try_from(d).ok(),
    }
}

/// Whether `s` is a valid NHS number (ten digits with a correct check digit).
pub fn is_valid(s: &str) -> bool {
    let digits: Vec<u8> = s.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if digits.len() != 10 || digits.iter().any(|d| *d > 9) {
        return false;
    }
    let mut nine = [0u8; 9];
    nine.copy_from_slice(&digits[..9]);
    check_digit(&nine) == Some(digits[9])
}

/// Whether `s` is a valid NHS number in the test range (`999` prefix).
pub fn is_test_number(s: &str) -> bool {
    s.starts_with("999") && is_valid(s)
}

/// The test-range NHS number for a random draw: `999` then six digits from `draw`, then the check digit.
/// Draws whose check digit would be 10 move to the next six-digit serial until one is valid (at most a
/// handful of steps: about one serial in eleven is invalid).
pub fn test_number(draw: u32) -> String {
    let mut serial = draw % 1_000_000;
    loop {
        let mut nine = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        let mut s = serial;
        for slot in nine[3..].iter_mut().rev() {
            *slot = u8::try_from(s % 10).unwrap_or(0);
            s /= 10;
        }
        if let Some(check) = check_digit(&nine) {
            let mut out = String::with_capacity(10);
            for d in nine.iter().chain(std::iter::once(&check)) {
                out.push(char::from(b'0' + d));
            }
            return out;
        }
        serial = (serial + 1) % 1_000_000;
    }
}

/// The six-digit serials (after `999`) whose check digit is not 10, in order: 909,091 numbers.
fn valid_serials() -> &'static [u32] {
    static SERIALS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    SERIALS.get_or_init(|| {
        (0..1_000_000u32)
            .filter(|n| {
                let mut nine = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
                let mut s = *n;
                for slot in nine[3..].iter_mut().rev() {
                    *slot = u8::try_from(s % 10).unwrap_or(0);
                    s /= 10;
                }
                check_digit(&nine).is_some()
            })
            .collect()
    })
}

/// How many distinct test-range NHS numbers exist (and so how many patients can have distinct ones).
pub fn distinct_test_numbers() -> u64 {
    valid_serials().len() as u64
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The NHS number of patient `index` in a dataset generated with `seed`: a permutation of the valid test
/// numbers (`index * step + offset` modulo their count, with `step` coprime to it), so the first
/// [`distinct_test_numbers`] patients of a dataset never share a number, and each seed orders them
/// differently.
pub fn patient_number(seed: u64, index: u64) -> String {
    let serials = valid_serials();
    let count = serials.len() as u64;
    let step = [611_953u64, 700_001, 786_433, 857_143]
        .into_iter()
        .find(|p| gcd(*p, count) == 1)
        .unwrap_or(1);
    let offset = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) % count;
    let k = (u128::from(index % count) * u128::from(step) + u128::from(offset)) % u128::from(count);
    let serial = serials[usize::try_from(k).unwrap_or(0)];
    test_number(serial)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        // 943 476 5919 is the NHS Data Dictionary's worked example; 999 000 0018 a published test number.
        assert!(is_valid("9434765919"));
        assert!(!is_valid("9434765918"));
        assert!(is_test_number("9990000018"));
        assert!(
            !is_test_number("9434765919"),
            "valid but not in the test range"
        );
        assert!(!is_valid("999000001"), "nine digits");
        assert!(!is_valid("99900000a8"));
    }

    #[test]
    fn check_digit_ten_is_skipped() {
        // 999 000 001: weights 10..2 give 9*10+9*9+9*8+1*2 = 245, 245 % 11 = 3, 11 - 3 = 8.
        assert_eq!(check_digit(&[9, 9, 9, 0, 0, 0, 0, 0, 1]), Some(8));
        let ten = (0..1_000_000u32)
            .find(|n| {
                let mut nine = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
                let mut s = *n;
                for slot in nine[3..].iter_mut().rev() {
                    *slot = (s % 10) as u8;
                    s /= 10;
                }
                check_digit(&nine).is_none()
            })
            .unwrap();
        let number = test_number(ten);
        assert!(is_test_number(&number), "{number}");
        assert_ne!(
            &number[3..9],
            format!("{ten:06}"),
            "the invalid serial is skipped"
        );
    }

    #[test]
    fn patients_of_a_dataset_have_distinct_numbers() {
        assert_eq!(distinct_test_numbers(), 909_091);
        for seed in [0, 42] {
            let numbers: std::collections::HashSet<String> =
                (0..100_000).map(|i| patient_number(seed, i)).collect();
            assert_eq!(numbers.len(), 100_000, "seed {seed}");
        }
        assert_ne!(patient_number(1, 0), patient_number(2, 0));
    }

    proptest! {
        #[test]
        fn patient_numbers_are_valid_test_numbers(seed in any::<u64>(), index in 0u64..2_000_000) {
            let n = patient_number(seed, index);
            prop_assert!(is_test_number(&n), "{}", n);
        }

        #[test]
        fn every_generated_number_is_a_valid_test_number(draw in any::<u32>()) {
            let n = test_number(draw);
            prop_assert_eq!(n.len(), 10);
            prop_assert!(n.starts_with("999"), "{}", n);
            prop_assert!(is_valid(&n), "{}", n);
        }
    }
}
