//! A model from its declarative spec: [`spec`] (layers, data, settings), [`arch`] (the layers
//! resolved over the input shape), `fit` (float training with burn, feature `train`), [`model`]
//! (the trained float model and its float graph) and [`eval`] (the float model versus its int8
//! blob).

pub mod arch;
pub mod eval;
#[cfg(feature = "train")]
pub mod fit;
pub mod model;
pub mod spec;
