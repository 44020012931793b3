//! Sound for keyword spotters: WAV files, a data folder of them labelled by subfolder
//! (`<label>/<clip>.wav`), read one clip at a time, and the features the device computes from
//! them: the runtime's own AUDIO_FRONTEND kernel, so training sees the device's bytes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use mote::kernels::reference::audio::{self, CHANNELS, SAMPLE_RATE};

/// Samples of a keyword clip: one second.
pub const CLIP_SAMPLES: usize = SAMPLE_RATE as usize;

/// The samples of a WAV file: 16-bit integer PCM, one channel, at the front end's rate;
/// anything else is refused with what to do.
pub fn read_pcm(path: &Path) -> Result<Vec<i16>> {
    let reader = hound::WavReader::open(path)
        .with_context(|| format!("{} is not a readable WAV file", path.display()))?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
        || spec.sample_rate != SAMPLE_RATE
    {
        bail!(
            "{}: {} Hz, {} channel(s), {}-bit {:?}; mote takes {SAMPLE_RATE} Hz mono 16-bit \
             integer PCM (convert it, e.g. `sox in.wav -r {SAMPLE_RATE} -c 1 -b 16 out.wav`)",
            path.display(),
            spec.sample_rate,
            spec.channels,
            spec.bits_per_sample,
            spec.sample_format
        );
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: truncated or damaged", path.display()))
}

/// A clip of [`CLIP_SAMPLES`]: the file's samples, silence after a shorter one.
pub fn read_clip(path: &Path) -> Result<Vec<i16>> {
    let mut pcm = read_pcm(path)?;
    ensure!(
        pcm.len() <= CLIP_SAMPLES,
        "{}: {} samples, longer than a clip of {CLIP_SAMPLES} (1 s): cut it to the word",
        path.display(),
        pcm.len()
    );
    pcm.resize(CLIP_SAMPLES, 0);
    Ok(pcm)
}

/// The int8 log-mel features of `pcm`, `[frames][CHANNELS]`, as the device computes them.
pub fn features(pcm: &[i16]) -> Vec<i8> {
    let bytes: Vec<[u8; 2]> = pcm.iter().map(|s| s.to_le_bytes()).collect();
    let mut out = vec![0i8; audio::frames(pcm.len()) * CHANNELS];
    let mut fft = vec![0i32; audio::SCRATCH_I32];
    audio::log_mel(&bytes, &mut out, &mut fft);
    out
}

/// A labelled data folder: the clips' paths, in a fixed order, not their samples (a clip is
/// read when it is used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clips {
    /// Class names: the subfolders, sorted.
    pub labels: Vec<String>,
    /// Every clip and its class (an index into `labels`), by class, then by file name.
    pub clips: Vec<(PathBuf, usize)>,
}

impl Clips {
    /// The clips of `dir/<label>/*.wav`. With `labels`, the subfolders must be exactly those
    /// (a split has the classes the model was built for, in its order).
    pub fn scan(dir: &Path, labels: Option<&[String]>) -> Result<Clips> {
        let mut found = Vec::new();
        for entry in read_dir(dir)? {
            let name = entry
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            ensure!(
                entry.is_dir(),
                "{}: the data folder holds one folder per class (<label>/<clip>.wav), not files",
                entry.display()
            );
            found.push(name);
        }
        found.sort();
        let labels = match labels {
            Some(wanted) => {
                if let Some(extra) = found.iter().find(|f| !wanted.contains(f)) {
                    bail!(
                        "{}: class {extra:?} is not one of the model's ({})",
                        dir.display(),
                        wanted.join(", ")
                    );
                }
                if let Some(missing) = wanted.iter().find(|w| !found.contains(w)) {
                    bail!("{}: no folder for class {missing:?}", dir.display());
                }
                wanted.to_vec()
            }
            None => found,
        };
        ensure!(!labels.is_empty(), "{}: no class folders", dir.display());
        let mut clips = Vec::new();
        for (class, label) in labels.iter().enumerate() {
            let folder = dir.join(label);
            let mut files = Vec::new();
            for path in read_dir(&folder)? {
                ensure!(
                    path.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("wav")),
                    "{}: not a .wav file (a class folder holds clips only)",
                    path.display()
                );
                files.push(path);
            }
            ensure!(
                !files.is_empty(),
                "{}: class {label:?} has no clips",
                folder.display()
            );
            files.sort();
            clips.extend(files.into_iter().map(|f| (f, class)));
        }
        Ok(Clips { labels, clips })
    }
}

/// A folder's entries, hidden ones left out.
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read the folder {}", dir.display()))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            paths.push(entry.path());
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(path: &Path, rate: u32, samples: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for n in 0..samples {
            w.write_sample(((n as f64 * 0.2).sin() * 3_000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn a_folder_of_clips_by_class() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        wav(&root.join("yes/b.wav"), SAMPLE_RATE, 16_000);
        wav(&root.join("yes/a.wav"), SAMPLE_RATE, 12_000);
        wav(&root.join("no/c.wav"), SAMPLE_RATE, 16_000);
        std::fs::write(root.join("yes/.DS_Store"), b"").unwrap();
        let clips = Clips::scan(root, None).unwrap();
        assert_eq!(clips.labels, ["no", "yes"]);
        let names: Vec<(String, usize)> = clips
            .clips
            .iter()
            .map(|(p, c)| (p.file_name().unwrap().to_string_lossy().into_owned(), *c))
            .collect();
        assert_eq!(
            names,
            [
                ("c.wav".into(), 0),
                ("a.wav".into(), 1),
                ("b.wav".into(), 1)
            ]
        );
        // A short clip is padded with silence; its features are the kernel's.
        let pcm = read_clip(&root.join("yes/a.wav")).unwrap();
        assert_eq!(pcm.len(), CLIP_SAMPLES);
        assert!(pcm[12_000..].iter().all(|&s| s == 0));
        let f = features(&pcm);
        assert_eq!(f.len(), 49 * CHANNELS);
        assert!(f[..CHANNELS].iter().any(|&x| x > -128));
        assert!(f[48 * CHANNELS..].iter().all(|&x| x == -128));
        // Given the model's classes, the folder must have exactly those, in the model's order.
        let order = ["yes".to_string(), "no".to_string()];
        assert_eq!(Clips::scan(root, Some(&order)).unwrap().labels, order);
        let other = ["yes".to_string(), "no".to_string(), "up".to_string()];
        let err = Clips::scan(root, Some(&other)).unwrap_err().to_string();
        assert!(err.contains("no folder for class \"up\""), "{err}");
    }

    #[test]
    fn bad_folders_and_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("go")).unwrap();
        wav(&root.join("stop/a.wav"), SAMPLE_RATE, 100);
        let err = format!("{:#}", Clips::scan(root, None).unwrap_err());
        assert!(err.contains("class \"go\" has no clips"), "{err}");
        wav(&root.join("go/a.wav"), 44_100, 100);
        let clips = Clips::scan(root, None).unwrap();
        let err = format!("{:#}", read_clip(&clips.clips[0].0).unwrap_err());
        assert!(
            err.contains("go/a.wav") && err.contains("44100 Hz"),
            "{err}"
        );
        wav(&root.join("stop/long.wav"), SAMPLE_RATE, 20_000);
        let err = format!("{:#}", read_clip(&root.join("stop/long.wav")).unwrap_err());
        assert!(err.contains("20000 samples"), "{err}");
        std::fs::write(root.join("stop/notes.txt"), b"x").unwrap();
        let err = format!("{:#}", Clips::scan(root, None).unwrap_err());
        assert!(err.contains("notes.txt: not a .wav file"), "{err}");
        std::fs::write(root.join("README"), b"x").unwrap();
        let err = format!("{:#}", Clips::scan(root, None).unwrap_err());
        assert!(err.contains("one folder per class"), "{err}");
    }
}
