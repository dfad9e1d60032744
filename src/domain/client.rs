//! Client names and application regions.

use super::wire_name::wire_names;

use super::{Field, ValidationError};

/// Longest accepted name, in characters. The vendor documents no limit; this one keeps rows and
/// audit events bounded.
pub const MAX_NAME_CHARS: usize = 255;

/// A client's name (the Registration API calls it `description`): not blank, at most 255
/// characters. Stored as given (no trimming): the vendor echoes names back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::NameNotSupplied);
        }
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::NameTooLong);
        }
        if !crate::domain::is_storable_text(raw) {
            return Err(ValidationError::NotAString { field: Field::Name });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Us,
    Eu,
    Au,
    Sa,
    Cn,
    Sg,
}

wire_names! { Region, refused: ValidationError = |_| ValidationError::InvalidRegion; {
    Us => "us",
    Eu => "eu",
    Au => "au",
    Sa => "sa",
    Cn => "cn",
    Sg => "sg",
} }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_names_are_not_supplied() {
        for raw in ["", " ", "\t\n", "\u{3000}"] {
            assert_eq!(
                ClientName::parse(raw),
                Err(ValidationError::NameNotSupplied),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn names_are_kept_verbatim() {
        assert_eq!(
            ClientName::parse(" my client ").unwrap().as_str(),
            " my client "
        );
        assert_eq!(
            ClientName::parse("ünïcødé, \"quoted\"").unwrap().as_str(),
            "ünïcødé, \"quoted\""
        );
    }

    #[test]
    fn long_names_are_refused() {
        assert!(ClientName::parse(&"x".repeat(255)).is_ok());
        assert_eq!(
            ClientName::parse(&"x".repeat(256)),
            Err(ValidationError::NameTooLong)
        );
        assert!(
            ClientName::parse(&"é".repeat(255)).is_ok(),
            "counted in characters"
        );
    }

    #[test]
    fn regions() {
        for r in ["us", "eu", "au", "sa", "cn", "sg"] {
            assert_eq!(r.parse::<Region>().unwrap().as_str(), r);
        }
        assert_eq!("US".parse::<Region>(), Err(ValidationError::InvalidRegion));
        assert_eq!("".parse::<Region>(), Err(ValidationError::InvalidRegion));
    }
}

/// How long a replaced secret keeps working, in hours (`hoursToLive` / `hours_to_live`).
pub fn hours_to_live(value: i64) -> Result<i32, ValidationError> {
    if (0..=168).contains(&value) {
        Ok(value as i32)
    } else {
        Err(ValidationError::OutOfRange {
            field: Field::HoursToLive,
            min: 0,
            max: 168,
        })
    }
}

#[cfg(test)]
mod hours_tests {
    use super::*;

    #[test]
    fn hours_to_live_range_is_inclusive() {
        assert_eq!(hours_to_live(0), Ok(0));
        assert_eq!(hours_to_live(168), Ok(168));
        assert!(hours_to_live(169).is_err());
        assert!(hours_to_live(-1).is_err());
        assert_eq!(
            hours_to_live(-1).unwrap_err().to_string(),
            "Must be greater than or equal to 0 and less than or equal to 168."
        );
    }
}
