//! The shared property suite: every optimized kernel equals the reference kernel, bit for
//! bit, over random shapes, zero points, multipliers and shifts, strides, padding, dilations,
//! depth multipliers and activation clamps, plus named edge cases. `kernel_suite!` instantiates
//! the same tests for a module of kernels with the reference signatures; the optimized kernels
//! here use the micro-kernels of the target the tests run on. The Cortex-M micro-kernels are
//! held to the same results on QEMU (the MLPerf parity tests against TFLM's goldens).

extern crate std;

use crate::format::{Clamp, Multiplier, Requant};
use crate::kernels::reference::{self, Geometry};
use proptest::prelude::*;
use std::vec::Vec;

/// Requantization parameters and the bytes a per-channel [`Requant`] borrows.
#[derive(Debug, Clone)]
pub struct Quant {
    multipliers: Vec<i32>,
    shifts: Vec<i8>,
    per_channel: bool,
}

impl Quant {
    fn bytes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.multipliers
                .iter()
                .flat_map(|m| m.to_le_bytes())
                .collect(),
            self.shifts.iter().map(|&s| s as u8).collect(),
        )
    }
}

/// Calls `f` with the [`Requant`] for `channels` channels.
fn with_requant<R>(q: &Quant, channels: usize, f: impl FnOnce(&Requant<'_>) -> R) -> R {
    let (m, s) = q.bytes();
    let n = channels.min(q.shifts.len());
    let requant = if q.per_channel {
        Requant::PerChannel {
            multipliers: &m[..4 * n],
            shifts: &s[..n],
        }
    } else {
        Requant::PerTensor(Multiplier {
            multiplier: q.multipliers[0],
            shift: q.shifts[0],
        })
    };
    f(&requant)
}

/// Multipliers as TFLite makes them (`[2^30, 2^31)`), with a few of any value; shifts over
/// the whole valid range, weighted towards realistic ones.
fn quant(channels: usize) -> impl Strategy<Value = Quant> {
    let multiplier = prop_oneof![
        8 => (1i32 << 30)..i32::MAX,
        1 => any::<i32>(),
        1 => Just(1i32 << 30),
    ];
    let shift = prop_oneof![4 => -12i8..=1, 1 => -31i8..=30];
    (
        proptest::collection::vec(multiplier, channels),
        proptest::collection::vec(shift, channels),
        any::<bool>(),
    )
        .prop_map(|(multipliers, shifts, per_channel)| Quant {
            multipliers,
            shifts,
            per_channel,
        })
}

fn clamp() -> impl Strategy<Value = Clamp> {
    prop_oneof![
        Just(Clamp::NONE),
        (-128i8..=127, -128i8..=127).prop_map(|(a, b)| Clamp {
            min: a.min(b),
            max: a.max(b)
        }),
    ]
}

fn bias_bytes(b: &[i32]) -> Vec<u8> {
    b.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Values cycled from a random pool (so that long tensors stay cheap to generate).
fn fill(pool: &[i8], n: usize) -> Vec<i8> {
    pool.iter().copied().cycle().take(n).collect()
}

/// TFLite's output size and leading padding along one axis, SAME or VALID.
fn axis(size: usize, filter: u16, stride: u16, dilation: u16, same: bool) -> Option<(usize, u16)> {
    let (f, s, d) = (
        usize::from(filter),
        usize::from(stride),
        usize::from(dilation),
    );
    let extent = (f - 1) * d + 1;
    if same {
        let out = size.div_ceil(s);
        let total = ((out - 1) * s + extent).saturating_sub(size);
        Some((out, (total / 2) as u16))
    } else {
        (size >= extent).then(|| ((size - extent) / s + 1, 0))
    }
}

/// A convolution window over an input, as validation accepts it: SAME or VALID.
#[derive(Debug, Clone)]
struct Conv {
    g: Geometry,
}

fn conv_geometry(max_c: usize, max_out_c: usize) -> impl Strategy<Value = Conv> {
    (
        (1usize..=2, 1usize..=9, 1usize..=9, 1usize..=max_c),
        (1u16..=4, 1u16..=4, 1u16..=3, 1u16..=3),
        prop_oneof![4 => Just((1u16, 1u16)), 1 => (1u16..=3, 1u16..=3)],
        any::<bool>(),
        1usize..=max_out_c,
    )
        .prop_filter_map(
            "window larger than a VALID input",
            |((n, h, w, c), (fh, fw, sh, sw), (dh, dw), same, out_c)| {
                let (oh, pt) = axis(h, fh, sh, dh, same)?;
                let (ow, pl) = axis(w, fw, sw, dw, same)?;
                Some(Conv {
                    g: Geometry {
                        batches: n,
                        in_h: h,
                        in_w: w,
                        in_c: c,
                        out_h: oh,
                        out_w: ow,
                        out_c,
                        window: crate::format::Window {
                            filter_h: fh,
                            filter_w: fw,
                            stride_h: sh,
                            stride_w: sw,
                            dilation_h: dh,
                            dilation_w: dw,
                            pad_top: pt,
                            pad_left: pl,
                        },
                    },
                })
            },
        )
}

/// Everything a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED case needs besides the shapes.
#[derive(Debug, Clone)]
struct Data {
    input: Vec<i8>,
    weights: Vec<i8>,
    bias: Option<Vec<i32>>,
    quant: Quant,
    input_zp: i32,
    output_zp: i32,
    clamp: Clamp,
}

fn data(max_channels: usize) -> impl Strategy<Value = Data> {
    (
        proptest::collection::vec(any::<i8>(), 1..97),
        proptest::collection::vec(-127i8..=127, 1..97),
        proptest::option::of(proptest::collection::vec(
            prop_oneof![4 => -50_000i32..50_000, 1 => any::<i32>()],
            max_channels,
        )),
        quant(max_channels),
        (-128i32..=127, -128i32..=127),
        clamp(),
    )
        .prop_map(
            |(input, weights, bias, quant, (input_zp, output_zp), clamp)| Data {
                input,
                weights,
                bias,
                quant,
                input_zp,
                output_zp,
                clamp,
            },
        )
}

/// Runs a conv-like kernel with the reference's signature on `d`.
type ConvFn = fn(&Geometry, &[i8], i32, &[i8], Option<&[u8]>, &Requant<'_>, i32, Clamp, &mut [i8]);

fn run_conv(f: ConvFn, g: &Geometry, filter_len: usize, d: &Data) -> Vec<i8> {
    let input = fill(&d.input, g.batches * g.in_h * g.in_w * g.in_c);
    let filter = fill(&d.weights, filter_len);
    let bias = d.bias.as_ref().map(|b| bias_bytes(&fill_i32(b, g.out_c)));
    let mut out = std::vec![0x55u8 as i8; g.batches * g.out_h * g.out_w * g.out_c];
    with_requant(&d.quant, g.out_c, |r| {
        f(
            g,
            &input,
            d.input_zp,
            &filter,
            bias.as_deref(),
            r,
            d.output_zp,
            d.clamp,
            &mut out,
        )
    });
    out
}

fn fill_i32(pool: &[i32], n: usize) -> Vec<i32> {
    pool.iter().copied().cycle().take(n).collect()
}

type FcFn = fn(&[i8], i32, &[i8], Option<&[u8]>, &Requant<'_>, i32, Clamp, usize, &mut [i8]);

fn run_fc(f: FcFn, batches: usize, depth: usize, units: usize, d: &Data) -> Vec<i8> {
    let input = fill(&d.input, batches * depth);
    let weights = fill(&d.weights, units * depth);
    let bias = d.bias.as_ref().map(|b| bias_bytes(&fill_i32(b, units)));
    let mut out = std::vec![0x55u8 as i8; batches * units];
    with_requant(&d.quant, units, |r| {
        f(
            &input,
            d.input_zp,
            &weights,
            bias.as_deref(),
            r,
            d.output_zp,
            d.clamp,
            depth,
            &mut out,
        )
    });
    out
}

type PoolFn = fn(&Geometry, &[i8], Clamp, &mut [i8]);

fn run_pool(f: PoolFn, g: &Geometry, pool: &[i8], clamp: Clamp) -> Vec<i8> {
    let input = fill(pool, g.batches * g.in_h * g.in_w * g.in_c);
    let mut out = std::vec![0x55u8 as i8; g.batches * g.out_h * g.out_w * g.out_c];
    f(g, &input, clamp, &mut out);
    out
}

/// Instantiates the suite for a module `$k` of kernels with the reference signatures.
macro_rules! kernel_suite {
    ($suite:ident, $k:path) => {
        mod $suite {
            use super::*;
            use $k as k;

            fn conv_case(c: &Conv, d: &Data) -> Result<(), TestCaseError> {
                let g = &c.g;
                let len = g.out_c * usize::from(g.window.filter_h)
                    * usize::from(g.window.filter_w) * g.in_c;
                let got = run_conv(k::conv_2d, g, len, d);
                if !crate::kernels::KernelPath::ConvGeneral.built()
                    && crate::kernels::optimized::conv::general(g, crate::kernels::Isa::HERE)
                {
                    // The general path, not built in: the output left as it was.
                    prop_assert!(got.iter().all(|&v| v == 0x55u8 as i8));
                    return Ok(());
                }
                let want = run_conv(reference::conv_2d, g, len, d);
                prop_assert_eq!(got, want);
                Ok(())
            }

            fn depthwise_case(c: &Conv, multiplier: usize, d: &Data) -> Result<(), TestCaseError> {
                let mut g = c.g;
                g.out_c = g.in_c * multiplier;
                let built = cfg!(feature = "op-depthwise-multiplier");
                if !built && !crate::kernels::optimized::depthwise::handles(&g) {
                    return Ok(()); // the reference kernel's shape, not built in
                }
                let general = crate::kernels::KernelPath::DepthwiseGeneral;
                let takes_general = with_requant(&d.quant, g.out_c, |r| {
                    crate::kernels::optimized::depthwise::general(&g, r, crate::kernels::Isa::HERE)
                });
                if !general.built() && takes_general {
                    return Ok(()); // validation refuses it in such a build
                }
                let len = g.out_c
                    * usize::from(g.window.filter_h)
                    * usize::from(g.window.filter_w);
                let got = run_conv(k::depthwise_conv_2d, &g, len, d);
                let want = run_conv(reference::depthwise_conv_2d, &g, len, d);
                prop_assert_eq!(got, want);
                Ok(())
            }

            /// The weights in row pairs: the optimized kernel and the reference's own paired
            /// kernel both give the results of the reference over plain rows.
            fn fc_paired_case(b: usize, depth: usize, units: usize, d: &Data) -> Result<(), TestCaseError> {
                let want = run_fc(reference::fully_connected, b, depth, units, d);
                let got = run_fc(k::fully_connected_paired, b, depth, units, d);
                prop_assert_eq!(&got, &want);
                let got = run_fc(super::paired_reference, b, depth, units, d);
                prop_assert_eq!(got, want);
                Ok(())
            }

            fn pool_case(c: &Conv, pool: &[i8], clamp: Clamp) -> Result<(), TestCaseError> {
                let mut g = c.g;
                g.out_c = g.in_c;
                g.window.dilation_h = 1;
                g.window.dilation_w = 1;
                // Pools take no dilation: recompute the output size for dilation 1.
                let same = g.window.pad_top > 0 || g.window.pad_left > 0;
                let (Some((oh, pt)), Some((ow, pl))) = (
                    axis(g.in_h, g.window.filter_h, g.window.stride_h, 1, same),
                    axis(g.in_w, g.window.filter_w, g.window.stride_w, 1, same),
                ) else {
                    return Ok(());
                };
                (g.out_h, g.out_w, g.window.pad_top, g.window.pad_left) = (oh, ow, pt, pl);
                let got = run_pool(k::average_pool_2d, &g, pool, clamp);
                let want = run_pool(reference::average_pool_2d, &g, pool, clamp);
                prop_assert_eq!(got, want);
                let got = run_pool(k::max_pool_2d, &g, pool, clamp);
                let want = run_pool(reference::max_pool_2d, &g, pool, clamp);
                prop_assert_eq!(got, want);
                Ok(())
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 512 }))]

                #[test]
                fn conv_2d((c, d) in (conv_geometry(9, 9), data(9))) {
                    conv_case(&c, &d)?;
                }

                #[test]
                fn conv_2d_pointwise(
                    (n, h, w, c, out_c) in (1usize..=2, 1usize..=6, 1usize..=6, 1usize..=40, 1usize..=12),
                    stride in 1u16..=2,
                    d in data(12),
                ) {
                    let Some((oh, _)) = axis(h, 1, stride, 1, false) else { return Ok(()) };
                    let Some((ow, _)) = axis(w, 1, stride, 1, false) else { return Ok(()) };
                    let g = Geometry {
                        batches: n, in_h: h, in_w: w, in_c: c, out_h: oh, out_w: ow, out_c,
                        window: crate::format::Window {
                            filter_h: 1, filter_w: 1, stride_h: stride, stride_w: stride,
                            dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0,
                        },
                    };
                    conv_case(&Conv { g }, &d)?;
                }

                #[test]
                fn depthwise_conv_2d(
                    (c, d) in (conv_geometry(9, 1), data(27)),
                    multiplier in prop_oneof![4 => Just(1usize), 1 => 1usize..=3],
                ) {
                    depthwise_case(&c, multiplier, &d)?;
                }

                /// The line path: 3x3 filters, dilation 1, whole groups of four channels,
                /// non-negative multipliers and right shifts only (what the MLPerf depthwise
                /// layers are), mostly strides 1 and 2 (others take the pixel loop); some with
                /// more channels than a chunk, some with shifts past the zero point's folding.
                #[test]
                fn depthwise_3x3_lines(
                    ((n, h, w), groups, (sh, sw), same) in (
                        (1usize..=2, 1usize..=9, 1usize..=9),
                        prop_oneof![4 => 1usize..=5, 1 => 16usize..=20],
                        prop_oneof![2 => (1u16..=2, 1u16..=2), 1 => (1u16..=4, 1u16..=4)],
                        any::<bool>(),
                    ),
                    mut d in data(80),
                    right in proptest::collection::vec(
                        prop_oneof![4 => -12i8..=-1, 1 => -31i8..=-1],
                        80,
                    ),
                ) {
                    let c = 4 * groups;
                    d.quant.shifts = right;
                    for m in &mut d.quant.multipliers {
                        *m = m.checked_abs().unwrap_or(i32::MAX);
                    }
                    let Some((oh, pt)) = axis(h, 3, sh, 1, same) else { return Ok(()) };
                    let Some((ow, pl)) = axis(w, 3, sw, 1, same) else { return Ok(()) };
                    let g = Geometry {
                        batches: n, in_h: h, in_w: w, in_c: c, out_h: oh, out_w: ow, out_c: c,
                        window: crate::format::Window {
                            filter_h: 3, filter_w: 3, stride_h: sh, stride_w: sw,
                            dilation_h: 1, dilation_w: 1, pad_top: pt, pad_left: pl,
                        },
                    };
                    depthwise_case(&Conv { g }, 1, &d)?;
                }

                #[test]
                fn fully_connected_paired(
                    (b, depth, units) in (1usize..=2, prop_oneof![1usize..=70, (1usize..=12).prop_map(|n| 8 * n)], 1usize..=12),
                    d in data(12),
                ) {
                    fc_paired_case(b, depth, units, &d)?;
                }

                #[test]
                fn pools(c in conv_geometry(70, 1), pool in proptest::collection::vec(any::<i8>(), 1..97), clamp in clamp()) {
                    pool_case(&c, &pool, clamp)?;
                }

                #[test]
                fn add(
                    n in prop_oneof![1usize..=8, 500usize..=700],
                    (p1, p2) in (proptest::collection::vec(any::<i8>(), 1..97), proptest::collection::vec(any::<i8>(), 1..97)),
                    (zp1, zp2, zpo) in (-128i32..=127, -128i32..=127, -128i32..=127),
                    left_shift in 0u8..=22,
                    q in quant(3),
                    clamp in clamp(),
                ) {
                    let b = reference::Broadcast::new(&[n as u16], &[n as u16]).unwrap();
                    let (x, y) = (fill(&p1, n), fill(&p2, n));
                    let m = |i: usize| Multiplier { multiplier: q.multipliers[i], shift: q.shifts[i].min(0) };
                    let p = reference::AddParams {
                        input1_zp: zp1, input2_zp: zp2, output_zp: zpo, left_shift,
                        input1_multiplier: m(0), input2_multiplier: m(1), output_multiplier: m(2),
                        clamp,
                    };
                    let (mut got, mut want) = (std::vec![0i8; n], std::vec![0i8; n]);
                    k::add(&b, &x, &y, &p, &mut got);
                    reference::add(&b, &x, &y, &p, &mut want);
                    prop_assert_eq!(got, want);
                }
            }

            fn window(f: u16, s: u16, p: u16) -> crate::format::Window {
                crate::format::Window {
                    filter_h: f, filter_w: f, stride_h: s, stride_w: s,
                    dilation_h: 1, dilation_w: 1, pad_top: p, pad_left: p,
                }
            }

            fn geometry(input: [usize; 4], out: [usize; 3], w: crate::format::Window) -> Conv {
                Conv { g: Geometry {
                    batches: input[0], in_h: input[1], in_w: input[2], in_c: input[3],
                    out_h: out[0], out_w: out[1], out_c: out[2], window: w,
                } }
            }

            fn extreme(input: i8, weight: i8, bias: i32, zp: i32, m: i32, shift: i8) -> Data {
                Data {
                    input: std::vec![input, input.wrapping_add(1)],
                    weights: std::vec![weight],
                    bias: Some(std::vec![bias]),
                    quant: Quant { multipliers: std::vec![m; 64], shifts: std::vec![shift; 64], per_channel: true },
                    input_zp: zp,
                    output_zp: 0,
                    clamp: Clamp::NONE,
                }
            }

            /// Saturation both ways, the largest shifts, wrapping accumulators and negative
            /// or i32::MIN multipliers, at the MLPerf shapes (3x3 SAME, 1x1, 10x4 over one
            /// channel) and at depths with a tail. (Too slow under Miri, which runs
            /// `miri_small_shapes` instead.)
            #[test]
            #[cfg_attr(miri, ignore)]
            fn named_edge_cases() {
                let shapes = [
                    geometry([1, 5, 5, 16], [5, 5, 16], window(3, 1, 1)),
                    geometry([1, 6, 6, 8], [3, 3, 8], window(3, 2, 0)),
                    geometry([1, 4, 4, 64], [4, 4, 12], window(1, 1, 0)),
                    geometry([1, 4, 4, 3], [4, 4, 5], window(3, 1, 1)),
                    geometry([1, 3, 3, 7], [3, 3, 3], window(3, 1, 1)),
                    Conv { g: Geometry {
                        batches: 1, in_h: 49, in_w: 10, in_c: 1, out_h: 25, out_w: 5, out_c: 4,
                        window: crate::format::Window {
                            filter_h: 10, filter_w: 4, stride_h: 2, stride_w: 2,
                            dilation_h: 1, dilation_w: 1, pad_top: 4, pad_left: 1,
                        },
                    } },
                ];
                let cases = [
                    extreme(127, 127, i32::MAX, -128, i32::MAX, 30),
                    extreme(-128, -127, i32::MIN, 127, i32::MAX, -31),
                    extreme(-128, 127, 0, 127, i32::MIN, 0),
                    extreme(127, -128, 1 << 30, -128, -(1 << 30), -1),
                    extreme(0, 1, 0, 0, 1 << 30, 1),
                    extreme(3, 1, 0, 0, 1 << 30, -31),
                    extreme(-1, 1, -5, 0, 1 << 30, -2),
                ];
                for c in &shapes {
                    for d in &cases {
                        conv_case(c, d).unwrap();
                        depthwise_case(c, 1, d).unwrap();
                        pool_case(c, &d.input, d.clamp).unwrap();
                    }
                }
                for d in &cases {
                    for (b, depth, units) in [(1, 640, 128), (1, 1, 1), (2, 3, 5), (1, 256, 2), (1, 1300, 3)] {
                        fc_paired_case(b, depth, units, d).unwrap();
                    }
                }
            }

            /// Small shapes of every kernel for Miri, which checks the pointer arithmetic of
            /// the micro-kernels (buffers are allocated at their exact lengths): among them a
            /// depthwise filter that ends exactly where its allocation does, with no bias and
            /// per-tensor requantization (the weight pointer must not step past the end).
            #[test]
            fn miri_small_shapes() {
                let mut per_tensor = extreme(-7, 3, 0, 1, 1 << 30, -4);
                per_tensor.bias = None;
                per_tensor.quant.per_channel = false;
                per_tensor.weights = (0..40).map(|i| (i * 7 % 255 - 127) as i8).collect();
                per_tensor.input = (0..60).map(|i| (i * 13 % 255 - 127) as i8).collect();
                let per_channel = extreme(5, -3, 7, 2, 1 << 30, -3);
                for d in [&per_tensor, &per_channel] {
                    for c in [
                        geometry([1, 3, 3, 5], [3, 3, 5], window(3, 1, 1)),
                        geometry([1, 4, 4, 4], [2, 2, 4], window(3, 2, 1)),
                        geometry([1, 3, 3, 9], [3, 3, 6], window(1, 1, 0)),
                    ] {
                        conv_case(&c, d).unwrap();
                        depthwise_case(&c, 1, d).unwrap();
                        pool_case(&c, &d.input, d.clamp).unwrap();
                    }
                    for (b, depth, units) in [(1, 9, 5), (2, 3, 5), (1, 17, 4), (1, 16, 3)] {
                        fc_paired_case(b, depth, units, d).unwrap();
                    }
                }
            }

            /// Pooling windows of more than 256 positions (AVERAGE_POOL_2D's 16-bit partial
            /// sums are emptied every 256), at int8's extremes and mixed, with channels in
            /// groups of four and not.
            #[test]
            #[cfg_attr(miri, ignore)]
            fn large_pools() {
                for pool in [&[127i8][..], &[-128], &[127, -128, 5, -77, 100, -1, 0]] {
                    for c in [
                        geometry([1, 20, 20, 8], [1, 1, 8], window(20, 1, 0)),
                        geometry([2, 17, 19, 7], [1, 1, 7], window(17, 1, 0)),
                        geometry([1, 33, 9, 4], [2, 1, 4], window(9, 24, 0)),
                    ] {
                        pool_case(&c, pool, Clamp::NONE).unwrap();
                    }
                }
            }

            /// Receptive fields beyond the column scratch, depth multipliers other than 1,
            /// and grouped convolutions take the reference path and must still agree. (Not
            /// under Miri: the reference path has no `unsafe`, and it is slow there.)
            #[test]
            #[cfg_attr(miri, ignore)]
            fn fallbacks() {
                let d = extreme(5, -3, 7, 2, 1 << 30, -3);
                conv_case(&geometry([1, 3, 3, 200], [3, 3, 2], window(3, 1, 1)), &d).unwrap();
                depthwise_case(&geometry([1, 4, 4, 3], [4, 4, 6], window(3, 1, 1)), 2, &d).unwrap();
                depthwise_case(&geometry([1, 8, 8, 2], [8, 8, 2], window(7, 1, 3)), 1, &d).unwrap();
            }
        }
    };
}

/// The optimized kernels behind the reference signatures, each given the scratch its
/// `scratch` function asks for: at an odd address, filled with garbage, so that a kernel
/// that reads what it did not write, or misplaces its pieces, fails.
mod scratched {
    extern crate std;
    use crate::format::{Clamp, Requant};
    use crate::kernels::Scratch;
    use crate::kernels::optimized::{self as k, scratch};
    use crate::kernels::reference::{AddParams, Broadcast, Geometry};
    pub use k::{average_pool_2d, max_pool_2d};

    fn with_scratch(bytes: usize, f: impl FnOnce(Scratch<'_>)) {
        let mut buffer = std::vec![0xA5u8; bytes + 3];
        f(Scratch::new(&mut buffer[3..]));
    }

    #[allow(clippy::too_many_arguments)]
    pub fn conv_2d(
        g: &Geometry,
        x: &[i8],
        x_zp: i32,
        w: &[i8],
        bias: Option<&[u8]>,
        r: &Requant<'_>,
        y_zp: i32,
        clamp: Clamp,
        y: &mut [i8],
    ) {
        with_scratch(scratch::conv_2d(g, w.len()), |s| {
            k::conv_2d(g, x, x_zp, w, bias, r, y_zp, clamp, y, s)
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_conv_2d(
        g: &Geometry,
        x: &[i8],
        x_zp: i32,
        w: &[i8],
        bias: Option<&[u8]>,
        r: &Requant<'_>,
        y_zp: i32,
        clamp: Clamp,
        y: &mut [i8],
    ) {
        with_scratch(scratch::depthwise_conv_2d(g), |s| {
            k::depthwise_conv_2d(g, x, x_zp, w, bias, r, y_zp, clamp, y, s)
        });
    }

    /// [`k::fully_connected_paired`] given the weights as rows (it takes them paired).
    #[allow(clippy::too_many_arguments)]
    pub fn fully_connected_paired(
        x: &[i8],
        x_zp: i32,
        w: &[i8],
        bias: Option<&[u8]>,
        r: &Requant<'_>,
        y_zp: i32,
        clamp: Clamp,
        depth: usize,
        y: &mut [i8],
    ) {
        let units = w.len() / depth.max(1);
        let pairs = super::pairs_of(w, depth);
        with_scratch(scratch::fully_connected_paired(depth), |s| {
            k::fully_connected_paired(x, x_zp, &pairs, units, bias, r, y_zp, clamp, y, s)
        });
    }

    pub fn add(b: &Broadcast, x: &[i8], y: &[i8], p: &AddParams, out: &mut [i8]) {
        with_scratch(scratch::add(b, out.len()), |s| k::add(b, x, y, p, out, s));
    }
}

kernel_suite!(optimized, super::scratched);

/// `w` (`[units][depth]`) in row pairs.
fn pairs_of(w: &[i8], depth: usize) -> Vec<u8> {
    let bytes: Vec<u8> = w.iter().map(|&v| v as u8).collect();
    crate::format::pair_rows(&bytes, depth)
}

/// [`reference::fully_connected_paired`] given the weights as rows.
#[allow(clippy::too_many_arguments)]
fn paired_reference(
    x: &[i8],
    x_zp: i32,
    w: &[i8],
    bias: Option<&[u8]>,
    r: &Requant<'_>,
    y_zp: i32,
    clamp: Clamp,
    depth: usize,
    y: &mut [i8],
) {
    let units = w.len() / depth.max(1);
    let pairs = pairs_of(w, depth);
    reference::fully_connected_paired(x, x_zp, &pairs, units, bias, r, y_zp, clamp, y);
}

/// With less scratch than they ask for, the kernels take the reference path where the build
/// has it (CONV_2D's with `op-conv-grouped`): the same results; elsewhere (FULLY_CONNECTED's
/// only with `reference-kernels`) they leave the output as it was.
#[test]
fn too_little_scratch_takes_the_reference_where_built() {
    use crate::format::Window;
    use crate::kernels::Scratch;
    use crate::kernels::optimized::{self as k, scratch};
    let g = Geometry {
        batches: 1,
        in_h: 5,
        in_w: 5,
        in_c: 8,
        out_h: 5,
        out_w: 5,
        out_c: 6,
        window: Window {
            filter_h: 3,
            filter_w: 3,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
        },
    };
    let x: Vec<i8> = (0..200).map(|i| (i * 37 % 251) as i8).collect();
    let w: Vec<i8> = (0..6 * 9 * 8).map(|i| (i * 53 % 255) as i8).collect();
    let r = Requant::PerTensor(Multiplier {
        multiplier: 1 << 30,
        shift: -6,
    });
    let needed = scratch::conv_2d(&g, w.len());
    for bytes in [0, needed - 8] {
        let (mut got, mut want) = (std::vec![0i8; 150], std::vec![0i8; 150]);
        let mut buffer = std::vec![0u8; bytes];
        let s = Scratch::new(&mut buffer);
        k::conv_2d(&g, &x, 3, &w, None, &r, -2, Clamp::NONE, &mut got, s);
        if cfg!(feature = "op-conv-grouped") {
            reference::conv_2d(&g, &x, 3, &w, None, &r, -2, Clamp::NONE, &mut want);
        }
        assert_eq!(got, want);
    }
    let pairs = pairs_of(&w[..432], 72);
    for bytes in [0, scratch::fully_connected_paired(72) - 8] {
        let mut got = [0i8; 6];
        let mut buffer = std::vec![0u8; bytes];
        let s = Scratch::new(&mut buffer);
        let x = &x[..72];
        k::fully_connected_paired(x, 3, &pairs, 6, None, &r, -2, Clamp::NONE, &mut got, s);
        assert_eq!(got, [0; 6], "not written");
    }
}
