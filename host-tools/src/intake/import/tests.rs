//! The importer's unit tests: synthetic models from a small `.tflite` writer, the MLPerf Tiny
//! models' parameters against TFLM's formulas, and single-operator models against TFLM's
//! recorded outputs.

use super::*;
use crate::intake::tflite::schema::{self, BuiltinOptions};
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

/// TFLM's own outputs for single-operator models, recorded by the runtime's kernel authors
/// from the `tflite-micro` wheel; shared so that the importer's parameters are checked against
/// TFLM end to end, not only the kernels.
#[path = "../../../../runtime/src/kernels/reference/goldens.rs"]
#[allow(dead_code, unreachable_pub)]
mod goldens;

type Options = Box<dyn Fn(&mut FlatBufferBuilder<'static>) -> WIPOffset<UnionWIPOffset>>;

struct TensorSpec {
    dtype: TensorType,
    shape: Vec<i32>,
    /// Scales, zero points, quantized dimension.
    quant: Option<(Vec<f32>, Vec<i64>, i32)>,
    data: Option<Vec<u8>>,
}

struct OpSpec {
    code: B,
    version: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Option<(BuiltinOptions, Options)>,
}

/// A tiny `.tflite` writer for synthetic models.
#[derive(Default)]
struct Builder {
    tensors: Vec<TensorSpec>,
    ops: Vec<OpSpec>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

impl Builder {
    fn tensor(&mut self, t: TensorSpec) -> i32 {
        self.tensors.push(t);
        self.tensors.len() as i32 - 1
    }

    /// An int8 activation.
    fn act(&mut self, shape: &[i32], scale: f32, zp: i64) -> i32 {
        self.tensor(TensorSpec {
            dtype: TensorType::INT8,
            shape: shape.to_vec(),
            quant: Some((vec![scale], vec![zp], 0)),
            data: None,
        })
    }

    fn op(
        &mut self,
        code: B,
        version: i32,
        inputs: &[i32],
        outputs: &[i32],
        options: Option<(BuiltinOptions, Options)>,
    ) {
        self.ops.push(OpSpec {
            code,
            version,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        });
    }

    fn build(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let mut buffers = vec![schema::Buffer::create(&mut fbb, &Default::default())];
        let mut tensors = Vec::new();
        for (i, t) in self.tensors.iter().enumerate() {
            let buffer = match &t.data {
                Some(d) => {
                    let data = fbb.create_vector(d);
                    buffers.push(schema::Buffer::create(
                        &mut fbb,
                        &schema::BufferArgs {
                            data: Some(data),
                            ..Default::default()
                        },
                    ));
                    buffers.len() as u32 - 1
                }
                None => 0,
            };
            let quantization = t.quant.as_ref().map(|(s, z, d)| {
                let scale = fbb.create_vector(s);
                let zero_point = fbb.create_vector(z);
                schema::QuantizationParameters::create(
                    &mut fbb,
                    &schema::QuantizationParametersArgs {
                        scale: Some(scale),
                        zero_point: Some(zero_point),
                        quantized_dimension: *d,
                        ..Default::default()
                    },
                )
            });
            let shape = fbb.create_vector(&t.shape);
            let name = fbb.create_string(&format!("t{i}"));
            tensors.push(schema::Tensor::create(
                &mut fbb,
                &schema::TensorArgs {
                    shape: Some(shape),
                    type_: t.dtype,
                    buffer,
                    name: Some(name),
                    quantization,
                    ..Default::default()
                },
            ));
        }
        let mut codes = Vec::new();
        let mut ops = Vec::new();
        for (i, o) in self.ops.iter().enumerate() {
            codes.push(schema::OperatorCode::create(
                &mut fbb,
                &schema::OperatorCodeArgs {
                    deprecated_builtin_code: o.code.0.min(127) as i8,
                    custom_code: None,
                    version: o.version,
                    builtin_code: o.code,
                },
            ));
            let (options_type, options) = match &o.options {
                Some((t, f)) => (*t, Some(f(&mut fbb))),
                None => (BuiltinOptions::NONE, None),
            };
            let inputs = fbb.create_vector(&o.inputs);
            let outputs = fbb.create_vector(&o.outputs);
            ops.push(schema::Operator::create(
                &mut fbb,
                &schema::OperatorArgs {
                    opcode_index: i as u32,
                    inputs: Some(inputs),
                    outputs: Some(outputs),
                    builtin_options_type: options_type,
                    builtin_options: options,
                    ..Default::default()
                },
            ));
        }
        let tensors = fbb.create_vector(&tensors);
        let operators = fbb.create_vector(&ops);
        let inputs = fbb.create_vector(&self.inputs);
        let outputs = fbb.create_vector(&self.outputs);
        let sg = schema::SubGraph::create(
            &mut fbb,
            &schema::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(inputs),
                outputs: Some(outputs),
                operators: Some(operators),
                ..Default::default()
            },
        );
        let subgraphs = fbb.create_vector(&[sg]);
        let codes = fbb.create_vector(&codes);
        let buffers = fbb.create_vector(&buffers);
        let model = schema::Model::create(
            &mut fbb,
            &schema::ModelArgs {
                version: 3,
                operator_codes: Some(codes),
                subgraphs: Some(subgraphs),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        schema::finish_model_buffer(&mut fbb, model);
        fbb.finished_data().to_vec()
    }
}

fn fc_options(activation: ActivationFunctionType) -> Option<(BuiltinOptions, Options)> {
    Some((
        BuiltinOptions::FullyConnectedOptions,
        Box::new(move |fbb| {
            schema::FullyConnectedOptions::create(
                fbb,
                &schema::FullyConnectedOptionsArgs {
                    fused_activation_function: activation,
                    ..Default::default()
                },
            )
            .as_union_value()
        }),
    ))
}

/// input [1, 4] (scale 0.5, zp -1) -> FULLY_CONNECTED (weights [3, 4], scale 0.25; bias
/// scale 0.125) -> output [1, 3] (scale 1, zp 2).
fn fc_model(
    input_type: TensorType,
    version: i32,
    activation: ActivationFunctionType,
    weight_quant: (Vec<f32>, Vec<i64>, i32),
) -> Builder {
    let mut b = Builder::default();
    let input = b.tensor(TensorSpec {
        dtype: input_type,
        shape: vec![1, 4],
        quant: Some((vec![0.5], vec![-1], 0)),
        data: None,
    });
    let weights: [i8; 12] = [1, 1, 1, 1, -1, -1, -1, -1, 2, 0, 0, -2];
    let w = b.tensor(TensorSpec {
        dtype: TensorType::INT8,
        shape: vec![3, 4],
        quant: Some(weight_quant),
        data: Some(weights.iter().map(|&x| x as u8).collect()),
    });
    let bias = b.tensor(TensorSpec {
        dtype: TensorType::INT32,
        shape: vec![3],
        quant: Some((vec![0.125], vec![0], 0)),
        data: Some([8i32, -8, 0].iter().flat_map(|x| x.to_le_bytes()).collect()),
    });
    let out = b.act(&[1, 3], 1.0, 2);
    b.op(
        B::FULLY_CONNECTED,
        version,
        &[input, w, bias],
        &[out],
        fc_options(activation),
    );
    b.inputs = vec![input];
    b.outputs = vec![out];
    b
}

fn per_tensor_weights() -> (Vec<f32>, Vec<i64>, i32) {
    (vec![0.25], vec![0], 0)
}

/// Imports `bytes`; the model and arena are leaked so that the ops can outlive the call.
fn import_bytes(bytes: &[u8]) -> Result<Vec<Op<'static>>> {
    let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    let model = Box::leak(Box::new(tflite::read(bytes)?));
    let consts = Box::leak(Box::new(Bump::new()));
    Ok(import(model, consts)?.ops)
}

fn import_error(b: &Builder) -> String {
    match import_bytes(&b.build()) {
        Ok(ops) => panic!("imported: {ops:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn fully_connected_runs_as_tflm_computes_it() {
    let bytes = fc_model(
        TensorType::INT8,
        4,
        ActivationFunctionType::RELU,
        per_tensor_weights(),
    )
    .build();
    let model = tflite::read(&bytes).unwrap();
    let consts = Bump::new();
    let mut graph = import(&model, &consts).unwrap();
    let Op::FullyConnected(fc) = &graph.ops[0] else {
        panic!("{:?}", graph.ops)
    };
    // 0.5 * 0.25 / 1 = 0.125 = 0.5 * 2^-2.
    assert_eq!(
        fc.requant,
        Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: -2
        })
    );
    // RELU: zero point + round(0 / scale) = 2.
    assert_eq!(fc.clamp, Clamp { min: 2, max: 127 });
    assert_eq!(graph.names, ["t0", "t3"]);
    let blob = graph.to_blob().unwrap();
    let m = mote::Model::parse(&blob).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
    // x - zp = [0, 2, 4, 6]: rows give 12 + 8 = 20, -12 - 8 = -20, 0 - 12 = -12; times
    // 0.125 with TFLM's two roundings: 3, -3, -2; plus 2: 5, -1, 0; RELU at 2.
    it.set_input(0, &[(-1i8) as u8, 1, 3, 5]).unwrap();
    it.invoke().unwrap();
    assert_eq!(it.output(0).unwrap(), [5, 2, 2]);
}

#[test]
fn unsupported_options_are_named_errors() {
    let tanh = fc_model(
        TensorType::INT8,
        4,
        ActivationFunctionType::TANH,
        per_tensor_weights(),
    );
    let e = import_error(&tanh);
    assert!(
        e.contains("operator 0 (FULLY_CONNECTED v4): fused activation TANH"),
        "{e}"
    );

    let v7 = fc_model(
        TensorType::INT8,
        7,
        ActivationFunctionType::NONE,
        per_tensor_weights(),
    );
    let e = import_error(&v7);
    assert!(e.contains("(FULLY_CONNECTED v7): version 7"), "{e}");

    let float = fc_model(
        TensorType::FLOAT32,
        1,
        ActivationFunctionType::NONE,
        per_tensor_weights(),
    );
    let e = import_error(&float);
    assert!(
        e.contains("this is a float model: quantize it to int8 first"),
        "{e}"
    );

    let int16 = fc_model(
        TensorType::INT16,
        4,
        ActivationFunctionType::NONE,
        per_tensor_weights(),
    );
    // An int16 input with an int8 output: 16x8 needs both int16.
    let e = import_error(&int16);
    assert!(e.contains("the output is I8, the input I16"), "{e}");

    let axis1 = fc_model(
        TensorType::INT8,
        4,
        ActivationFunctionType::NONE,
        (vec![0.25; 4], vec![0; 4], 1),
    );
    let e = import_error(&axis1);
    assert!(e.contains("per-channel weights along axis 1"), "{e}");

    let asymmetric = fc_model(
        TensorType::INT8,
        4,
        ActivationFunctionType::NONE,
        (vec![0.25], vec![3], 0),
    );
    let e = import_error(&asymmetric);
    assert!(e.contains("non-zero zero point"), "{e}");
}

#[test]
fn per_channel_fully_connected() {
    let b = fc_model(
        TensorType::INT8,
        4,
        ActivationFunctionType::NONE,
        (vec![0.25, 0.5, 1.0], vec![0; 3], 0),
    );
    let ops = import_bytes(&b.build()).unwrap();
    let Op::FullyConnected(fc) = &ops[0] else {
        panic!()
    };
    let ch = |c| fc.requant.channel(c);
    assert_eq!(fc.requant.channels(), Some(3));
    assert_eq!((ch(0).multiplier, ch(0).shift), (1 << 30, -2));
    assert_eq!((ch(1).multiplier, ch(1).shift), (1 << 30, -1));
    assert_eq!((ch(2).multiplier, ch(2).shift), (1 << 30, 0));
}

#[test]
fn unsupported_operators_and_shapes() {
    let mut b = Builder::default();
    let x = b.act(&[1, 4], 0.5, 0);
    let y = b.act(&[1, 4], 0.5, 0);
    let z = b.act(&[1, 4], 0.5, 0);
    b.op(B::CUMSUM, 1, &[x, y], &[z], None);
    b.inputs = vec![x, y];
    b.outputs = vec![z];
    let e = import_error(&b);
    assert!(
        e.contains("operator 0 (CUMSUM v1): this operator is not supported"),
        "{e}"
    );

    let mut b = Builder::default();
    let x = b.act(&[1, 4], 0.5, 0);
    let y = b.act(&[1, 1, 1, 1, 1, 4], 0.5, 0);
    b.op(B::RESHAPE, 1, &[x], &[y], None);
    b.inputs = vec![x];
    b.outputs = vec![y];
    let e = import_error(&b);
    assert!(
        e.contains("operator 0 (RESHAPE v1): output tensor 1 \"t1\" has 6 dimensions"),
        "{e}"
    );
}

#[test]
fn relu6_quantize_and_pad() {
    // float [2, 3] -> QUANTIZE (0.05, -10) -> RELU6 -> PAD [[1, 0], [0, 2]] -> DEQUANTIZE.
    let mut b = Builder::default();
    let f = b.tensor(TensorSpec {
        dtype: TensorType::FLOAT32,
        shape: vec![2, 3],
        quant: None,
        data: None,
    });
    let q = b.act(&[2, 3], 0.05, -10);
    let r = b.act(&[2, 3], 0.05, -10);
    let paddings = b.tensor(TensorSpec {
        dtype: TensorType::INT32,
        shape: vec![2, 2],
        quant: None,
        data: Some(
            [1i32, 0, 0, 2]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
    });
    let p = b.act(&[3, 5], 0.05, -10);
    let out = b.tensor(TensorSpec {
        dtype: TensorType::FLOAT32,
        shape: vec![3, 5],
        quant: None,
        data: None,
    });
    b.op(B::QUANTIZE, 1, &[f], &[q], None);
    b.op(B::RELU6, 1, &[q], &[r], None);
    b.op(B::PAD, 2, &[r, paddings], &[p], None);
    b.op(B::DEQUANTIZE, 2, &[p], &[out], None);
    b.inputs = vec![f];
    b.outputs = vec![out];
    let ops = import_bytes(&b.build()).unwrap();
    assert!(matches!(ops[0], Op::Quantize(_)), "{ops:?}");
    let Op::Clip(relu6) = &ops[1] else {
        panic!("{ops:?}")
    };
    // Input zero point -10 to -10 + round(6 / 0.05) = 110, in the input's units.
    assert_eq!(relu6.clamp, Clamp { min: -10, max: 110 });
    let Op::Pad(pad) = &ops[2] else {
        panic!("{ops:?}")
    };
    assert_eq!((pad.before, pad.after), ([1, 0, 0, 0], [0, 2, 0, 0]));
    assert!(matches!(ops[3], Op::Dequantize(_)), "{ops:?}");

    // End to end: quantize [-1, 0, 1, 5, 7, 0.05] to [-30, -10, 10, 90, 127, -9], RELU6
    // to [-10, 110], pad one row above and two columns right with -10, dequantize.
    let bytes = b.build();
    let model = tflite::read(&bytes).unwrap();
    let consts = Bump::new();
    let blob = import(&model, &consts).unwrap().to_blob().unwrap();
    let m = mote::Model::parse(&blob).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
    let x: Vec<u8> = [-1.0f32, 0.0, 1.0, 5.0, 7.0, 0.05]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    it.set_input(0, &x).unwrap();
    it.invoke().unwrap();
    let y: Vec<f32> = it
        .output(0)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let s = 0.05f32;
    #[rustfmt::skip]
    let want = [
        0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 1.0, 0.0, 0.0,
        5.0, 6.0, s, 0.0, 0.0,
    ];
    assert_eq!(y, want);
}

fn mlperf(model: &str) -> Vec<Op<'static>> {
    let path = format!(
        "{}/../tests/data/mlperf-tiny/{model}/model_int8.tflite",
        env!("CARGO_MANIFEST_DIR")
    );
    import_bytes(&std::fs::read(&path).unwrap()).unwrap()
}

/// Parameters of the real models, against values computed independently (Python, from
/// the scales in each `model_analysis.json`) with TFLM's formulas.
#[test]
fn mlperf_parameters_are_tflm_s() {
    // FULLY_CONNECTED multiplies input and weight scales in float: (1638001653, -8); the
    // same product in double would give (1638001719, -8).
    let ad = mlperf("ad_fc_autoencoder");
    let Op::FullyConnected(fc) = &ad[0] else {
        panic!()
    };
    assert_eq!(
        fc.requant,
        Requant::PerTensor(Multiplier {
            multiplier: 1_638_001_653,
            shift: -8
        })
    );

    let kws = mlperf("kws_dscnn");
    let Op::Softmax(s) = &kws[12] else { panic!() };
    assert_eq!(
        (s.input_multiplier, s.input_left_shift, s.diff_min),
        (1_242_899_200, 24, -124)
    );
    let Op::Conv2d(c) = &kws[0] else { panic!() };
    let (c0, c63) = (c.requant.channel(0), c.requant.channel(63));
    assert_eq!((c0.multiplier, c0.shift), (1_359_514_674, -6));
    assert_eq!((c63.multiplier, c63.shift), (1_683_081_220, -8));
    // 49x10 input, 10x4 filter, stride 2, SAME: 25x5 output, padding 4 above, 1 left.
    assert_eq!(
        c.window,
        Window {
            filter_h: 10,
            filter_w: 4,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 4,
            pad_left: 1,
        }
    );
    // RELU with output zero point -128.
    assert_eq!(c.clamp, Clamp::NONE);

    let ic = mlperf("ic_resnet8");
    let Op::Add(a) = &ic[3] else { panic!() };
    let m = |m: Multiplier| (m.multiplier, m.shift);
    assert_eq!(a.left_shift, 20);
    assert_eq!(m(a.input1_multiplier), (1_623_821_475, -2));
    assert_eq!(m(a.input2_multiplier), (1 << 30, 0));
    assert_eq!(m(a.output_multiplier), (1_098_017_566, -17));
}

/// Runs a one-operator model on `input` through import, blob and interpreter.
fn run_single(b: &Builder, input: &[i8]) -> Vec<i8> {
    let bytes = b.build();
    let model = tflite::read(&bytes).unwrap();
    let consts = Bump::new();
    let blob = import(&model, &consts)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .to_blob()
        .unwrap();
    let m = mote::Model::parse(&blob).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
    let x: Vec<u8> = input.iter().map(|&v| v as u8).collect();
    it.set_input(0, &x).unwrap();
    it.invoke().unwrap();
    it.output(0).unwrap().iter().map(|&v| v as i8).collect()
}

/// `[in] -> op -> [out]` over all 256 int8 values.
fn elementwise(
    code: B,
    version: i32,
    (in_scale, in_zp): (f32, i32),
    (out_scale, out_zp): (f32, i32),
    options: Option<(BuiltinOptions, Options)>,
) -> Builder {
    let mut b = Builder::default();
    let x = b.act(&[256], in_scale, i64::from(in_zp));
    let y = b.act(&[256], out_scale, i64::from(out_zp));
    b.op(code, version, &[x], &[y], options);
    b.inputs = vec![x];
    b.outputs = vec![y];
    b
}

fn all_int8() -> Vec<i8> {
    (-128..=127).collect()
}

#[test]
fn single_operator_models_match_tflm_goldens() {
    for g in &goldens::LOGISTIC {
        let b = elementwise(B::LOGISTIC, 2, (g.scale, g.zp), (1.0 / 256.0, -128), None);
        assert_eq!(
            run_single(&b, &all_int8()),
            g.output,
            "LOGISTIC {}",
            g.scale
        );
    }
    for g in &goldens::TANH {
        let b = elementwise(B::TANH, 2, (g.scale, g.zp), (1.0 / 128.0, 0), None);
        assert_eq!(run_single(&b, &all_int8()), g.output, "TANH {}", g.scale);
    }
    for g in &goldens::LEAKY_RELU {
        let alpha = g.alpha;
        let options: Options = Box::new(move |fbb| {
            schema::LeakyReluOptions::create(fbb, &schema::LeakyReluOptionsArgs { alpha })
                .as_union_value()
        });
        let b = elementwise(
            B::LEAKY_RELU,
            1,
            (g.input_scale, g.input_zp),
            (g.output_scale, g.output_zp),
            Some((BuiltinOptions::LeakyReluOptions, options)),
        );
        assert_eq!(run_single(&b, &all_int8()), g.output, "LEAKY_RELU {alpha}");
    }
    for g in &goldens::HARD_SWISH {
        let b = elementwise(
            B::HARD_SWISH,
            1,
            (g.input_scale, g.input_zp),
            (g.output_scale, g.output_zp),
            None,
        );
        assert_eq!(run_single(&b, &all_int8()), g.output, "HARD_SWISH");
    }
    for g in &goldens::MEAN {
        let mut b = Builder::default();
        let x = b.act(&[2, 3, 3, 4], g.input_scale, i64::from(g.input_zp));
        let axes = b.tensor(TensorSpec {
            dtype: TensorType::INT32,
            shape: vec![2],
            quant: None,
            data: Some([1i32, 2].iter().flat_map(|a| a.to_le_bytes()).collect()),
        });
        let y = b.act(&[2, 4], g.output_scale, i64::from(g.output_zp));
        let options: Options = Box::new(|fbb| {
            schema::ReducerOptions::create(fbb, &schema::ReducerOptionsArgs { keep_dims: false })
                .as_union_value()
        });
        b.op(
            B::MEAN,
            2,
            &[x, axes],
            &[y],
            Some((BuiltinOptions::ReducerOptions, options)),
        );
        b.inputs = vec![x];
        b.outputs = vec![y];
        assert_eq!(run_single(&b, &g.input), g.output, "MEAN");
    }
}

/// A chain of 30,000 operators imports, plans and validates in time linear in its length (the
/// planner and the validation once compared every pair of tensors: minutes for such a
/// `.tflite`). The time is printed: `cargo test --release -p mote-tools long_chain --
/// --nocapture`.
#[test]
fn a_long_chain_imports_plans_and_validates() {
    const OPS: usize = 30_000;
    let mut b = Builder::default();
    let mut previous = b.act(&[1, 4], 0.5, 0);
    b.inputs = vec![previous];
    for _ in 0..OPS {
        let next = b.act(&[1, 4], 0.5, 0);
        b.op(B::RESHAPE, 1, &[previous], &[next], None);
        previous = next;
    }
    b.outputs = vec![previous];
    let bytes = b.build();
    let started = std::time::Instant::now();
    let model = tflite::read(&bytes).unwrap();
    let consts = Bump::new();
    let blob = import(&model, &consts).unwrap().to_blob().unwrap();
    let parsed = mote::Model::parse(&blob).unwrap();
    println!(
        "{OPS}-operator chain ({} B .tflite): imported, planned and validated in {:?}",
        bytes.len(),
        started.elapsed()
    );
    assert_eq!(usize::from(parsed.op_count()), OPS);
    assert_eq!(parsed.tensor_bytes(), 8, "two 4-byte slots, ping-pong");
}
