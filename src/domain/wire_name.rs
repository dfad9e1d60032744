//! The one way an enum of fixed words gets its names: the table of variants and wire names is
//! written once, and `ALL`, `as_str`, `from_wire`, `Display` (and, where the enum refuses
//! unknown words with an error of its own, `FromStr`) are made from it.
//!
//! Names are matched exactly (case matters), as every surface has always done.

/// `wire_names! { Enum { Variant => "name", … } }` gives `Enum`:
/// * `ALL`: every variant, in the order of the table (an array, so `ALL.map(…)` works);
/// * `as_str`: the wire name;
/// * `from_wire`: the variant of an exact name, `None` for any other text;
/// * `Display`: the wire name.
///
/// With `refused: ErrorType = |text| error;` before the table it also implements `FromStr`,
/// refusing other text with that error (`text` is the refused text):
/// `wire_names! { Region, refused: ValidationError = |_| ValidationError::InvalidRegion; { Us => "us" } }`.
macro_rules! wire_names {
    ($ty:ident, refused: $err:ty = |$text:pat_param| $error:expr; { $($variant:ident => $name:literal),+ $(,)? }) => {
        $crate::domain::wire_name::wire_names! { $ty { $($variant => $name),+ } }

        impl ::std::str::FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match $ty::from_wire(s) {
                    Some(v) => Ok(v),
                    None => {
                        let $text = s;
                        Err($error)
                    }
                }
            }
        }
    };
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in the order of its table of names.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The variant with exactly this wire name.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use wire_names;
