#!/bin/sh
# rustc wrapper (RUSTC_WRAPPER) for the firmware builds of the host tools
# (mote_tools::device::qemu::build_firmware): it makes the image the same in any checkout folder.
#
# Cargo derives each crate's `-C metadata` (the disambiguator that every symbol name hashes)
# from the package's source. For a path package outside the firmware workspace, the runtime in
# ../runtime, that source is its absolute path. Every crate that depends on it mixes the value
# into its own. The symbol names then depend on the checkout folder, and so do the order of the
# functions in the image and the alignment padding between them: a few bytes of size.
# This wrapper replaces `-C metadata` with a hash of what identifies the crate in any folder:
# package name and version, crate name and type, target and cfgs (the features).
# (Source paths in panic locations are remapped separately, with --remap-path-prefix.)
set -eu
rustc=$1
shift

key="${CARGO_PKG_NAME:-} ${CARGO_PKG_VERSION:-}"
prev=
for arg in "$@"; do
  case $prev in
    --crate-name | --crate-type | --target | --cfg) key="$key $prev=$arg" ;;
  esac
  prev=$arg
done
meta=$(printf '%s' "$key" | cksum | cut -d ' ' -f 1)

# Rebuild the arguments with the metadata replaced: `-C metadata=X` or `-Cmetadata=X`.
count=$#
prev=
for arg in "$@"; do
  case $prev/$arg in
    -C/metadata=*) arg="metadata=$meta" ;;
    */-Cmetadata=*) arg="-Cmetadata=$meta" ;;
  esac
  set -- "$@" "$arg"
  prev=$arg
done
shift "$count"
exec "$rustc" "$@"
