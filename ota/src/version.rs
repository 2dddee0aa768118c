//! Release versions: `MAJOR.MINOR.PATCH`, compared numerically.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::new(Kind::Malformed, format!("{s:?} is not a version (MAJOR.MINOR.PATCH)"));
        let mut it = s.split('.');
        let mut part = || -> Result<u32, Error> {
            let p = it.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = Version(part()?, part()?, part()?);
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_and_orders() {
        let a: Version = "0.9.10".parse().unwrap();
        let b: Version = "0.10.0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "0.9.10");
        for bad in ["", "1", "1.2", "1.2.3.4", "1.-2.3", "a.b.c", "1..3", "1.2.3 ", "9999999999.0.0"] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
    }
}
