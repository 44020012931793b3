//! Builds, validates and runs one-operator graphs: what `Model::parse` and `invoke` do with an
//! operator, end to end.

extern crate std;
use crate::error::Error;
use crate::format::{DType, FORMAT_VERSION, Graph, Header, Op, TENSOR_SLOT_LEN, TensorDef, crc32};
use crate::{Interpreter, Model};
use heapless::Vec as HVec;
use std::vec;
use std::vec::Vec;

/// An int8 tensor: shape and zero point (scale 0.5).
pub type T<'s> = (&'s [u16], i32);

/// Tensors `0..n-1` are the graph inputs (filled from `inputs`), tensor `n-1` the output
/// of `op`, the only operator.
pub fn run(tensors: &[T<'_>], op: Op<'_>, inputs: &[&[i8]]) -> Result<Vec<i8>, Error> {
    let blob = blob(tensors, op);
    let model = Model::parse(&blob)?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut it = Interpreter::new(&model, &mut arena)?;
    for (i, data) in inputs.iter().enumerate() {
        let bytes: Vec<u8> = data.iter().map(|&v| v as u8).collect();
        it.set_input(i, &bytes)?;
    }
    it.invoke()?;
    Ok(it.output(0)?.iter().map(|&b| b as i8).collect())
}

/// The blob of [`run`]'s graph (not validated).
pub fn blob(tensors: &[T<'_>], op: Op<'_>) -> Vec<u8> {
    let mut offset = 0u32;
    let mut table = Vec::new();
    for &(shape, zero_point) in tensors {
        let def = TensorDef {
            dtype: DType::I8,
            shape: HVec::from_slice(shape).unwrap(),
            scale: 0.5,
            zero_point,
            offset,
            first_op: 0,
            last_op: 0,
        };
        offset += def.byte_len().unwrap() as u32;
        let mut slot = [0u8; TENSOR_SLOT_LEN];
        postcard::to_slice(&def, &mut slot).unwrap();
        table.extend_from_slice(&slot);
    }
    let mut buf = vec![0u8; 1 << 16];
    let ops = postcard::to_slice(&op, &mut buf).unwrap().to_vec();
    let last = tensors.len() as u16 - 1;
    let graph = Graph {
        arena_size: offset,
        inputs: (0..last).collect(),
        outputs: HVec::from_slice(&[last]).unwrap(),
        tensors: &table,
        op_count: 1,
        ops: &ops,
    };
    let payload = postcard::to_slice(&graph, &mut buf).unwrap().to_vec();
    let mut blob = Header {
        version: FORMAT_VERSION,
        payload_len: payload.len() as u32,
        checksum: 0,
    }
    .to_bytes()
    .to_vec();
    let checksum = crc32(&[&blob[..12], &payload]);
    blob[12..16].copy_from_slice(&checksum.to_le_bytes());
    blob.extend(payload);
    blob
}
