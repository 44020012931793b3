//! Models compiled into the firmware. A build script validates a blob with [`Model::parse`]
//! (every check the device would run) and writes its tables out as Rust statics, which
//! [`Model::from_compiled`] runs: no decoder and no validation code on the device, and the
//! arena's size a constant. Built without the `blob` feature, the firmware cannot parse blobs
//! at all; with it, a compiled-in model and an updatable model region live side by side.
//!
//! ```no_run
//! // build.rs, with `mote = { ..., features = ["compile"] }` under [build-dependencies]:
//! mote::compile::build_script("../models/digits/digits.mote", "digits.rs");
//! ```
//! ```ignore
//! // The application:
//! mod digits {
//!     include!(concat!(env!("OUT_DIR"), "/digits.rs"));
//! }
//! let mut arena = [0u8; digits::ARENA_BYTES];
//! let mut interpreter = mote::Interpreter::new(&digits::MODEL, &mut arena)?;
//! ```

extern crate std;

use crate::error::Error;
use crate::format::{KIND_CONDITIONS, KIND_NAMES, Op, TensorDef};
use crate::kernels::{Isa, KernelPath};
use crate::model::Model;
use core::fmt::{self, Write as _};
use serde::Serialize;
use serde::ser::{self, Serializer};
use std::collections::BTreeSet;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

/// For a build script: compiles the blob at `blob` (relative to the package) into
/// `$OUT_DIR/<file_name>` and has cargo rebuild when the blob changes. A blob that does not
/// validate, or cannot be read, fails the build with the reason.
pub fn build_script(blob: &str, file_name: &str) {
    std::println!("cargo::rerun-if-changed={blob}");
    let written = std::env::var_os("OUT_DIR")
        .ok_or_else(|| "OUT_DIR is not set: call this from a build script".to_string())
        .and_then(|dir| write_model(Path::new(blob), &Path::new(&dir).join(file_name)));
    if let Err(message) = written {
        std::eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// Compiles the blob at `blob` into the Rust file `out` ([`rust_source`]) for the target of
/// the build that runs this build script (`TARGET`; any target where it is not set).
///
/// # Errors
/// The blob cannot be read or does not validate, or `out` cannot be written; the message names
/// the file and what is wrong.
pub fn write_model(blob: &Path, out: &Path) -> Result<(), String> {
    let bytes =
        std::fs::read(blob).map_err(|e| std::format!("cannot read {}: {e}", blob.display()))?;
    let target = std::env::var("TARGET").ok();
    let source = rust_source(&bytes, target.as_deref())
        .map_err(|e| std::format!("{}: {e}", blob.display()))?;
    std::fs::write(out, source).map_err(|e| std::format!("cannot write {}: {e}", out.display()))
}

/// The Rust items of a compiled-in model: `ARENA_BYTES` (the arena it needs) and
/// `MODEL: mote::Model<'static>`, with compile-time checks that the firmware's build of mote
/// has each of its operators and each optional kernel path ([`KernelPath`]) it takes on
/// `target` (a target triple, which the firmware must then be built for; on any target if
/// `None`).
///
/// # Errors
/// Whatever [`Model::parse`] finds wrong with the blob.
pub fn rust_source(blob: &[u8], target: Option<&str>) -> Result<String, Error> {
    let model = Model::parse(blob)?;
    let tensors = (0..model.tensor_count())
        .map(|id| model.tensor(id))
        .collect::<Result<Vec<TensorDef>, Error>>()?;
    let ops = model.ops().collect::<Result<Vec<_>, Error>>()?;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "// Written by mote::compile from a blob that Model::parse validated: do not edit.\n\
         \n\
         /// Bytes of arena the model needs: its tensors ({}), then the kernels' scratch ({}).\n\
         pub const ARENA_BYTES: usize = {};\n\
         \n\
         /// The model, validated when the firmware was built.\n\
         #[allow(clippy::all)]\n\
         pub static MODEL: mote::Model<'static> = {{\n    \
             use mote::format::*;\n    \
             static TENSORS: [TensorDef; {}] = [",
        model.tensor_bytes(),
        model.scratch_bytes(),
        model.arena_size(),
        tensors.len(),
    );
    for t in &tensors {
        let _ = writeln!(w, "        {},", literal(t)?);
    }
    let _ = writeln!(
        w,
        "    ];\n    static OPS: [Op<'static>; {}] = [",
        ops.len()
    );
    for op in &ops {
        let _ = writeln!(w, "        {},", literal(op)?);
    }
    let _ = writeln!(
        w,
        "    ];\n    \
         // SAFETY: the tables are what Model::parse accepted, unchanged.\n    \
         unsafe {{\n        \
             mote::Model::from_compiled(\n            \
                 &TENSORS,\n            \
                 &OPS,\n            \
                 {}, // inputs\n            \
                 {}, // outputs\n            \
                 {}, // bytes of tensors\n            \
                 {}, // bytes of scratch\n        \
             )\n    \
         }}\n\
         }};\n",
        literal(&model.inputs())?,
        literal(&model.outputs())?,
        model.tensor_bytes(),
        model.scratch_bytes(),
    );
    let kinds: BTreeSet<usize> = ops.iter().map(|op| op.kind_number()).collect();
    for kind in kinds {
        let name = KIND_NAMES.get(kind).copied().unwrap_or("?");
        let condition = KIND_CONDITIONS.get(kind).copied().unwrap_or("?");
        let _ = writeln!(
            w,
            "const _: () = assert!(\n    \
                 mote::format::kind_built({kind}),\n    \
                 {:?}\n\
             );",
            std::format!("the model has {name}: build mote with {condition}")
        );
    }
    if let Some(triple) = target {
        let isa = Isa::of_target(triple);
        let _ = writeln!(
            w,
            "const _: () = assert!(\n    \
                 mote::kernels::Isa::HERE.is(mote::kernels::Isa::{isa:?}),\n    \
                 {:?}\n\
             );",
            std::format!("the model was compiled for {triple}: compile it for this target")
        );
    }
    for path in paths(&model, &ops, &target_isas(target))? {
        let _ = writeln!(
            w,
            "const _: () = assert!(\n    \
                 mote::kernels::KernelPath::{path:?}.built(),\n    \
                 {:?}\n\
             );",
            std::format!(
                "the model has a {}: build mote with that feature",
                path.name()
            )
        );
    }
    Ok(s)
}

/// The micro-kernels of the target triple `target`, or of every target.
fn target_isas(target: Option<&str>) -> Vec<Isa> {
    match target {
        Some(triple) => std::vec![Isa::of_target(triple)],
        None => std::vec![Isa::ArmDsp, Isa::Riscv, Isa::Portable],
    }
}

/// The optional kernel paths ([`KernelPath`]) `ops` take on targets with `isas`' micro-kernels,
/// each once.
fn paths(model: &Model<'_>, ops: &[Op<'_>], isas: &[Isa]) -> Result<Vec<KernelPath>, Error> {
    let mut found = Vec::new();
    for op in ops {
        for &isa in isas {
            if let Some(p) = crate::ops::path(model, op, isa)?
                && !found.contains(&p)
            {
                found.push(p);
            }
        }
    }
    Ok(found)
}

/// The `mote` cargo features of the smallest build that runs the blob's model on `target` (a
/// target triple; on any target if `None`): one `op-` feature per operator kind it uses (the
/// first that builds it), one per optional kernel path it takes ([`KernelPath::feature`]), and
/// `op-conv-pairs` where its convolutions take blocks of two pixels, each once, in name order.
///
/// # Errors
/// Whatever [`Model::parse`] finds wrong with the blob.
pub fn required_features(blob: &[u8], target: Option<&str>) -> Result<Vec<&'static str>, Error> {
    let model = Model::parse(blob)?;
    let ops = model.ops().collect::<Result<Vec<_>, Error>>()?;
    let kinds = ops.iter().filter_map(|op| {
        // `feature = "op-conv"`, `any(feature = "op-mean", ...)`, or `all()`: always built.
        let condition = KIND_CONDITIONS.get(op.kind_number())?;
        let start = condition.find('"')? + 1;
        let len = condition.get(start..)?.find('"')?;
        condition.get(start..start + len)
    });
    let isas = target_isas(target);
    let mut pairs = false;
    for op in &ops {
        for &isa in &isas {
            pairs |= crate::ops::takes_conv_pairs(&model, op, isa)?;
        }
    }
    let paths = paths(&model, &ops, &isas)?
        .into_iter()
        .map(KernelPath::feature);
    Ok(kinds
        .chain(paths)
        .chain(pairs.then_some("op-conv-pairs"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// `value` as a Rust expression ([`Literal`]).
fn literal<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::new();
    // Writing to a `String` cannot fail, nor can the format's types (see `Literal`).
    value
        .serialize(Literal { out: &mut out })
        .map_err(|_| Error::Malformed)?;
    Ok(out)
}

/// Writes a value as a Rust expression of its own type, through `serde`: structs and enums
/// by name (the format's types, in scope through `use mote::format::*`), numbers with their
/// type's suffix, `f32` by its bits. A sequence of bytes (the format's `&[u8]` fields)
/// becomes a word-aligned byte string (`&Aligned(*b"...").0`); any other sequence (shapes and tensor lists, `heapless::Vec`s of
/// `u16`) `mote::heapless::Vec::from_array`. Arrays are serialised as tuples, and the format
/// has no tuples, so a tuple is an array. What the format never holds (maps, strings) becomes
/// a `compile_error!` naming it.
struct Literal<'o> {
    out: &'o mut String,
}

/// What a value was, as far as its sequence needs to know: a byte, or anything else.
enum Written {
    Byte(u8),
    Other,
}

impl Literal<'_> {
    fn put(self, text: impl fmt::Display) -> Result<Written, fmt::Error> {
        write!(self.out, "{text}")?;
        Ok(Written::Other)
    }

    /// `value` inside `name(...)`: `Some`, a newtype struct or variant.
    fn wrapped<T: Serialize + ?Sized>(
        self,
        name: impl fmt::Display,
        value: &T,
    ) -> Result<Written, fmt::Error> {
        write!(self.out, "{name}(")?;
        value.serialize(Literal {
            out: &mut *self.out,
        })?;
        self.put(")")
    }

    fn unsupported(self, what: &str) -> Result<Written, fmt::Error> {
        self.put(format_args!(
            "compile_error!(\"mote::compile cannot write {what}\")"
        ))
    }
}

/// The elements of a sequence, tuple or struct, each written on its own first.
struct Items<'o> {
    out: &'o mut String,
    /// Text before the items and after them.
    close: &'static str,
    items: Vec<String>,
    bytes: Vec<u8>,
    all_bytes: bool,
    /// A sequence (byte string or vector), not a fixed list.
    sequence: bool,
}

impl<'o> Items<'o> {
    fn new(out: &'o mut String, open: impl fmt::Display, close: &'static str) -> Self {
        let _ = write!(out, "{open}");
        Items {
            out,
            close,
            items: Vec::new(),
            bytes: Vec::new(),
            all_bytes: true,
            sequence: false,
        }
    }

    fn sequence(out: &'o mut String) -> Self {
        Items {
            sequence: true,
            ..Items::new(out, "", "")
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, prefix: &str, value: &T) -> fmt::Result {
        let mut text = String::from(prefix);
        match value.serialize(Literal { out: &mut text })? {
            Written::Byte(b) => self.bytes.push(b),
            Written::Other => self.all_bytes = false,
        }
        self.items.push(text);
        Ok(())
    }

    fn finish(self) -> Result<Written, fmt::Error> {
        if self.sequence && self.all_bytes {
            // Word-aligned, as a blob's row pairs are (the Cortex-M4 loads them with `LDM`).
            self.out.push_str("&Aligned(*b\"");
            for (i, b) in self.bytes.iter().enumerate() {
                if i % 32 == 0 && i > 0 {
                    self.out.push_str("\\\n");
                }
                write!(self.out, "\\x{b:02x}")?;
            }
            self.out.push_str("\").0");
        } else if self.sequence {
            write!(
                self.out,
                "mote::heapless::Vec::from_array([{}])",
                self.items.join(", ")
            )?;
        } else {
            write!(self.out, "{}{}", self.items.join(", "), self.close)?;
        }
        Ok(Written::Other)
    }
}

/// The sequence, tuple and struct traits: each element written by [`Items::item`] (after its
/// field name, for structs), the whole by [`Items::finish`].
macro_rules! items {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Items<'_> {
            type Ok = Written;
            type Error = fmt::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> fmt::Result {
                self.item("", value)
            }
            fn end(self) -> Result<Written, fmt::Error> {
                self.finish()
            }
        }
    )*};
    ($($trait:ident::$method:ident with keys),*) => {$(
        impl ser::$trait for Items<'_> {
            type Ok = Written;
            type Error = fmt::Error;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> fmt::Result {
                self.item(&std::format!("{key}: "), value)
            }
            fn end(self) -> Result<Written, fmt::Error> {
                self.finish()
            }
        }
    )*};
}

items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
items!(
    SerializeStruct::serialize_field with keys,
    SerializeStructVariant::serialize_field with keys
);

impl ser::SerializeMap for Items<'_> {
    type Ok = Written;
    type Error = fmt::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> fmt::Result {
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> fmt::Result {
        Ok(())
    }
    fn end(self) -> Result<Written, fmt::Error> {
        Literal { out: self.out }.unsupported("a map")
    }
}

impl<'o> Serializer for Literal<'o> {
    type Ok = Written;
    type Error = fmt::Error;
    type SerializeSeq = Items<'o>;
    type SerializeTuple = Items<'o>;
    type SerializeTupleStruct = Items<'o>;
    type SerializeTupleVariant = Items<'o>;
    type SerializeMap = Items<'o>;
    type SerializeStruct = Items<'o>;
    type SerializeStructVariant = Items<'o>;

    fn serialize_bool(self, v: bool) -> Result<Written, fmt::Error> {
        self.put(v)
    }
    fn serialize_i8(self, v: i8) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}i8"))
    }
    fn serialize_i16(self, v: i16) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}i16"))
    }
    fn serialize_i32(self, v: i32) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}i32"))
    }
    fn serialize_i64(self, v: i64) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}i64"))
    }
    fn serialize_u8(self, v: u8) -> Result<Written, fmt::Error> {
        write!(self.out, "{v}u8")?;
        Ok(Written::Byte(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}u16"))
    }
    fn serialize_u32(self, v: u32) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}u32"))
    }
    fn serialize_u64(self, v: u64) -> Result<Written, fmt::Error> {
        self.put(format_args!("{v}u64"))
    }
    fn serialize_f32(self, v: f32) -> Result<Written, fmt::Error> {
        self.put(format_args!("f32::from_bits(0x{:08x})", v.to_bits()))
    }
    fn serialize_f64(self, v: f64) -> Result<Written, fmt::Error> {
        self.put(format_args!("f64::from_bits(0x{:016x})", v.to_bits()))
    }
    fn serialize_char(self, _: char) -> Result<Written, fmt::Error> {
        self.unsupported("a char")
    }
    fn serialize_str(self, _: &str) -> Result<Written, fmt::Error> {
        self.unsupported("a string")
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Written, fmt::Error> {
        let mut items = Items::sequence(self.out);
        for b in v {
            items.item("", b)?;
        }
        items.finish()
    }
    fn serialize_none(self) -> Result<Written, fmt::Error> {
        self.put("None")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Written, fmt::Error> {
        self.wrapped("Some", value)
    }
    fn serialize_unit(self) -> Result<Written, fmt::Error> {
        self.put("()")
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Written, fmt::Error> {
        self.put(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Written, fmt::Error> {
        self.put(format_args!("{name}::{variant}"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Written, fmt::Error> {
        self.wrapped(name, value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Written, fmt::Error> {
        self.wrapped(format_args!("{name}::{variant}"), value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::sequence(self.out))
    }
    fn serialize_tuple(self, _: usize) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(self.out, "[", "]"))
    }
    fn serialize_tuple_struct(self, name: &'static str, _: usize) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(self.out, format_args!("{name}("), ")"))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(
            self.out,
            format_args!("{name}::{variant}("),
            ")",
        ))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(self.out, "", ""))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(self.out, format_args!("{name} {{ "), " }"))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'o>, fmt::Error> {
        Ok(Items::new(
            self.out,
            format_args!("{name}::{variant} {{ "),
            " }",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_that_does_not_validate_is_refused() {
        assert_eq!(rust_source(b"MOTE", None), Err(Error::Truncated));
    }

    #[test]
    fn the_digits_model_compiles_to_its_tables() {
        let blob = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/digits/digits.mote"
        ))
        .unwrap();
        let source = rust_source(&blob, None).unwrap();
        assert!(
            source.contains("pub const ARENA_BYTES: usize = 231;"),
            "{source}"
        );
        assert!(
            source.contains("Op::FullyConnectedPaired(PairedFullyConnected { "),
            "{source}"
        );
        assert!(source.contains("Op::Softmax(Softmax { "), "{source}");
        assert!(source.contains("shape: mote::heapless::Vec::from_array([1u16, 64u16])"));
        assert!(!source.contains("compile_error!"));
        assert_eq!(
            required_features(&blob, None).unwrap(),
            ["op-fully-connected", "op-softmax"]
        );
    }

    /// A CONV_2D that takes an optional kernel path needs its feature, which
    /// `required_features` names and the source asserts; a pointwise one needs none, and
    /// blocks of two pixels only on the targets whose blocks leave pairs over.
    #[test]
    fn a_conv_needs_the_features_of_its_paths() {
        use crate::format::{Clamp, Conv2d, Multiplier, Requant, Window};
        let conv = |filter: u16, channels: u16, weights: &'static [u8]| {
            let window = Window {
                filter_h: filter,
                filter_w: filter,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            };
            let op = Op::Conv2d(Conv2d {
                input: 0,
                output: 1,
                window,
                filter: weights,
                bias: None,
                requant: Requant::PerTensor(Multiplier {
                    multiplier: 1 << 30,
                    shift: 0,
                }),
                clamp: Clamp::NONE,
            });
            let out = 3 - filter;
            let io: [crate::ops::harness::T<'_>; 2] =
                [(&[1, 2, 2, channels], 0), (&[1, out, out, channels], 0)];
            crate::ops::harness::blob(&io, op)
        };
        // Two groups of one input channel each; a 2x2 filter over two channels (a first
        // layer's few channels on Arm, not on RISC-V); pointwise.
        let grouped = conv(1, 2, &[1, 1]);
        let general = conv(2, 2, &[1; 16]);
        let pointwise = conv(1, 4, &[1; 16]);
        let m4 = Some("thumbv7em-none-eabihf");
        let rv32 = Some("riscv32imac-unknown-none-elf");
        for (blob, path, targets) in [
            (&grouped, KernelPath::GroupedConv, &[m4, rv32, None][..]),
            (&general, KernelPath::ConvGeneral, &[rv32, None]),
        ] {
            for &target in targets {
                let features = required_features(blob, target).unwrap();
                assert_eq!(features, ["op-conv", path.feature()], "{target:?}");
                let source = rust_source(blob, target).unwrap();
                let assertion = std::format!("mote::kernels::KernelPath::{path:?}.built()");
                assert!(source.contains(&assertion), "{source}");
                let message = std::format!("a {}: build mote with that feature", path.name());
                assert!(source.contains(&message), "{source}");
            }
        }
        assert_eq!(required_features(&general, m4).unwrap(), ["op-conv"]);
        let source = rust_source(&general, m4).unwrap();
        assert!(!source.contains("KernelPath"), "{source}");
        // Compiled for one target's kernel paths, the model builds for that target only.
        let for_m4 = "mote::kernels::Isa::HERE.is(mote::kernels::Isa::ArmDsp)";
        assert!(source.contains(for_m4), "{source}");
        assert!(source.contains("compiled for thumbv7em-none-eabihf: compile it for this target"));
        assert!(!rust_source(&general, None).unwrap().contains("Isa::HERE"));
        // Four pixels of depth 4: one block of four on Cortex-M4; on RV32, blocks of three
        // take 17 values or more, so blocks of two.
        assert_eq!(required_features(&pointwise, m4).unwrap(), ["op-conv"]);
        let pairs = ["op-conv", "op-conv-pairs"];
        assert_eq!(required_features(&pointwise, rv32).unwrap(), pairs);
        assert_eq!(required_features(&pointwise, None).unwrap(), pairs);
        assert!(
            !rust_source(&pointwise, None)
                .unwrap()
                .contains("KernelPath")
        );
    }
}
