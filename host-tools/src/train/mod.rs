//! A model from its declarative spec: [`spec`] (the spec and the float model it trains into),
//! `fit` (float training with burn, feature `train`) and [`eval`] (the float model versus its
//! int8 blob).

pub mod eval;
#[cfg(feature = "train")]
pub mod fit;
pub mod spec;
