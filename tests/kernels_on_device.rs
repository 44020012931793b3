//! The architecture kernels (Cortex-M DSP assembly, RISC-V) held to the host's results on
//! the boards: random one-operator models (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED with
//! plain and paired rows, the pools, ADD) over shapes, strides, padding, dilations, depth multipliers, zero points,
//! per-tensor and per-channel multipliers with right, no and left shifts, biases and
//! activation clamps, each run on QEMU and on the host, byte for byte. On the host the
//! optimized kernels equal the reference kernels (the runtime's property suite), so this makes
//! the device kernels equal the reference too, including the paths the MLPerf models do not
//! take (clamps, odd groups, tails, no right shift).
//!
//! Needs QEMU and the embedded targets; `cargo test -p mote-tests --test kernels_on_device`.
#![forbid(unsafe_code)]

use std::time::Duration;

use heapless::Vec as HVec;
use mote::format::{
    self, Add, Clamp, Conv2d, DType, DepthwiseConv2d, FullyConnected, Graph, Multiplier, Op,
    PairedFullyConnected, Pool2d, Requant, TensorDef, Window,
};
use mote_tools::device::qemu::{self, ArenaSize, Board};
use mote_tools::plan::graph::HostGraph;

const BOARDS: [Board; 2] = [Board::Mps2An386, Board::Riscv32Virt];
/// Random models per operator kind.
const CASES: usize = 24;
/// Inputs per model.
const SAMPLES: usize = 3;

/// xorshift32: deterministic, no dependencies.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::from(self.next()) % (hi - lo + 1)
    }
    fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn weights(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.range(-127, 127) as i8 as u8).collect()
    }
    /// TFLite's usual zero points (-128 after a ReLU, 0 for symmetric activations) often,
    /// else any.
    fn zero_point(&mut self) -> i32 {
        if self.chance(30) {
            -128
        } else if self.chance(20) {
            0
        } else {
            self.range(-128, 127) as i32
        }
    }
    fn multiplier(&mut self) -> Multiplier {
        let shift = match self.next() % 10 {
            0 => 0,
            1 => self.range(1, 3),
            _ => self.range(-12, -1),
        } as i8;
        Multiplier {
            multiplier: self.range(1 << 30, i64::from(i32::MAX)) as i32,
            shift,
        }
    }
    fn clamp(&mut self, zp: i32) -> Clamp {
        match self.next() % 3 {
            0 => Clamp::NONE,
            1 => Clamp {
                min: zp as i8,
                max: i8::MAX,
            },
            _ => {
                let (a, b) = (self.range(-128, 127) as i8, self.range(-128, 127) as i8);
                Clamp {
                    min: a.min(b),
                    max: a.max(b),
                }
            }
        }
    }
}

/// TFLite's output size and leading padding along one axis, SAME or VALID.
fn axis(
    size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    same: bool,
) -> Option<(usize, u16)> {
    let extent = (filter - 1) * dilation + 1;
    if same {
        let out = size.div_ceil(stride);
        let total = ((out - 1) * stride + extent).saturating_sub(size);
        Some((out, (total / 2) as u16))
    } else {
        (size >= extent).then(|| ((size - extent) / stride + 1, 0))
    }
}

fn tensor(shape: &[usize], zero_point: i32, offset: u32) -> TensorDef {
    let shape: Vec<u16> = shape.iter().map(|&d| d as u16).collect();
    TensorDef {
        dtype: DType::I8,
        shape: HVec::from_slice(&shape).unwrap(),
        scale: 0.5,
        zero_point,
        offset,
        first_op: 0,
        last_op: 0,
    }
}

/// A one-operator blob: `inputs` then the output, laid out back to back.
fn blob(inputs: &[TensorDef], output: TensorDef, op: &Op<'_>) -> Vec<u8> {
    let mut tensors = inputs.to_vec();
    tensors.push(output);
    graph_blob(&tensors, inputs.len(), std::slice::from_ref(op))
}

/// A blob of `ops` over `tensors` (the first `inputs` of them the inputs, the last the
/// output, their lifetimes as given), laid out back to back.
fn graph_blob(tensors: &[TensorDef], inputs: usize, ops: &[Op<'_>]) -> Vec<u8> {
    let mut tensors = tensors.to_vec();
    let mut offset = 0;
    for t in &mut tensors {
        t.offset = offset;
        offset += t.byte_len().unwrap() as u32;
    }
    let table = format::encode_tensors(&tensors).unwrap();
    let encoded = format::encode_ops(ops).unwrap();
    let graph = Graph {
        arena_size: offset,
        inputs: (0..inputs as u16).collect(),
        outputs: HVec::from_slice(&[tensors.len() as u16 - 1]).unwrap(),
        tensors: &table,
        op_count: ops.len() as u16,
        ops: &encoded,
    };
    let blob = format::encode(&graph).unwrap();
    mote::Model::parse(&blob).unwrap_or_else(|e| panic!("invalid test model {ops:?}: {e}"));
    blob
}

fn requant_bytes(rng: &mut Rng, channels: usize) -> (Vec<u8>, Vec<u8>, Multiplier) {
    let ms: Vec<Multiplier> = (0..channels).map(|_| rng.multiplier()).collect();
    (
        ms.iter().flat_map(|m| m.multiplier.to_le_bytes()).collect(),
        ms.iter().map(|m| m.shift as u8).collect(),
        ms[0],
    )
}

/// Makes every shift of `requant_bytes`' result a right shift (what TFLite's converter
/// produces for scales below one, and what the assembly fast paths take).
fn right_shifts_only(shifts: &mut [u8], one: &mut Multiplier) {
    let right = |s: i8| if s < 0 { s } else { -1 - s };
    shifts.iter_mut().for_each(|s| *s = right(*s as i8) as u8);
    one.shift = right(one.shift);
}

fn biases(rng: &mut Rng, channels: usize) -> Vec<u8> {
    (0..channels)
        .flat_map(|_| (rng.range(-40_000, 40_000) as i32).to_le_bytes())
        .collect()
}

/// Every sample's outputs on the host (samples: every input's bytes, in input order).
fn host(blob: &[u8], inputs: &[u8]) -> Vec<u8> {
    let model = mote::Model::parse(blob).unwrap();
    let lens: Vec<usize> = model
        .inputs()
        .iter()
        .map(|&id| model.tensor(id).unwrap().byte_len().unwrap())
        .collect();
    let mut arena = vec![0u8; model.arena_size()];
    let mut interpreter = mote::Interpreter::new(&model, &mut arena).unwrap();
    let mut out = Vec::new();
    for sample in inputs.chunks_exact(lens.iter().sum()) {
        let mut rest = sample;
        for (i, &len) in lens.iter().enumerate() {
            let (part, tail) = rest.split_at(len);
            interpreter.set_input(i, part).unwrap();
            rest = tail;
        }
        interpreter.invoke().unwrap();
        out.extend_from_slice(interpreter.output(0).unwrap());
    }
    out
}

/// Runs `blob` on every board over random inputs and compares with the host.
fn check(name: &str, blob: &[u8], rng: &mut Rng) {
    let model = mote::Model::parse(blob).unwrap();
    let len: usize = model
        .inputs()
        .iter()
        .map(|&id| model.tensor(id).unwrap().byte_len().unwrap())
        .sum();
    let inputs = rng.bytes(len * SAMPLES);
    let want = host(blob, &inputs);
    for board in BOARDS {
        let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let run = qemu::run(board, &elf, blob, &inputs, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{name} on {board}: {e:#}"));
        assert!(
            run.outputs == want,
            "{name} on {board}: the device differs from the host\n{:?}",
            mote::Model::parse(blob).unwrap().ops().next()
        );
    }
}

struct Spatial {
    n: usize,
    h: usize,
    w: usize,
    window: Window,
    out: (usize, usize),
}

fn spatial(rng: &mut Rng, max_filter: usize, dilate: bool) -> Spatial {
    loop {
        let (n, h, w) = (rng.usize(1, 2), rng.usize(1, 12), rng.usize(1, 12));
        let (fh, fw) = (rng.usize(1, max_filter), rng.usize(1, max_filter));
        let (sh, sw) = (rng.usize(1, 2), rng.usize(1, 2));
        let (dh, dw) = if dilate && rng.chance(15) {
            (rng.usize(1, 2), rng.usize(1, 2))
        } else {
            (1, 1)
        };
        let same = rng.chance(60);
        if let (Some((oh, pt)), Some((ow, pl))) =
            (axis(h, fh, sh, dh, same), axis(w, fw, sw, dw, same))
        {
            return Spatial {
                n,
                h,
                w,
                out: (oh, ow),
                window: Window {
                    filter_h: fh as u16,
                    filter_w: fw as u16,
                    stride_h: sh as u16,
                    stride_w: sw as u16,
                    dilation_h: dh as u16,
                    dilation_w: dw as u16,
                    pad_top: pt,
                    pad_left: pl,
                },
            };
        }
    }
}

#[test]
fn conv_2d() {
    let mut rng = Rng(0x6d6f_7465);
    for case in 0..CASES {
        let s = spatial(&mut rng, 3, true);
        let (cin, cout) = (rng.usize(1, 20), rng.usize(1, 12));
        let taps = usize::from(s.window.filter_h) * usize::from(s.window.filter_w);
        let filter = rng.weights(cout * taps * cin);
        let bias = biases(&mut rng, cout);
        let (m, mut sh, mut one) = requant_bytes(&mut rng, cout);
        // Half the cases shift right only (the Cortex-M4 fast paths, the output zero point
        // folded into the parameters).
        if rng.chance(50) {
            right_shifts_only(&mut sh, &mut one);
        }
        // Every sixth no shift at all, with an output zero point of 0: nothing to fold or
        // add, and the requantization without a right shift.
        let unshifted = case % 6 == 5;
        if unshifted {
            sh.fill(0);
            one.shift = 0;
        }
        let requant = if rng.chance(70) {
            Requant::PerChannel {
                multipliers: &m,
                shifts: &sh,
            }
        } else {
            Requant::PerTensor(one)
        };
        let (zi, zo) = (rng.zero_point(), rng.zero_point());
        let zo = if unshifted { 0 } else { zo };
        let op = Op::Conv2d(Conv2d {
            input: 0,
            output: 1,
            window: s.window,
            filter: &filter,
            bias: rng.chance(90).then_some(&bias[..]),
            requant,
            clamp: rng.clamp(zo),
        });
        let b = blob(
            &[tensor(&[s.n, s.h, s.w, cin], zi, 0)],
            tensor(&[s.n, s.out.0, s.out.1, cout], zo, 0),
            &op,
        );
        check(&format!("conv case {case}"), &b, &mut rng);
    }
}

#[test]
fn depthwise_conv_2d() {
    let mut rng = Rng(0x0dd5_eed5);
    for case in 0..CASES {
        // Mostly 3x3, the filter the Cortex-M assembly takes; a third of the cases with
        // dilation 1 (strides 1 and 2), what its line path takes.
        let line = rng.chance(35);
        let s = loop {
            let s = spatial(&mut rng, 3, true);
            let w = s.window;
            let square = (w.filter_h, w.filter_w) == (3, 3);
            let unit = (w.dilation_h, w.dilation_w) == (1, 1);
            if (line && square && unit) || (!line && (square || rng.chance(25))) {
                break s;
            }
        };
        // Those and half the others are what the row and line paths take (3x3, dilation 1,
        // whole groups of four channels, multiplier 1, right shifts only: the MLPerf layers).
        let w = s.window;
        let rows = line
            || (w.filter_h, w.filter_w, w.dilation_h, w.dilation_w) == (3, 3, 1, 1)
                && rng.chance(50);
        let c = if rows {
            4 * rng.usize(1, 10)
        } else {
            rng.usize(1, 40)
        };
        let multiplier = if rows || rng.chance(85) { 1 } else { 2 };
        let cout = c * multiplier;
        let taps = usize::from(s.window.filter_h) * usize::from(s.window.filter_w);
        let filter = rng.weights(taps * cout);
        let bias = biases(&mut rng, cout);
        let (m, mut sh, mut one) = requant_bytes(&mut rng, cout);
        if rows {
            right_shifts_only(&mut sh, &mut one);
        }
        let requant = if rng.chance(70) {
            Requant::PerChannel {
                multipliers: &m,
                shifts: &sh,
            }
        } else {
            Requant::PerTensor(one)
        };
        let (zi, zo) = (rng.zero_point(), rng.zero_point());
        let op = Op::DepthwiseConv2d(DepthwiseConv2d {
            input: 0,
            output: 1,
            window: s.window,
            depth_multiplier: multiplier as u16,
            filter: &filter,
            bias: rng.chance(90).then_some(&bias[..]),
            requant,
            clamp: rng.clamp(zo),
        });
        let b = blob(
            &[tensor(&[s.n, s.h, s.w, c], zi, 0)],
            tensor(&[s.n, s.out.0, s.out.1, cout], zo, 0),
            &op,
        );
        check(&format!("depthwise case {case}"), &b, &mut rng);
    }
}

/// FULLY_CONNECTED with plain rows: blobs written before the row pairs, on the reference
/// kernel.
#[test]
fn fully_connected() {
    let mut rng = Rng(0x00fc_00fc);
    for case in 0..CASES {
        let (batches, depth, units) = (rng.usize(1, 2), rng.usize(1, 160), rng.usize(1, 20));
        let weights = rng.weights(units * depth);
        let bias = biases(&mut rng, units);
        let (m, sh, one) = requant_bytes(&mut rng, units);
        let requant = if rng.chance(50) {
            Requant::PerChannel {
                multipliers: &m,
                shifts: &sh,
            }
        } else {
            Requant::PerTensor(one)
        };
        let (zi, zo) = (rng.zero_point(), rng.zero_point());
        let op = Op::FullyConnected(FullyConnected {
            input: 0,
            output: 1,
            units: units as u16,
            weights: &weights,
            bias: rng.chance(90).then_some(&bias[..]),
            requant,
            clamp: rng.clamp(zo),
        });
        let b = blob(
            &[tensor(&[batches, depth], zi, 0)],
            tensor(&[batches, units], zo, 0),
            &op,
        );
        check(&format!("fully connected case {case}"), &b, &mut rng);
    }
}

/// FULLY_CONNECTED with its weights in row pairs, as the host writes it (word-aligned: the
/// Cortex-M4 assembly takes whole layers of a per-tensor requantization when the depth is a
/// multiple of 8 and the shift a right shift, and the pairs of per-channel layers when it is
/// a multiple of 4) or at whatever offset the encoding gives (the portable loop).
#[test]
fn fully_connected_paired() {
    let mut rng = Rng(0x0fc0_9a12);
    for case in 0..CASES {
        let batches = rng.usize(1, 2);
        let depth = if rng.chance(70) {
            8 * rng.usize(1, 24)
        } else {
            rng.usize(1, 160)
        };
        let units = rng.usize(1, 20);
        let weights = rng.weights(units * depth);
        let bias = biases(&mut rng, units);
        let (multipliers, mut shifts, mut one) = requant_bytes(&mut rng, units);
        if rng.chance(80) {
            right_shifts_only(&mut shifts, &mut one);
        }
        let requant = if rng.chance(40) {
            Requant::PerChannel {
                multipliers: &multipliers,
                shifts: &shifts,
            }
        } else {
            Requant::PerTensor(one)
        };
        let (zi, zo) = (rng.zero_point(), rng.zero_point());
        let fc = FullyConnected {
            input: 0,
            output: 1,
            units: units as u16,
            weights: &weights,
            bias: rng.chance(90).then_some(&bias[..]),
            requant,
            clamp: rng.clamp(zo),
        };
        let b = if rng.chance(75) {
            let mut g = HostGraph::default();
            let x = g
                .add_tensor("x", DType::I8, &[batches, depth], 0.5, zi)
                .unwrap();
            let y = g
                .add_tensor("y", DType::I8, &[batches, units], 0.5, zo)
                .unwrap();
            (g.inputs, g.outputs, g.ops) = (vec![x], vec![y], vec![Op::FullyConnected(fc)]);
            g.to_blob().unwrap()
        } else {
            let pairs = format::pair_rows(&weights, depth);
            let op = Op::FullyConnectedPaired(PairedFullyConnected {
                input: 0,
                output: 1,
                units: fc.units,
                align: &[0; 3][..rng.usize(0, 3)],
                pairs: &pairs,
                bias: fc.bias,
                requant: fc.requant,
                clamp: fc.clamp,
            });
            blob(
                &[tensor(&[batches, depth], zi, 0)],
                tensor(&[batches, units], zo, 0),
                &op,
            )
        };
        let model = mote::Model::parse(&b).unwrap();
        assert!(matches!(
            model.ops().next(),
            Some(Ok(Op::FullyConnectedPaired(_)))
        ));
        check(&format!("paired fully connected case {case}"), &b, &mut rng);
    }
}

#[test]
fn pools_and_add() {
    let mut rng = Rng(0x9001_add5);
    for case in 0..CASES {
        let s = spatial(&mut rng, 4, false);
        let c = rng.usize(1, 70);
        let zp = rng.zero_point();
        let pool = Pool2d {
            input: 0,
            output: 1,
            window: s.window,
            clamp: rng.clamp(zp),
        };
        let op = if rng.chance(50) {
            Op::AveragePool2d(pool)
        } else {
            Op::MaxPool2d(pool)
        };
        let b = blob(
            &[tensor(&[s.n, s.h, s.w, c], zp, 0)],
            tensor(&[s.n, s.out.0, s.out.1, c], zp, 0),
            &op,
        );
        check(&format!("pool case {case}"), &b, &mut rng);

        let len = if rng.chance(50) {
            rng.usize(1, 64)
        } else {
            rng.usize(512, 2048)
        };
        let smaller = |rng: &mut Rng| Multiplier {
            multiplier: rng.range(1 << 30, i64::from(i32::MAX)) as i32,
            shift: rng.range(-20, 0) as i8,
        };
        let (z1, z2, zo) = (rng.zero_point(), rng.zero_point(), rng.zero_point());
        let op = Op::Add(Add {
            input1: 0,
            input2: 1,
            output: 2,
            left_shift: 20,
            input1_multiplier: smaller(&mut rng),
            input2_multiplier: smaller(&mut rng),
            output_multiplier: smaller(&mut rng),
            clamp: rng.clamp(zo),
        });
        let b = blob(
            &[tensor(&[len], z1, 0), tensor(&[len], z2, 0)],
            tensor(&[len], zo, 0),
            &op,
        );
        check(&format!("add case {case}"), &b, &mut rng);
    }
}

/// A model compiled into the firmware brings only the optional kernel paths it takes
/// (`mote::kernels::KernelPath`): a grouped CONV_2D, a DEPTHWISE_CONV_2D with a channel
/// multiplier (both the reference kernel's), a 3x3 CONV_2D over eight channels and a 5x5
/// DEPTHWISE_CONV_2D (both the general paths), built for Cortex-M4 with the features
/// `required_features` names, compute what the host computes.
#[test]
fn a_compiled_model_brings_the_kernel_paths_it_takes() {
    let mut rng = Rng(0x9b0c_5a3e);
    let window = |f: u16, pad: u16| Window {
        filter_h: f,
        filter_w: f,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: pad,
        pad_left: pad,
    };
    // 6x6x4 -> grouped 3x3 convolution (two groups of two channels) -> 6x6x4 -> depthwise
    // 3x3, multiplier 2 -> 6x6x8 -> 3x3 convolution -> 6x6x4 -> depthwise 5x5 -> 6x6x4.
    let (conv_filter, conv_bias) = (rng.weights(4 * 9 * 2), biases(&mut rng, 4));
    let (dw_filter, dw_bias) = (rng.weights(9 * 8), biases(&mut rng, 8));
    let (full_filter, full_bias) = (rng.weights(4 * 9 * 8), biases(&mut rng, 4));
    let (taps_filter, taps_bias) = (rng.weights(25 * 4), biases(&mut rng, 4));
    let (m4, s4, _) = requant_bytes(&mut rng, 4);
    let (m8, s8, _) = requant_bytes(&mut rng, 8);
    let ops = [
        Op::Conv2d(Conv2d {
            input: 0,
            output: 1,
            window: window(3, 1),
            filter: &conv_filter,
            bias: Some(&conv_bias),
            requant: Requant::PerChannel {
                multipliers: &m4,
                shifts: &s4,
            },
            clamp: Clamp::NONE,
        }),
        Op::DepthwiseConv2d(DepthwiseConv2d {
            input: 1,
            output: 2,
            window: window(3, 1),
            depth_multiplier: 2,
            filter: &dw_filter,
            bias: Some(&dw_bias),
            requant: Requant::PerChannel {
                multipliers: &m8,
                shifts: &s8,
            },
            clamp: Clamp::NONE,
        }),
        Op::Conv2d(Conv2d {
            input: 2,
            output: 3,
            window: window(3, 1),
            filter: &full_filter,
            bias: Some(&full_bias),
            requant: Requant::PerChannel {
                multipliers: &m4,
                shifts: &s4,
            },
            clamp: Clamp::NONE,
        }),
        Op::DepthwiseConv2d(DepthwiseConv2d {
            input: 3,
            output: 4,
            window: window(5, 2),
            depth_multiplier: 1,
            filter: &taps_filter,
            bias: Some(&taps_bias),
            requant: Requant::PerChannel {
                multipliers: &m4,
                shifts: &s4,
            },
            clamp: Clamp::NONE,
        }),
    ];
    let mut tensors = [
        tensor(&[1, 6, 6, 4], rng.zero_point(), 0),
        tensor(&[1, 6, 6, 4], rng.zero_point(), 0),
        tensor(&[1, 6, 6, 8], rng.zero_point(), 0),
        tensor(&[1, 6, 6, 4], rng.zero_point(), 0),
        tensor(&[1, 6, 6, 4], rng.zero_point(), 0),
    ];
    for (t, tensor) in tensors.iter_mut().enumerate().skip(1) {
        // Written by operator t - 1, read by operator t (the last, the output).
        (tensor.first_op, tensor.last_op) = (t as u16 - 1, (t as u16).min(3));
    }
    let b = graph_blob(&tensors, 1, &ops);
    assert_eq!(
        mote::compile::required_features(&b, Some(Board::Mps2An386.target())).unwrap(),
        [
            "op-conv",
            "op-conv-general",
            "op-conv-grouped",
            "op-depthwise",
            "op-depthwise-general",
            "op-depthwise-multiplier"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernel_paths.mote");
    std::fs::write(&path, &b).unwrap();
    let inputs = rng.bytes(6 * 6 * 4 * SAMPLES);
    let want = host(&b, &inputs);
    let board = Board::Mps2An386;
    let elf = qemu::build_firmware_with(board, &ArenaSize::Compiled(path))
        .unwrap_or_else(|e| panic!("{board}: {e:#}"));
    let run = qemu::run(board, &elf, &b, &inputs, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{board}: {e:#}"));
    assert_eq!(
        run.outputs, want,
        "{board}: the device differs from the host"
    );
}

/// A MobileNet compiled in for Cortex-M4 takes neither convolution's general path there (its
/// first layer's three channels are gathered whole, its depthwise layers are all 3x3 lines),
/// so its firmware is built without them: it computes TFLM's outputs.
#[test]
fn a_compiled_mobilenet_needs_no_general_path_on_cortex_m4() {
    let model = "vww_mobilenetv1_025";
    let blob = mote_tests::mlperf_blob(model);
    let board = Board::Mps2An386;
    let features = mote::compile::required_features(&blob, Some(board.target())).unwrap();
    assert!(
        !features.iter().any(|f| f.ends_with("-general")),
        "{features:?}"
    );
    let (inputs, tflm) = mote_tests::mlperf_set(model, "random").unwrap();
    let (len, out_len) = (mote_tests::sample_len(&blob), mote_tests::output_len(&blob));
    let (inputs, tflm) = (&inputs[..2 * len], &tflm[..2 * out_len]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{model}.mote"));
    std::fs::write(&path, &blob).unwrap();
    let elf = qemu::build_firmware_with(board, &ArenaSize::Compiled(path))
        .unwrap_or_else(|e| panic!("{board}: {e:#}"));
    let run = qemu::run(board, &elf, &blob, inputs, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{board}: {e:#}"));
    assert_eq!(run.outputs, tflm, "{board}: the outputs differ from TFLM's");
}
