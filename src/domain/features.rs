//! Client features and the rules on combining them (spec §1).

use super::wire_name::wire_names;
use std::collections::BTreeSet;

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    AccessIssuer,
    DirectAccess,
    DirectReadAccess,
    LoginClient,
    Metadata,
    Owner,
}

wire_names! { Feature, refused: ValidationError = |name| ValidationError::InvalidFeature { name: name.to_owned() }; {
    AccessIssuer => "access_issuer",
    DirectAccess => "direct_access",
    DirectReadAccess => "direct_read_access",
    LoginClient => "login_client",
    Metadata => "metadata",
    Owner => "owner",
} }

/// A valid set of features: known names only, `login_client` alone. Iterates sorted by name
/// (the enum order is alphabetical), which is how features are stored and shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureSet(BTreeSet<Feature>);

impl FeatureSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses and checks a requested list. Duplicates collapse (it is a set).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ValidationError> {
        let set = names
            .iter()
            .map(|n| n.as_ref().parse())
            .collect::<Result<BTreeSet<Feature>, _>>()?;
        if set.contains(&Feature::LoginClient) && set.len() > 1 {
            return Err(ValidationError::LoginClientExclusive);
        }
        Ok(Self(set))
    }

    /// Reads features as stored; unknown names (there should be none) are skipped, not fatal.
    pub fn from_stored<S: AsRef<str>>(names: &[S]) -> Self {
        Self(
            names
                .iter()
                .filter_map(|n| n.as_ref().parse().ok())
                .collect(),
        )
    }

    pub fn of(features: &[Feature]) -> Self {
        Self(features.iter().copied().collect())
    }

    pub fn contains(&self, f: Feature) -> bool {
        self.0.contains(&f)
    }

    pub fn intersects(&self, other: &FeatureSet) -> bool {
        self.0.iter().any(|f| other.0.contains(f))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        self.0.iter().copied()
    }

    /// Names, sorted: the stored and displayed form.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|f| f.as_str().to_owned()).collect()
    }

    /// Features in `self` that are not in `other`.
    pub fn minus(&self, other: &FeatureSet) -> Vec<Feature> {
        self.0.difference(&other.0).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_known_feature() {
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>().unwrap(), f);
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_name() {
        assert_eq!(
            FeatureSet::parse(&["owner", "admin"]),
            Err(ValidationError::InvalidFeature {
                name: "admin".into()
            })
        );
        assert!(
            FeatureSet::parse(&["Owner"]).is_err(),
            "names are case sensitive"
        );
        assert!(FeatureSet::parse(&[""]).is_err());
        assert!(FeatureSet::parse(&["image_create"]).is_err());
    }

    #[test]
    fn login_client_is_exclusive() {
        assert_eq!(
            FeatureSet::parse(&["login_client", "direct_access"]),
            Err(ValidationError::LoginClientExclusive)
        );
        assert_eq!(
            FeatureSet::parse(&["owner", "login_client"]),
            Err(ValidationError::LoginClientExclusive)
        );
        assert!(FeatureSet::parse(&["login_client"]).is_ok());
        assert!(FeatureSet::parse(&["login_client", "login_client"]).is_ok());
    }

    #[test]
    fn unknown_name_is_reported_before_the_combination_rule() {
        assert_eq!(
            FeatureSet::parse(&["login_client", "nope"]),
            Err(ValidationError::InvalidFeature {
                name: "nope".into()
            })
        );
    }

    #[test]
    fn names_are_sorted_and_deduplicated() {
        let set = FeatureSet::parse(&["owner", "direct_access", "access_issuer", "owner"]).unwrap();
        assert_eq!(set.names(), vec!["access_issuer", "direct_access", "owner"]);
    }

    #[test]
    fn empty_list_is_valid() {
        assert!(FeatureSet::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn set_operations() {
        let a = FeatureSet::of(&[Feature::Owner, Feature::Metadata]);
        let b = FeatureSet::of(&[Feature::Owner]);
        assert_eq!(a.minus(&b), vec![Feature::Metadata]);
        assert!(a.intersects(&b));
        assert!(!FeatureSet::of(&[Feature::LoginClient]).intersects(&b));
        assert_eq!(
            FeatureSet::from_stored(&["owner", "bogus"]),
            FeatureSet::of(&[Feature::Owner])
        );
    }
}
