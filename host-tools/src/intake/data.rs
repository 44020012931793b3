//! Loading a model's data set (CSV or NPY) and splitting it deterministically into train and test.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use mote::kernels::reference::audio::{self, CHANNELS};
use npyz::{DType, NpyFile, Order, TypeChar};

use crate::intake::audio::{CLIP_SAMPLES, Clips, features, read_clip};
use crate::train::spec::{Spec, Task};

/// A table of samples: each row is `features` inputs followed by `targets` outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs per sample.
    pub features: usize,
    /// Outputs per sample (1 class label for classification).
    pub targets: usize,
    /// Row-major `[samples][features]`.
    pub x: Vec<f32>,
    /// Row-major `[samples][targets]`.
    pub y: Vec<f32>,
    /// The sound clip each sample's features were computed from (a `wav_dir` data set), else
    /// empty.
    pub clips: Vec<PathBuf>,
    /// The class names, by class index, where the data names them (a `wav_dir` data set's
    /// folders), else empty.
    pub labels: Vec<String>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len().checked_div(self.features).unwrap_or(0)
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs and targets of sample `i`.
    pub fn sample(&self, i: usize) -> (&[f32], &[f32]) {
        (
            &self.x[i * self.features..(i + 1) * self.features],
            &self.y[i * self.targets..(i + 1) * self.targets],
        )
    }

    /// A new data set holding the given samples, in that order.
    fn select(&self, indices: &[usize]) -> Dataset {
        let mut out = Dataset {
            features: self.features,
            targets: self.targets,
            x: Vec::with_capacity(indices.len() * self.features),
            y: Vec::with_capacity(indices.len() * self.targets),
            clips: Vec::new(),
            labels: self.labels.clone(),
        };
        for &i in indices {
            let (x, y) = self.sample(i);
            out.x.extend_from_slice(x);
            out.y.extend_from_slice(y);
            out.clips.extend(self.clips.get(i).cloned());
        }
        out
    }
}

/// The parts of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    /// What training validates on each epoch (it may have none).
    Validation,
    Test,
}

/// One split of the spec's data: a table's by `data.test_fraction`,
/// `training.validation_fraction` and `data.split_seed`; a WAV folder's `train/`,
/// `validation/` (optional) or `test/` folder, whose clips alone are read.
///
/// # Errors
/// Unreadable or malformed data, naming the file.
pub fn split_of(spec: &Spec, which: Split) -> Result<Option<Dataset>> {
    if let Some(dir) = &spec.data.wav_dir {
        let dir = spec.resolve(dir);
        let train = Clips::scan(&dir.join("train"), None)?;
        let classes = spec.data.classes.unwrap_or(0);
        ensure!(
            train.labels.len() == classes,
            "{}: {} class folders ({}), but `data.classes` is {classes}",
            dir.join("train").display(),
            train.labels.len(),
            train.labels.join(", ")
        );
        let folder = match which {
            Split::Train => return clip_features(&train).map(Some),
            Split::Validation if !dir.join("validation").is_dir() => return Ok(None),
            Split::Validation => "validation",
            Split::Test => "test",
        };
        let clips = Clips::scan(&dir.join(folder), Some(&train.labels))?;
        return clip_features(&clips).map(Some);
    }
    let (train, test) = split(&load(spec)?, spec.data.test_fraction, spec.data.split_seed);
    let fraction = spec.training.validation_fraction;
    // A seed of its own, so that the test split is the same with or without validation.
    let (train, validation) = match fraction > 0.0 {
        true => {
            let (train, validation) = split(&train, fraction, spec.data.split_seed.wrapping_add(1));
            (train, Some(validation))
        }
        false => (train, None),
    };
    Ok(match which {
        Split::Train => Some(train),
        Split::Validation => validation,
        Split::Test => Some(test),
    })
}

/// The training split (every data set has one).
///
/// # Errors
/// As [`split_of`].
pub fn train_split(spec: &Spec) -> Result<Dataset> {
    split_of(spec, Split::Train)?.context("internal error: no training split")
}

/// The test split.
///
/// # Errors
/// As [`split_of`].
pub fn test_split(spec: &Spec) -> Result<Dataset> {
    split_of(spec, Split::Test)?.context("internal error: no test split")
}

/// The features of every clip, as real values (what the int8 features stand for), computed on
/// every core, in a seeded shuffled order: the clips come sorted by class, and whoever takes
/// the first samples (calibration does) should get every class. A clip is read, turned into
/// features and dropped: only features are held.
fn clip_features(clips: &Clips) -> Result<Dataset> {
    let per_clip = audio::frames(CLIP_SAMPLES) * CHANNELS;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = clips.clips.len().div_ceil(threads).max(1);
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = clips
            .clips
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<Vec<f32>> {
                    let mut x = Vec::with_capacity(part.len() * per_clip);
                    for (path, _) in part {
                        let q = features(&read_clip(path)?);
                        x.extend(q.iter().map(|&v| {
                            audio::FEATURE_SCALE * (f32::from(v) - audio::FEATURE_ZERO_POINT as f32)
                        }));
                    }
                    Ok(x)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| bail!("a feature worker panicked"))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let sorted = Dataset {
        features: per_clip,
        targets: 1,
        x: parts.concat(),
        y: clips.clips.iter().map(|&(_, class)| class as f32).collect(),
        clips: clips.clips.iter().map(|(path, _)| path.clone()).collect(),
        labels: clips.labels.clone(),
    };
    let mut order: Vec<usize> = (0..sorted.len()).collect();
    SplitMix64::new(CLIP_ORDER_SEED).shuffle(&mut order);
    Ok(sorted.select(&order))
}

/// The seed of the order of a WAV folder's samples.
const CLIP_ORDER_SEED: u64 = 1;

/// Reads the spec's data file (`.npy` or `.npz` by extension, CSV otherwise) and checks it
/// against the spec.
///
/// # Errors
/// A spec without `data.file`, or an unreadable or malformed file.
pub fn load(spec: &Spec) -> Result<Dataset> {
    let Some(file) = &spec.data.file else {
        bail!("the spec's data is a WAV folder, not a table");
    };
    let path = spec.resolve(file);
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let table = match extension.as_deref() {
        Some("npy") => read_npy(&path)?,
        Some("npz") => read_npz(&path)?,
        _ => read_csv(&path)?,
    };
    to_dataset(spec, &path, table)
}

/// A parsed 2-D table before it is split into features and targets.
struct Table {
    rows: usize,
    cols: usize,
    cells: Vec<f32>,
    /// "line" for CSV (1-based text lines), "row" for NPY (0-based array rows).
    row_word: &'static str,
    /// File position of each row, as reported in errors.
    row_names: Vec<u64>,
}

fn read_csv(path: &Path) -> Result<Table> {
    let file =
        File::open(path).with_context(|| format!("cannot read data file {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BufReader::new(file));
    let mut table = Table {
        rows: 0,
        cols: 0,
        cells: Vec::new(),
        row_word: "line",
        row_names: Vec::new(),
    };
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader
            .read_record(&mut record)
            .with_context(|| format!("cannot parse CSV file {}", path.display()))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, csv::Position::line);
        if table.rows == 0 {
            table.cols = record.len();
        } else if record.len() != table.cols {
            bail!(
                "{} line {line}: {} columns, but the first line has {}; every row needs the same \
                 number of columns (features, then targets)",
                path.display(),
                record.len(),
                table.cols
            );
        }
        for (col, cell) in record.iter().enumerate() {
            let value: f32 = cell
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .with_context(|| {
                    format!(
                        "{} line {line}, column {}: `{cell}` is not a finite number (the file must \
                     have no header and only numeric cells)",
                        path.display(),
                        col + 1
                    )
                })?;
            table.cells.push(value);
        }
        table.rows += 1;
        table.row_names.push(line);
    }
    if table.rows == 0 {
        bail!("{} is empty: it needs one sample per line", path.display());
    }
    Ok(table)
}

/// Opens an NPY file (`name` in messages) of `file_len` bytes after checking what its preamble
/// declares against that size: the NPY reader allocates the declared header length before
/// reading it, so a hostile length (up to 4 GiB) must be refused first.
fn open_npy<R: Read + Seek>(
    mut file: R,
    file_len: u64,
    name: &str,
) -> Result<NpyFile<BufReader<R>>> {
    let mut preamble = [0u8; 12];
    let read = file.read(&mut preamble)?;
    let not_npy = || format!("{name} is not a valid NPY file");
    if read < 10 || &preamble[..6] != b"\x93NUMPY" {
        bail!("{}: it does not start with the NPY magic", not_npy());
    }
    let (header_len, header_start) = match preamble[6] {
        1 => (
            u64::from(u16::from_le_bytes([preamble[8], preamble[9]])),
            10,
        ),
        2 | 3 if read == 12 => {
            let len = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
            (u64::from(len), 12)
        }
        v => bail!("{}: unsupported NPY format version {v}", not_npy()),
    };
    if header_start + header_len > file_len {
        bail!(
            "{}: its header declares {header_len} bytes, but the file has only {file_len}",
            not_npy()
        );
    }
    // The declared shape must fit the file before the NPY reader sees it (it multiplies the
    // dimensions unchecked).
    let mut header = vec![0u8; usize::try_from(header_len)?];
    file.seek(SeekFrom::Start(header_start))?;
    file.read_exact(&mut header)?;
    let header = String::from_utf8_lossy(&header);
    let shape = header
        .split_once("'shape':")
        .and_then(|(_, rest)| rest.split_once('(')?.1.split_once(')'))
        .map(|(dims, _)| dims);
    if let Some(dims) = shape {
        let total = dims
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .try_fold(1u64, |n, d| n.checked_mul(d.parse::<u64>().ok()?));
        if total.is_none_or(|n| n > file_len) {
            bail!(
                "{}: its header declares shape ({dims}), more values than the file's \
                 {file_len} bytes hold",
                not_npy()
            );
        }
    }
    file.rewind()?;
    NpyFile::new(BufReader::new(file)).with_context(not_npy)
}

/// An N-dimensional NPY array, as f32 in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Dimensions; the first counts samples.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
    /// True if the file's elements are integers (labels, raw quantized values).
    pub integer: bool,
}

impl Array {
    /// Values per sample (the product of all but the first dimension).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.values[i * n..(i + 1) * n]
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
}

fn read_npy(path: &Path) -> Result<Table> {
    let array = read_array(path)?;
    let [rows, cols] = array.shape[..] else {
        bail!(
            "{}: the array has shape {:?}; it must be 2-D (samples x columns)",
            path.display(),
            array.shape
        );
    };
    Ok(Table {
        rows,
        cols,
        cells: array.values,
        row_word: "row",
        row_names: (0..rows as u64).collect(),
    })
}

/// The largest array an NPZ archive may unpack to (its size is declared, and a small archive
/// can declare a huge one).
const MAX_NPZ_ARRAY_BYTES: u64 = 4 << 30;

/// Reads an NPZ archive (`numpy.savez(path, x=samples, y=labels)`): `x` has the samples along
/// its first dimension, in any shape (the spec's `input` gives it), `y` one label or row of
/// targets per sample. The table's rows are each sample's `x` values then its `y` values.
fn read_npz(path: &Path) -> Result<Table> {
    let (file, _) = open_file(path)?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).with_context(|| {
        format!(
            "{} is not a valid NPZ file (a zip archive of NPY arrays, as numpy.savez writes)",
            path.display()
        )
    })?;
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let mut array = |key: &str| -> Result<Array> {
        let entry_name = format!("{key}.npy");
        let name = format!("{} (array `{key}`)", path.display());
        let mut entry = match archive.by_name(&entry_name) {
            Err(zip::result::ZipError::FileNotFound) => bail!(
                "{} has no array `{key}` (it holds {}): save the samples as `x` and the labels or \
                 targets as `y`, numpy.savez(path, x=..., y=...)",
                path.display(),
                names.join(", ")
            ),
            entry => entry.with_context(|| format!("cannot read {name}"))?,
        };
        let size = entry.size();
        ensure!(
            size <= MAX_NPZ_ARRAY_BYTES,
            "{name} unpacks to {size} bytes, more than the {MAX_NPZ_ARRAY_BYTES} allowed"
        );
        // Reserved up to 64 MiB: the declared size is not trusted until the bytes arrive.
        let mut bytes = Vec::with_capacity(usize::try_from(size.min(64 << 20))?);
        // One byte more than declared reveals an archive that lies about the size; the
        // reader checks the CRC at the end.
        (&mut entry)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {name}: the archive is corrupt"))?;
        ensure!(
            bytes.len() as u64 == size,
            "{name}: {} bytes, but the archive declares {size}: it is corrupt",
            bytes.len()
        );
        parse_array(Cursor::new(bytes), size, &name)
    };
    let (x, y) = (array("x")?, array("y")?);
    ensure!(
        x.samples() == y.samples(),
        "{}: `x` has {} samples and `y` {}; they need one label or target row per sample",
        path.display(),
        x.samples(),
        y.samples()
    );
    ensure!(
        y.shape.len() <= 2,
        "{}: `y` has shape {:?}; it must be [samples] or [samples, targets]",
        path.display(),
        y.shape
    );
    let rows = x.samples();
    let cells = (0..rows)
        .flat_map(|i| x.sample(i).iter().chain(y.sample(i)).copied())
        .collect();
    Ok(Table {
        rows,
        cols: x.sample_len() + y.sample_len(),
        cells,
        row_word: "sample",
        row_names: (0..rows as u64).collect(),
    })
}

/// Reads an NPY array of any numeric type and at least one dimension (the samples).
///
/// # Errors
/// A file that is not NPY, an empty, truncated or non-numeric array, a Fortran-order array of
/// more than two dimensions, or a value that is not finite.
pub fn read_array(path: &Path) -> Result<Array> {
    let (file, file_len) = open_file(path)?;
    parse_array(file, file_len, &path.display().to_string())
}

fn open_file(path: &Path) -> Result<(File, u64)> {
    let file =
        File::open(path).with_context(|| format!("cannot read data file {}", path.display()))?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

/// [`read_array`] of an NPY file of `file_len` bytes read from `file` (`name` in messages).
fn parse_array<R: Read + Seek>(file: R, file_len: u64, name: &str) -> Result<Array> {
    let npy = open_npy(file, file_len, name)?;
    let shape = npy.shape().to_vec();
    let (rows, cols) = match shape[..] {
        [] => (1, 1),
        [rows, ..] => (
            rows,
            shape[1..]
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .unwrap_or(u64::MAX),
        ),
    };
    if rows == 0 || cols == 0 {
        bail!("{name} is empty (shape {shape:?}): it needs one sample per row");
    }
    let order = npy.order();
    let dtype = npy.dtype();
    // The declared shape must fit the bytes the file really has before anything is allocated.
    let item = dtype.num_bytes().unwrap_or(1).max(1) as u64;
    let fits = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(item))
        .is_some_and(|bytes| bytes <= file_len);
    if !fits {
        bail!(
            "{name}: the header declares shape {shape:?}, more values than the file's \
             {file_len} bytes hold: the file is truncated or corrupt"
        );
    }
    let (rows, cols) = (usize::try_from(rows)?, usize::try_from(cols)?);
    let unsupported = || {
        format!(
            "{name}: unsupported dtype {}; use a float (f4, f8) or integer (i1..i8, u1..u8) array",
            dtype_name(&dtype)
        )
    };
    let DType::Plain(ty) = &dtype else {
        bail!(unsupported());
    };
    let read_error = || format!("cannot read the data of {name}");
    // Values are converted to f32 like the CSV path does; the `as` casts are the intended rounding.
    let cells: Vec<f32> = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().with_context(read_error)?,
        (TypeChar::Float, 8) => {
            convert(npy.into_vec::<f64>(), |v| v as f32).with_context(read_error)?
        }
        (TypeChar::Int, 1) => convert(npy.into_vec::<i8>(), f32::from).with_context(read_error)?,
        (TypeChar::Int, 2) => convert(npy.into_vec::<i16>(), f32::from).with_context(read_error)?,
        (TypeChar::Int, 4) => {
            convert(npy.into_vec::<i32>(), |v| v as f32).with_context(read_error)?
        }
        (TypeChar::Int, 8) => {
            convert(npy.into_vec::<i64>(), |v| v as f32).with_context(read_error)?
        }
        (TypeChar::Uint, 1) => convert(npy.into_vec::<u8>(), f32::from).with_context(read_error)?,
        (TypeChar::Uint, 2) => {
            convert(npy.into_vec::<u16>(), f32::from).with_context(read_error)?
        }
        (TypeChar::Uint, 4) => {
            convert(npy.into_vec::<u32>(), |v| v as f32).with_context(read_error)?
        }
        (TypeChar::Uint, 8) => {
            convert(npy.into_vec::<u64>(), |v| v as f32).with_context(read_error)?
        }
        _ => bail!(unsupported()),
    };
    if cells.len() != rows * cols {
        bail!(
            "{name}: the file is truncated ({} of {} values)",
            cells.len(),
            rows * cols
        );
    }
    let cells = match order {
        Order::C => cells,
        // Fortran order stores columns contiguously: transpose to the row-major layout.
        Order::Fortran if shape.len() <= 2 => (0..rows * cols)
            .map(|i| cells[(i % cols) * rows + i / cols])
            .collect(),
        Order::Fortran => bail!(
            "{name}: a Fortran-order array of {} dimensions is not supported; save it in C order",
            shape.len()
        ),
    };
    if let Some(i) = cells.iter().position(|v| !v.is_finite()) {
        bail!(
            "{name} sample {}, value {}: not a finite number",
            i / cols,
            i % cols + 1
        );
    }
    Ok(Array {
        shape: shape.iter().map(|&d| d as usize).collect(),
        values: cells,
        integer: !matches!(ty.type_char(), TypeChar::Float),
    })
}

fn convert<T>(values: std::io::Result<Vec<T>>, f: impl Fn(T) -> f32) -> std::io::Result<Vec<f32>> {
    values.map(|v| v.into_iter().map(f).collect())
}

fn dtype_name(dtype: &DType) -> String {
    match dtype {
        DType::Plain(ty) => ty.to_string(),
        DType::Array(..) => "(sub-array)".into(),
        DType::Record(_) => "(structured record)".into(),
    }
}

/// Splits the table's columns into features and targets and checks class labels.
fn to_dataset(spec: &Spec, path: &Path, table: Table) -> Result<Dataset> {
    let targets = spec.data.target_columns;
    if table.cols <= targets {
        bail!(
            "{}: {} columns, but `data.target_columns` = {targets} leaves no feature column; \
             each row needs the features followed by {targets} target column(s)",
            path.display(),
            table.cols
        );
    }
    let features = table.cols - targets;
    let mut ds = Dataset {
        features,
        targets,
        x: Vec::with_capacity(table.rows * features),
        y: Vec::with_capacity(table.rows * targets),
        clips: Vec::new(),
        labels: Vec::new(),
    };
    for (row, name) in table.cells.chunks_exact(table.cols).zip(&table.row_names) {
        ds.x.extend_from_slice(&row[..features]);
        ds.y.extend_from_slice(&row[features..]);
        if spec.task == Task::Classification {
            let classes = spec.data.classes.unwrap_or(0);
            let label = row[features];
            if label.fract() != 0.0 || label < 0.0 || label >= classes as f32 {
                bail!(
                    "{} {} {name}: class label {label} (last column) is not an integer in 0..{classes}",
                    path.display(),
                    table.row_word
                );
            }
        }
    }
    Ok(ds)
}

/// Shuffles the samples with a seeded PRNG and holds out `test_fraction` of them: returns
/// `(train, test)`. The same data and seed always give the same split. The test part is rounded
/// to the nearest sample but never takes the last training sample.
pub fn split(ds: &Dataset, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let n = ds.len();
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    // Rounding a fraction of a sample count: the cast cannot lose anything that matters.
    let n_test =
        ((n as f64 * test_fraction.clamp(0.0, 1.0)).round() as usize).min(n.saturating_sub(1));
    let (test, train) = order.split_at(n_test);
    (ds.select(train), ds.select(test))
}

/// A tiny, well-mixed PRNG (SplitMix64): reproducible everywhere without a `rand` dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)` (`n > 0`); the modulo bias is negligible for data-set sizes.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)` with 24 random bits, exactly representable as f32.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller, one of the pair).
    pub fn normal_f32(&mut self) -> f32 {
        // 1 - u is in (0, 1]: the logarithm stays finite.
        let radius = (-2.0 * (1.0 - self.unit_f32()).ln()).sqrt();
        radius * (std::f32::consts::TAU * self.unit_f32()).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A 2-D table of numbers read from a CSV or NPY file, for inputs to `mote run`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Rows in the file.
    pub rows: usize,
    /// Columns per row.
    pub cols: usize,
    /// Row-major values.
    pub cells: Vec<f32>,
    /// The values themselves when the file is an int8 NPY array: already quantized.
    pub int8: Option<Vec<i8>>,
}

/// Reads a CSV (no header) or NPY (by extension) table of numbers; an NPY array of more than
/// two dimensions gives one row per entry of its first.
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        let table = read_csv(path)?;
        return Ok(Matrix {
            rows: table.rows,
            cols: table.cols,
            cells: table.cells,
            int8: None,
        });
    }
    // An NPY array of any rank: one sample per entry of its first dimension.
    let array = read_array(path)?;
    let int8 = if npy_is_int8(path)? {
        Some(array.values.iter().map(|&v| v as i8).collect())
    } else {
        None
    };
    Ok(Matrix {
        rows: array.samples(),
        cols: array.sample_len(),
        cells: array.values,
        int8,
    })
}

fn npy_is_int8(path: &Path) -> Result<bool> {
    let (file, len) = open_file(path)?;
    let npy = open_npy(file, len, &path.display().to_string())?;
    Ok(
        matches!(npy.dtype(), DType::Plain(ty) if ty.type_char() == TypeChar::Int && ty.size_field() == 1),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use super::*;

    fn spec_for(file: &Path, task: &str, classes: Option<usize>, target_columns: usize) -> Spec {
        let (task_line, classes_line, units) = match (task, classes) {
            ("classification", Some(c)) => ("classification", format!("classes = {c}"), c),
            _ => ("regression", String::new(), target_columns),
        };
        let text = format!(
            r#"
name = "t"
task = "{task_line}"
layers = [{{ kind = "dense", units = {units} }}]
[data]
file = "{}"
target_columns = {target_columns}
{classes_line}
test_fraction = 0.2
split_seed = 1
[training]
epochs = 1
batch_size = 1
learning_rate = 0.01
seed = 1
"#,
            file.file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
        );
        let dir = file.parent().unwrap_or(Path::new("."));
        let spec_path = dir.join("spec.toml");
        std::fs::write(&spec_path, text).expect("write spec");
        Spec::load(&spec_path).expect("valid test spec")
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        let mut f = File::create(&path).expect("create");
        f.write_all(bytes).expect("write");
        path
    }

    /// A minimal NPY v1.0 file: `descr` like `<f4`, data as little-endian bytes.
    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(
            &u16::try_from(header.len())
                .expect("short header")
                .to_le_bytes(),
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn load_err(spec: &Spec) -> String {
        format!("{:#}", load(spec).expect_err("load should fail"))
    }

    #[test]
    fn csv_regression_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "d.csv", b"1, 2, 0.5\n3,4,-1.5\n");
        let ds = load(&spec_for(&path, "regression", None, 1)).expect("load");
        assert_eq!((ds.features, ds.targets, ds.len()), (2, 1, 2));
        assert_eq!(ds.sample(1), (&[3.0, 4.0][..], &[-1.5][..]));
    }

    #[test]
    fn csv_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "d.csv", b"1,2,0\n3,4\n");
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(
            err.contains("d.csv line 2: 2 columns, but the first line has 3"),
            "{err}"
        );

        let path = write(&dir, "d.csv", b"1,2,0\n3,x,1\n");
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(
            err.contains("line 2, column 2: `x` is not a finite number"),
            "{err}"
        );

        let path = write(&dir, "d.csv", b"");
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(err.contains("is empty"), "{err}");

        let path = write(&dir, "d.csv", b"1,2\n");
        let err = load_err(&spec_for(&path, "regression", None, 2));
        assert!(err.contains("leaves no feature column"), "{err}");

        let path = write(&dir, "d.csv", b"1,2,0\n3,4,3\n");
        let err = load_err(&spec_for(&path, "classification", Some(3), 1));
        assert!(
            err.contains("d.csv line 2: class label 3 (last column) is not an integer in 0..3"),
            "{err}"
        );

        let path = write(&dir, "d.csv", b"1,2,0.5\n");
        let err = load_err(&spec_for(&path, "classification", Some(3), 1));
        assert!(err.contains("line 1: class label 0.5"), "{err}");

        let err = load_err(&spec_for(
            &dir.path().join("missing.csv"),
            "regression",
            None,
            1,
        ));
        assert!(err.contains("cannot read data file"), "{err}");
    }

    #[test]
    fn npy_dtypes_and_orders_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f4: Vec<u8> = [1.0f32, 2.0, 0.0, 3.0, 4.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = write(&dir, "d.npy", &npy_bytes("<f4", false, "(2, 3)", &f4));
        let ds = load(&spec_for(&path, "classification", Some(2), 1)).expect("f4");
        assert_eq!(ds.x, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ds.y, [0.0, 1.0]);

        let f8: Vec<u8> = [1.0f64, 2.0, 0.0, 3.0, 4.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = write(&dir, "d.npy", &npy_bytes("<f8", false, "(2, 3)", &f8));
        assert_eq!(
            load(&spec_for(&path, "classification", Some(2), 1)).expect("f8"),
            ds
        );

        let u1 = [1u8, 2, 0, 3, 4, 1];
        let path = write(&dir, "d.npy", &npy_bytes("|u1", false, "(2, 3)", &u1));
        assert_eq!(
            load(&spec_for(&path, "classification", Some(2), 1)).expect("u1"),
            ds
        );

        let i8s: Vec<u8> = [1i64, 3, 2, 4, 0, 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = write(&dir, "d.npy", &npy_bytes("<i8", true, "(2, 3)", &i8s));
        assert_eq!(
            load(&spec_for(&path, "classification", Some(2), 1)).expect("fortran i8"),
            ds
        );
    }

    #[test]
    fn npy_errors_are_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f4: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = write(&dir, "d.npy", &npy_bytes("<f4", false, "(3,)", &f4));
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(err.contains("shape [3]; it must be 2-D"), "{err}");

        let path = write(&dir, "d.npy", &npy_bytes("<c8", false, "(1, 1)", &[0; 8]));
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(err.contains("unsupported dtype <c8"), "{err}");

        let path = write(&dir, "d.npy", &npy_bytes("<f4", false, "(1, 1)", &f4[..4]));
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(err.contains("leaves no feature column"), "{err}");

        let path = write(&dir, "d.npy", b"not numpy");
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(err.contains("is not a valid NPY file"), "{err}");

        let path = write(&dir, "d.npy", &npy_bytes("<f4", false, "(2, 2)", &f4[..8]));
        let err = load_err(&spec_for(&path, "regression", None, 1));
        assert!(
            err.contains("cannot read the data") || err.contains("truncated"),
            "{err}"
        );

        let i4: Vec<u8> = [1i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let path = write(&dir, "d.npy", &npy_bytes("<i4", false, "(1, 2)", &i4));
        let err = load_err(&spec_for(&path, "classification", Some(3), 1));
        assert!(err.contains("d.npy row 0: class label 7"), "{err}");
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// Archives numpy wrote (`tests/data/make_npz.py`): deflated and stored, any `x` shape,
    /// `y` as a vector or a column.
    #[test]
    fn npz_archives_from_numpy_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, x) in [
            (
                "tiny_compressed.npz",
                (0..12).map(|v| v as f32 / 4.0).collect::<Vec<_>>(),
            ),
            (
                "tiny_stored.npz",
                (0..12).map(|v| (v / 4) as f32).collect::<Vec<_>>(),
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::copy(fixture(name), &path).expect("copy fixture");
            let ds = load(&spec_for(&path, "classification", Some(3), 1)).expect(name);
            assert_eq!((ds.features, ds.targets, ds.len()), (4, 1, 3), "{name}");
            assert_eq!(ds.x, x, "{name}");
            assert_eq!(ds.y, [2.0, 0.0, 1.0], "{name}");
        }
    }

    /// An archive written here, `entries` of (name, NPY bytes); `deflate` or stored.
    fn npz_bytes(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        for (name, bytes) in entries {
            let options = zip::write::FileOptions::default().compression_method(method);
            zip.start_file(*name, options).expect("entry");
            zip.write_all(bytes).expect("write entry");
        }
        zip.finish().expect("finish").into_inner()
    }

    #[test]
    fn npz_errors_are_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f4 =
            |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let x = npy_bytes("<f4", false, "(2, 2)", &f4(&[1.0, 2.0, 3.0, 4.0]));
        let y = npy_bytes("<f4", false, "(3,)", &f4(&[0.0, 1.0, 0.0]));
        let spec =
            |bytes: &[u8]| spec_for(&write(&dir, "d.npz", bytes), "classification", Some(2), 1);

        let err = load_err(&spec(&npz_bytes(&[("x.npy", x.clone())], true)));
        assert!(err.contains("has no array `y` (it holds x.npy)"), "{err}");

        let err = load_err(&spec(&npz_bytes(
            &[("x.npy", x.clone()), ("y.npy", y)],
            true,
        )));
        assert!(err.contains("`x` has 2 samples and `y` 3"), "{err}");

        let err = load_err(&spec(b"PK\x03\x04 not really"));
        assert!(err.contains("is not a valid NPZ file"), "{err}");

        // A flipped byte in a stored entry fails its CRC; a cut archive has no directory.
        let y = npy_bytes("<f4", false, "(2,)", &f4(&[0.0, 1.0]));
        let good = npz_bytes(&[("x.npy", x.clone()), ("y.npy", y)], false);
        assert!(load(&spec(&good)).is_ok());
        let at = good
            .windows(4)
            .position(|w| w == 2.0f32.to_le_bytes())
            .expect("x's 2.0");
        let mut flipped = good.clone();
        flipped[at + 3] ^= 0x40;
        let err = load_err(&spec(&flipped));
        assert!(err.contains("the archive is corrupt"), "{err}");
        let err = load_err(&spec(&good[..good.len() - 30]));
        assert!(err.contains("is not a valid NPZ file"), "{err}");

        let bad = npy_bytes("<f4", false, "(2, 2)", &f4(&[1.0, f32::NAN, 3.0, 4.0]));
        let y = npy_bytes("<f4", false, "(2,)", &f4(&[0.0, 1.0]));
        let err = load_err(&spec(&npz_bytes(&[("x.npy", bad), ("y.npy", y)], true)));
        assert!(
            err.contains("d.npz (array `x`) sample 0, value 2: not a finite"),
            "{err}"
        );
    }

    fn numbered(n: usize) -> Dataset {
        Dataset {
            features: 2,
            targets: 1,
            x: (0..n * 2).map(|v| v as f32).collect(),
            y: (0..n).map(|v| v as f32).collect(),
            clips: Vec::new(),
            labels: Vec::new(),
        }
    }

    #[test]
    fn split_is_deterministic_and_complete() {
        let ds = numbered(100);
        let (train, test) = split(&ds, 0.2, 7);
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(split(&ds, 0.2, 7), (train.clone(), test.clone()));
        assert_ne!(
            split(&ds, 0.2, 8).1,
            test,
            "another seed gives another split"
        );

        let mut seen: Vec<f32> = train.y.iter().chain(&test.y).copied().collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, ds.y, "every sample lands in exactly one part");
        for i in 0..test.len() {
            let (x, y) = test.sample(i);
            assert_eq!(x, [y[0] * 2.0, y[0] * 2.0 + 1.0], "rows stay intact");
        }
        assert_eq!(
            split(&numbered(1), 0.5, 1).0.len(),
            1,
            "train keeps at least one sample"
        );
    }
}
