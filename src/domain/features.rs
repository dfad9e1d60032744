//! Client features and the rules on combining them (spec §1).

use super::wire_name::wire_names;

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
///
/// One bit per [`Feature`] (bit = the variant's position in the enum): every authenticated
/// request builds one from the stored names, and a tree set cost an allocation there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureSet(u8);

// Every variant has its own bit.
const _: () = assert!(Feature::ALL.len() <= u8::BITS as usize);

impl Feature {
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl FromIterator<Feature> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = Feature>>(features: I) -> Self {
        Self(features.into_iter().fold(0, |bits, f| bits | f.bit()))
    }
}

impl FeatureSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses and checks a requested list. Duplicates collapse (it is a set).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ValidationError> {
        let set = names
            .iter()
            .map(|n| n.as_ref().parse())
            .collect::<Result<FeatureSet, _>>()?;
        if set.contains(Feature::LoginClient) && set.len() > 1 {
            return Err(ValidationError::LoginClientExclusive);
        }
        Ok(set)
    }

    /// Reads features as stored; unknown names (there should be none) are skipped, not fatal.
    pub fn from_stored<S: AsRef<str>>(names: &[S]) -> Self {
        names
            .iter()
            .filter_map(|n| n.as_ref().parse().ok())
            .collect()
    }

    pub fn of(features: &[Feature]) -> Self {
        features.iter().copied().collect()
    }

    pub fn contains(&self, f: Feature) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn intersects(&self, other: &FeatureSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// In enum order, which is alphabetical.
    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        let bits = self.0;
        Feature::ALL
            .into_iter()
            .filter(move |f| bits & f.bit() != 0)
    }

    /// Names, sorted: the stored and displayed form.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|f| f.as_str().to_owned()).collect()
    }

    /// Features in `self` that are not in `other`.
    pub fn minus(&self, other: &FeatureSet) -> Vec<Feature> {
        FeatureSet(self.0 & !other.0).iter().collect()
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

    #[test]
    fn iteration_is_alphabetical_and_each_feature_has_its_own_bit() {
        let names: Vec<&str> = Feature::ALL.iter().map(|f| f.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(
            names, sorted,
            "stored and shown order relies on the enum order"
        );
        let all: FeatureSet = Feature::ALL.into_iter().collect();
        assert_eq!(all.len(), Feature::ALL.len());
        assert_eq!(all.iter().collect::<Vec<_>>(), Feature::ALL.to_vec());
        for f in Feature::ALL {
            let one = FeatureSet::of(&[f]);
            assert!(one.contains(f));
            assert_eq!(one.len(), 1);
            assert_eq!(all.minus(&one).len(), Feature::ALL.len() - 1);
        }
    }
}
