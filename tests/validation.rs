//! `Model::parse` on untrusted bytes: every kind of damage gives its own typed error, and no
//! corruption of a real blob crashes the runtime.

use mote::format::{
    self, Clamp, DType, FullyConnected, Graph, Multiplier, Op, Requant, TensorDef, TensorId,
};
use mote::{Error, Interpreter, Model};

const DIGITS: &[u8] = include_bytes!("../models/digits/digits.mote");

fn tensor(shape: &[u16], offset: u32, first_op: u16, last_op: u16) -> TensorDef {
    TensorDef {
        dtype: DType::I8,
        shape: heapless::Vec::from_slice(shape).unwrap(),
        scale: 0.5,
        zero_point: -3,
        offset,
        first_op,
        last_op,
    }
}

/// A one-layer graph: 4 inputs -> FULLY_CONNECTED -> 2 outputs, arena 8 bytes.
fn blob_with(tensors: &[TensorDef], weights: &[u8], arena_size: u32) -> Vec<u8> {
    let op = Op::FullyConnected(FullyConnected {
        input: 0,
        output: 1,
        units: 2,
        weights,
        bias: None,
        requant: Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: -2,
        }),
        clamp: Clamp::NONE,
    });
    let tensors = format::encode_tensors(tensors).unwrap();
    let ops = format::encode_ops(&[op]).unwrap();
    let graph = Graph {
        arena_size,
        inputs: heapless::Vec::from_slice(&[0 as TensorId]).unwrap(),
        outputs: heapless::Vec::from_slice(&[1 as TensorId]).unwrap(),
        tensors: &tensors,
        op_count: 1,
        ops: &ops,
    };
    format::encode(&graph).unwrap()
}

fn good_tensors() -> Vec<TensorDef> {
    vec![tensor(&[1, 4], 0, 0, 0), tensor(&[1, 2], 4, 0, 0)]
}

#[test]
fn a_good_blob_runs() {
    let blob = blob_with(&good_tensors(), &[1, 2, 3, 4, 4, 3, 2, 1], 8);
    let model = Model::parse(&blob).unwrap();
    // 8 bytes of tensors and no scratch: plain rows (what blobs held before the row pairs)
    // run on the reference kernel.
    assert_eq!((model.tensor_bytes(), model.scratch_bytes()), (8, 0));
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    interp.set_input(0, &[5, 5, 5, 5]).unwrap(); // x - zp = 8 each
    interp.invoke().unwrap();
    // (1+2+3+4)*8 = 80 -> * 0.5 * 2^-2 = 10 -> + (-3) = 7
    assert_eq!(interp.output(0).unwrap(), &[7, 7]);
}

#[test]
fn each_container_fault_has_its_own_error() {
    let blob = blob_with(&good_tensors(), &[0; 8], 8);
    assert_eq!(Model::parse(&blob[..10]).unwrap_err(), Error::Truncated);
    assert_eq!(
        Model::parse(&blob[..blob.len() - 1]).unwrap_err(),
        Error::Truncated
    );
    let mut bad = blob.clone();
    bad[0] = b'N';
    assert_eq!(Model::parse(&bad).unwrap_err(), Error::BadMagic);
    let mut bad = blob.clone();
    bad[4] = 2;
    assert_eq!(
        Model::parse(&bad).unwrap_err(),
        Error::UnsupportedVersion(2)
    );
    let mut bad = blob.clone();
    *bad.last_mut().unwrap() ^= 0x10;
    assert_eq!(Model::parse(&bad).unwrap_err(), Error::BadChecksum);
    // Trailing bytes (the rest of a flash region) are fine.
    let mut padded = blob.clone();
    padded.extend([0xFF; 100]);
    assert!(Model::parse(&padded).is_ok());
}

#[test]
fn graph_faults_are_typed() {
    // Weights that are not a whole number of rows of the input depth.
    let err = Model::parse(&blob_with(&good_tensors(), &[0; 6], 8)).unwrap_err();
    assert_eq!(err, Error::ShapeMismatch { op: 0 });
    // A tensor beyond the arena.
    let err = Model::parse(&blob_with(&good_tensors(), &[0; 8], 5)).unwrap_err();
    assert_eq!(err, Error::BadPlan { tensor: 1 });
    // Input and output overlapping while both are live.
    let overlapping = vec![tensor(&[1, 4], 0, 0, 0), tensor(&[1, 2], 2, 0, 0)];
    let err = Model::parse(&blob_with(&overlapping, &[0; 8], 8)).unwrap_err();
    assert_eq!(err, Error::BadPlan { tensor: 1 });
    // An output claimed to be born after the operator that writes it.
    let late = vec![tensor(&[1, 4], 0, 0, 0), tensor(&[1, 2], 4, 1, 1)];
    assert!(matches!(
        Model::parse(&blob_with(&late, &[0; 8], 8)).unwrap_err(),
        Error::BadPlan { .. }
    ));
}

/// The paired record ([`format::PairedFullyConnected`]): the same results as plain rows, and
/// its own faults refused.
#[test]
fn paired_weights_compute_the_rows_and_bad_pairs_are_refused() {
    let weights = [1u8, 2, 3, 4, 4, 3, 2, 1];
    let pairs = format::pair_rows(&weights, 4);
    let paired = |units: u16, align: &[u8], pairs: &[u8]| {
        let op = Op::FullyConnectedPaired(format::PairedFullyConnected {
            input: 0,
            output: 1,
            units,
            align,
            pairs,
            bias: None,
            requant: Requant::PerTensor(Multiplier {
                multiplier: 1 << 30,
                shift: -2,
            }),
            clamp: Clamp::NONE,
        });
        let tensors = format::encode_tensors(&good_tensors()).unwrap();
        let ops = format::encode_ops(&[op]).unwrap();
        format::encode(&Graph {
            arena_size: 8,
            inputs: heapless::Vec::from_slice(&[0 as TensorId]).unwrap(),
            outputs: heapless::Vec::from_slice(&[1 as TensorId]).unwrap(),
            tensors: &tensors,
            op_count: 1,
            ops: &ops,
        })
        .unwrap()
    };
    let outputs = |blob: &[u8]| {
        let model = Model::parse(blob).unwrap();
        let mut arena = vec![0u8; model.arena_size()];
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        interp.set_input(0, &[5, 249, 5, 100]).unwrap(); // 249: -7
        interp.invoke().unwrap();
        interp.output(0).unwrap().to_vec()
    };
    let rows = outputs(&blob_with(&good_tensors(), &weights, 8));
    assert_eq!(outputs(&paired(2, &[0, 0], &pairs)), rows);
    let bad = |units, align: &[u8], pairs: &[u8]| Model::parse(&paired(units, align, pairs)).err();
    // Four bytes of alignment, a pair short, a column short, no weights, no units.
    let (param, shape) = (
        Some(Error::BadParameter { op: 0 }),
        Some(Error::ShapeMismatch { op: 0 }),
    );
    assert_eq!(bad(2, &[0; 4], &pairs), param);
    assert_eq!(bad(4, &[], &pairs), shape);
    assert_eq!(bad(2, &[], &pairs[..6]), shape);
    assert_eq!(bad(2, &[], &[]), param);
    assert_eq!(bad(0, &[], &pairs), param);
}

#[test]
fn arena_too_small_says_what_it_needs() {
    let model = Model::parse(DIGITS).unwrap();
    let mut arena = vec![0u8; model.arena_size() - 1];
    let err = Interpreter::new(&model, &mut arena).unwrap_err();
    assert_eq!(
        err,
        Error::ArenaTooSmall {
            needed: model.arena_size() as u32,
            available: arena.len() as u32
        }
    );
}

/// Every single-bit flip of a real blob is either rejected with a typed error or (where it
/// would land outside what the checksum covers, which is nowhere in this format) runs to
/// completion. The header CRC covers everything, so every flip must be rejected.
#[test]
fn every_bit_flip_of_a_real_blob_is_rejected() {
    let mut blob = DIGITS.to_vec();
    for pos in 0..blob.len() {
        for bit in 0..8 {
            blob[pos] ^= 1 << bit;
            assert!(
                Model::parse(&blob).is_err(),
                "flip at byte {pos} bit {bit} was accepted"
            );
            blob[pos] ^= 1 << bit;
        }
    }
}

/// With the checksum recomputed (a hostile or buggy writer), corrupt graphs must still never
/// crash: each is rejected or runs to completion in a right-sized arena.
#[test]
fn corrupted_payloads_with_valid_checksums_never_crash() {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut rejected, mut ran) = (0, 0);
    for _ in 0..20_000 {
        let mut blob = DIGITS.to_vec();
        for _ in 0..1 + next() % 3 {
            let pos = format::HEADER_LEN + (next() as usize) % (blob.len() - format::HEADER_LEN);
            blob[pos] ^= 1 << (next() % 8);
        }
        let crc = format::crc32(&[&blob[..12], &blob[format::HEADER_LEN..]]);
        blob[12..16].copy_from_slice(&crc.to_le_bytes());
        match Model::parse(&blob) {
            Err(_) => rejected += 1,
            Ok(model) => {
                let mut arena = vec![0u8; model.arena_size()];
                let mut interp = Interpreter::new(&model, &mut arena).unwrap();
                let input = interp.input(0).unwrap();
                input.fill(7);
                interp.invoke().unwrap();
                ran += 1;
            }
        }
    }
    assert!(rejected > 0 && ran > 0, "rejected {rejected}, ran {ran}");
}

/// A graph of `ops` encoded as is, with `tensors` placed as given (no planner).
fn raw_blob(
    tensors: &[TensorDef],
    ops: &[Op<'_>],
    outputs: &[TensorId],
    arena_size: u32,
) -> Vec<u8> {
    let tensors = format::encode_tensors(tensors).unwrap();
    let encoded = format::encode_ops(ops).unwrap();
    let graph = Graph {
        arena_size,
        inputs: heapless::Vec::from_slice(&[0]).unwrap(),
        outputs: heapless::Vec::from_slice(outputs).unwrap(),
        tensors: &tensors,
        op_count: ops.len() as u16,
        ops: &encoded,
    };
    format::encode(&graph).unwrap()
}

fn reshape(input: TensorId, output: TensorId) -> Op<'static> {
    Op::Reshape(format::Unary { input, output })
}

/// Validation is linear in the graph: the longest chain the format holds (65,534 operators of
/// one-element RESHAPEs ping-ponging between two arena slots) parses, and a misplaced tensor at
/// its far end is still found. (Before, every pair of tensors was compared: 102 s on the host.
/// The parse time is printed: `cargo test --release -p mote-tests --test validation chain --
/// --nocapture`.)
#[test]
fn the_longest_chain_validates_and_a_late_overlap_is_found() {
    let n = u16::MAX - 1; // 65,535 tensors, the most a blob may have
    let tensors: Vec<TensorDef> = (0..=n)
        .map(|i| {
            let first = i.saturating_sub(1);
            let last = i.min(n - 1);
            tensor(&[1], u32::from(i % 2) * 4, first, last)
        })
        .collect();
    let ops: Vec<Op<'_>> = (1..=n).map(|i| reshape(i - 1, i)).collect();
    let blob = raw_blob(&tensors, &ops, &[n], 8);
    let started = std::time::Instant::now();
    let model = Model::parse(&blob).unwrap();
    println!(
        "Model::parse of a {n}-operator chain ({} B): {:?}",
        blob.len(),
        started.elapsed()
    );
    assert_eq!(model.op_count(), n);
    let mut clash = tensors.clone();
    clash[usize::from(n)].offset = clash[usize::from(n) - 1].offset;
    let blob = raw_blob(&clash, &ops, &[n], 8);
    assert_eq!(
        Model::parse(&blob).unwrap_err(),
        Error::BadPlan { tensor: n }
    );
}

/// More than `MAX_LIVE` tensors live at once is a typed error, not a slow check: 64 copies of
/// the input (65 tensors live at the last copy), then a chain of ADDs that keeps each copy
/// alive until it is summed in.
#[test]
fn too_many_live_tensors_are_refused() {
    let copies = format::MAX_LIVE as u16;
    let mut tensors = vec![tensor(&[1], 0, 0, copies - 1)];
    let mut ops = Vec::new();
    for i in 1..=copies {
        ops.push(reshape(0, i));
    }
    let add = |a: TensorId, b: TensorId, out: TensorId| {
        Op::Add(format::Add {
            input1: a,
            input2: b,
            output: out,
            left_shift: 20,
            input1_multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: 0,
            },
            input2_multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: 0,
            },
            output_multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: -19,
            },
            clamp: Clamp::NONE,
        })
    };
    let mut sum = 1;
    for i in 2..=copies {
        let out = copies + i - 1;
        ops.push(add(sum, i, out));
        sum = out;
    }
    let last = ops.len() as u16 - 1;
    for i in 1..=copies {
        let read_at = if i == 1 { copies } else { copies + i - 2 };
        tensors.push(tensor(&[1], 4 * u32::from(i), i - 1, read_at));
    }
    for i in 2..=copies {
        let out = copies + i - 1;
        let last_op = if out == sum { last } else { out };
        tensors.push(tensor(&[1], 4 * u32::from(out), out - 1, last_op));
    }
    let arena = 4 * (u32::from(sum) + 1);
    let blob = raw_blob(&tensors, &ops, &[sum], arena);
    assert_eq!(
        Model::parse(&blob).unwrap_err(),
        Error::TooManyLive { op: copies - 1 }
    );
}

/// A state tensor (an SVDF's) must live through the whole graph in bytes of its own: the
/// plan the host writes passes; a state that dies early, that overlaps another tensor, or that
/// is also a graph output is a `BadPlan`. State starts at its reset value and
/// carries from one invocation to the next until `reset_state`.
#[test]
fn state_tensors_live_through_the_graph_apart_from_the_rest() {
    let state_def = |first: u16, last: u16, offset: u32| TensorDef {
        dtype: DType::I16,
        shape: heapless::Vec::from_slice(&[1, 4]).unwrap(),
        scale: 1.0 / 64.0,
        zero_point: 0,
        offset,
        first_op: first,
        last_op: last,
    };
    // Input [1, 2] -> SVDF (2 filters, memory 2, rank 1) -> [1, 2], then a RESHAPE: the state
    // must outlive the SVDF, to the last operator.
    let svdf = Op::Svdf(format::Svdf {
        input: 0,
        output: 1,
        state: 2,
        rank: 1,
        weights_feature: &[1, 0, 0, 1],
        weights_time: &[1, 0, 1, 0, 1, 0, 1, 0],
        bias: &[0; 8],
        feature_multiplier: Multiplier {
            multiplier: 1 << 30,
            shift: 1,
        },
        output_multiplier: Multiplier {
            multiplier: 1 << 30,
            shift: 1,
        },
    });
    let ops = [svdf, reshape(1, 3)];
    let tensors = |state: TensorDef| {
        vec![
            tensor(&[1, 2], 0, 0, 0),
            tensor(&[1, 2], 4, 0, 1),
            state,
            tensor(&[2], 16, 1, 1),
        ]
    };
    let good = raw_blob(&tensors(state_def(0, 1, 8)), &ops, &[3], 20);
    let model = Model::parse(&good).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    let mut outputs = Vec::new();
    for _ in 0..3 {
        interp.set_input(0, &[10u8, 20]).unwrap();
        interp.invoke().unwrap();
        outputs.push(interp.output(0).unwrap().to_vec());
    }
    // The state fills over the first two invocations (memory 2), then stays.
    assert!(
        outputs[0] != outputs[1] && outputs[1] == outputs[2],
        "{outputs:?}"
    );
    interp.reset_state();
    interp.set_input(0, &[10u8, 20]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.output(0).unwrap(), &outputs[0][..]);
    for (bad, why) in [
        (
            raw_blob(&tensors(state_def(0, 0, 8)), &ops, &[3], 20),
            "dies early",
        ),
        (
            raw_blob(&tensors(state_def(0, 1, 4)), &ops, &[3], 20),
            "overlaps",
        ),
        (
            raw_blob(&tensors(state_def(0, 1, 8)), &ops, &[2], 20),
            "is an output",
        ),
    ] {
        let err = Model::parse(&bad).unwrap_err();
        assert!(
            matches!(err, Error::BadPlan { .. }),
            "a state that {why}: {err:?}"
        );
    }
}

/// Five dimensions go only to operators that take them: a 5-D tensor reshaped is fine, the
/// same tensor into a SOFTMAX is a `ShapeMismatch` (its record describes four at most).
#[test]
fn five_dimensions_only_where_the_operator_takes_them() {
    let t = |shape: &[u16], offset, first, last| TensorDef {
        shape: heapless::Vec::from_slice(shape).unwrap(),
        ..tensor(&[1], offset, first, last)
    };
    let reshaped = [t(&[1, 2, 1, 2, 2], 0, 0, 0), t(&[8], 8, 0, 0)];
    assert!(Model::parse(&raw_blob(&reshaped, &[reshape(0, 1)], &[1], 16)).is_ok());
    let softmax = Op::Softmax(format::Softmax {
        input: 0,
        output: 1,
        input_multiplier: 1 << 30,
        input_left_shift: 20,
        diff_min: -100,
    });
    let deep = [t(&[1, 2, 1, 2, 2], 0, 0, 0), t(&[1, 2, 1, 2, 2], 8, 0, 0)];
    assert_eq!(
        Model::parse(&raw_blob(&deep, &[softmax], &[1], 16)).unwrap_err(),
        Error::ShapeMismatch { op: 0 }
    );
}
