//! Per-layer dumps: run a blob on one input and keep every operator's output, to find the
//! first layer where mote and a reference (TFLM's intermediates) part ways.

use anyhow::{Result, anyhow, ensure};
use mote::format::{Op, TensorDef};
use mote::{Interpreter, Model, Observer};

/// One operator's output: its index, its name (`Op::name`) and the bytes it wrote.
pub type LayerOutput = (u16, String, Vec<u8>);

/// Collects each operator's output bytes.
#[derive(Debug, Default)]
struct Recorder {
    layers: Vec<LayerOutput>,
}

impl Observer for Recorder {
    fn after(&mut self, index: u16, op: &Op<'_>, _def: &TensorDef, output: &[u8]) {
        self.layers
            .push((index, op.name().to_owned(), output.to_vec()));
    }
}

/// Runs `blob` once on `input` (the bytes of its single graph input) and returns every
/// operator's output in execution order. Importers map one source operator to one [`Op`], so
/// index `i` here is operator `i` of the source model.
///
/// # Errors
/// If the blob does not validate, the model has more than one input, `input` has the wrong
/// length, or the interpreter fails.
pub fn run_with_dump(blob: &[u8], input: &[u8]) -> Result<Vec<LayerOutput>> {
    let model = Model::parse(blob).map_err(|e| anyhow!("invalid blob: {e}"))?;
    ensure!(
        model.inputs().len() == 1,
        "the model has {} inputs; a dump takes a model with one",
        model.inputs().len()
    );
    let mut arena = crate::run::host_arena(&model)?;
    let mut interpreter =
        Interpreter::new(&model, &mut arena).map_err(|e| anyhow!("interpreter: {e}"))?;
    interpreter
        .set_input(0, input)
        .map_err(|e| anyhow!("input: {e}"))?;
    let mut recorder = Recorder::default();
    interpreter
        .invoke_observed(&mut recorder)
        .map_err(|e| anyhow!("inference: {e}"))?;
    Ok(recorder.layers)
}
