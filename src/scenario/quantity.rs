//! Dimensioned scenario values: a bare number in the field's documented unit, or a string
//! "value unit" converted to it ("1 ns" for a time in µs, "100 kPa", "125 1/s").

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A physical dimension: its canonical unit and the units accepted for it.
pub trait Dimension {
    /// Canonical unit (the micro system).
    const UNIT: &'static str;
    /// (unit, factor to the canonical unit).
    const UNITS: &'static [(&'static str, f64)];
}

macro_rules! dimension {
    ($name:ident, $unit:expr, [$(($u:expr, $f:expr)),* $(,)?]) => {
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name;
        impl Dimension for $name {
            const UNIT: &'static str = $unit;
            const UNITS: &'static [(&'static str, f64)] = &[$(($u, $f)),*];
        }
    };
}

dimension!(
    Length,
    "µm",
    [("µm", 1.0), ("um", 1.0), ("nm", 1e-3), ("mm", 1e3), ("m", 1e6)]
);
dimension!(
    Time,
    "µs",
    [("µs", 1.0), ("us", 1.0), ("ns", 1e-3), ("ms", 1e3), ("s", 1e6)]
);
dimension!(
    Pressure,
    "kPa",
    [
        ("kPa", 1.0),
        ("Pa", 1e-3),
        ("MPa", 1e3),
        ("GPa", 1e6),
        ("J/m3", 1e-3),
        ("J/m³", 1e-3),
        ("bar", 100.0),
        ("atm", 101.325)
    ]
);
dimension!(
    Rate,
    "1/µs",
    [
        ("1/µs", 1.0),
        ("1/us", 1.0),
        ("1/s", 1e-6),
        ("s^-1", 1e-6),
        ("Hz", 1e-6)
    ]
);
dimension!(Temperature, "K", [("K", 1.0)]);
dimension!(
    Velocity,
    "µm/µs",
    [("µm/µs", 1.0), ("um/us", 1.0), ("m/s", 1.0), ("mm/s", 1e-3)]
);
dimension!(
    Mass,
    "µg",
    [("µg", 1.0), ("ug", 1.0), ("mg", 1e3), ("ng", 1e-3), ("pg", 1e-6)]
);
dimension!(
    Density,
    "g/cm³",
    [
        ("g/cm³", 1.0),
        ("g/cm3", 1.0),
        ("kg/m3", 1e-3),
        ("kg/m³", 1e-3),
        ("pg/µm³", 1.0)
    ]
);
dimension!(Force, "nN", [("nN", 1.0), ("pN", 1e-3), ("µN", 1e3), ("uN", 1e3)]);

/// A value stored in the canonical unit of `D`.
#[derive(Clone, Copy, PartialEq)]
pub struct Q<D: Dimension>(pub f64, PhantomData<D>);

impl<D: Dimension> Q<D> {
    pub const fn new(v: f64) -> Self {
        Q(v, PhantomData)
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Zero, for optional quantities that default to none of it.
impl<D: Dimension> Default for Q<D> {
    fn default() -> Self {
        Q::new(0.0)
    }
}

impl<D: Dimension> fmt::Debug for Q<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, D::UNIT)
    }
}

impl<D: Dimension> Serialize for Q<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// Parses "value unit" into the canonical unit of `D`.
pub fn parse<D: Dimension>(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let unit = unit.trim();
    let accepted: Vec<&str> = D::UNITS.iter().map(|u| u.0).collect();
    match D::UNITS.iter().find(|(u, _)| *u == unit) {
        Some((_, factor)) => Ok(value * factor),
        None if unit.is_empty() => Ok(value),
        None => Err(format!(
            "unit `{unit}` is not a unit of this quantity; use one of: {}",
            accepted.join(", ")
        )),
    }
}

impl<'de, D: Dimension> Deserialize<'de> for Q<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<D>(PhantomData<D>);
        impl<D: Dimension> Visitor<'_> for V<D> {
            type Value = Q<D>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a number in {} or a string like \"1.5 {}\"", D::UNIT, D::UNIT)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Q<D>, E> {
                Ok(Q::new(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Q<D>, E> {
                Ok(Q::new(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Q<D>, E> {
                Ok(Q::new(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Q<D>, E> {
                parse::<D>(v).map(Q::new).map_err(E::custom)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_and_wrong_dimensions_are_refused() {
        assert_eq!(parse::<Time>("1 ns").unwrap(), 1e-3);
        assert_eq!(parse::<Time>("0.001").unwrap(), 0.001);
        assert_eq!(parse::<Rate>("125 1/s").unwrap(), 1.25e-4);
        assert_eq!(parse::<Pressure>("0.1 MPa").unwrap(), 100.0);
        assert!(parse::<Pressure>("3 kg").unwrap_err().contains("kPa"));
        assert!(parse::<Length>("abc µm").is_err());
        let q: Q<Time> = ron::from_str("\"2 ns\"").unwrap();
        assert!((q.get() - 2e-3).abs() < 1e-18);
        let q: Q<Time> = ron::from_str("0.5").unwrap();
        assert_eq!(q.get(), 0.5);
        assert!(ron::from_str::<Q<Time>>("\"2 kPa\"").is_err());
    }
}
