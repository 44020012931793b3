#!/usr/bin/env bash
# make_data.sh - deterministic synthetic "Speech Commands"-like keyword-spotting data set.
#
#   SEED = 20250612   (the only source of randomness; see rnd() in the awk planner below)
#
# Usage:
#   bash models/kws_speech/make_data.sh OUT_DIR [--small] [--jobs 1|2]
#
# Writes OUT_DIR/<split>/<label>/<speaker>_<word>_<k>.wav with split in {train, validation, test};
# every clip is a 16 kHz, mono, signed 16-bit PCM WAV of exactly 16000 samples (1.0 s).
# Labels: yes no up down left right on off stop go, _unknown_ (20 other words), _silence_
# (background noise only). A speaker is an espeak-ng English accent combined with an espeak-ng
# voice variant ("en-us+m3"). Splits are made by voice variant, so every speaker (and every
# timbre) of validation/test is absent from train. Also writes OUT_DIR/speakers.tsv (speaker ->
# split) and OUT_DIR/manifest.tsv (every clip with all of its synthesis parameters).
#
# Needs only bash, coreutils, awk, espeak-ng and sox (Debian: apt-get install -y espeak-ng sox).
# Randomness: a MINSTD linear congruential generator (x = x * 48271 mod 2^31-1) written out in
# awk, so mawk and gawk give the same numbers; sox always runs with -R (repeatable) and -D (no
# dither). The same seed and the same espeak-ng/sox versions give byte-identical files,
# independent of --jobs. The output is built in OUT_DIR.tmp-XXXX and renamed to OUT_DIR at the end.
# See models/kws_speech/DATA.md for the measured counts, time, size and provenance.
set -euo pipefail
export LC_ALL=C

SEED=20250612

# English accents (espeak-ng --voices=en). "en" is British English: in espeak-ng 1.51 the name
# "en-gb+VARIANT" silently drops the variant, "en+VARIANT" does not (checked below).
ACCENTS="en en-us en-gb-scotland en-gb-x-gbclan en-gb-x-gbcwmd en-gb-x-rp en-029 en-us-nyc"
# Voice variants (espeak-ng --voices=variant), NAME:GENDER. Chosen for intelligible English;
# novelty/robot/whisper variants and near-duplicates are left out (see DATA.md).
VARIANTS="m1:M m2:M m3:M m4:M m5:M m6:M m7:M m8:M croak:M klatt:M klatt4:M edward:M Denis:M Henrique:M
f1:F f2:F f3:F f4:F f5:F anika:F aunty:F"
KEYWORDS="yes no up down left right on off stop go"
UNKNOWN_WORDS="bed bird cat dog house tree wow happy marvin sheila zero one two three four five six seven eight nine"

die() { echo "make_data.sh: error: $*" >&2; exit 1; }

usage() { echo "usage: bash models/kws_speech/make_data.sh OUT_DIR [--small] [--jobs 1|2]" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Arguments
OUT=""; SMALL=0; JOBS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=1 ;;
    --jobs) [ $# -ge 2 ] || usage; JOBS=$2; shift ;;
    --jobs=*) JOBS=${1#--jobs=} ;;
    -h|--help) usage ;;
    -*) echo "make_data.sh: unknown option: $1" >&2; usage ;;
    *) [ -z "$OUT" ] || usage; OUT=$1 ;;
  esac
  shift
done
[ -n "$OUT" ] || usage
case "$JOBS" in 1|2) ;; *) die "--jobs must be 1 or 2" ;; esac
OUT=${OUT%/}
[ -n "$OUT" ] || die "OUT_DIR must not be /"
if [ -e "$OUT" ] || [ -L "$OUT" ]; then
  die "$OUT already exists; refusing to overwrite it (remove it or choose another OUT_DIR)"
fi

if [ "$SMALL" = 1 ]; then
  MODE=small; N_REND=2; N_UNK=2; N_SIL=2
else
  MODE=full; N_REND=6; N_UNK=7; N_SIL=7
fi

# ---------------------------------------------------------------------------------------------
# Tools
command -v espeak-ng >/dev/null 2>&1 || die "espeak-ng not found: install the Debian package 'espeak-ng' (apt-get install -y espeak-ng)"
command -v sox >/dev/null 2>&1 || die "sox not found: install the Debian package 'sox' (apt-get install -y sox)"
for t in awk sed grep cmp stat mktemp find du date; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (needs coreutils, diffutils, findutils, grep, sed and awk)"
done
ESPEAK_VERSION=$(espeak-ng --version 2>/dev/null | sed -n 's/.*text-to-speech: \([^ ]*\).*/\1/p')
SOX_VERSION=$(sox --version 2>/dev/null | sed -n 's/.*SoX v\([^ ]*\).*/\1/p')
if [ "$ESPEAK_VERSION" != "1.51" ] || [ "$SOX_VERSION" != "14.4.2" ]; then
  echo "make_data.sh: warning: espeak-ng '$ESPEAK_VERSION' / sox '$SOX_VERSION' differ from the" \
       "versions DATA.md was made with (1.51 / 14.4.2): the files will not be byte-identical to it" >&2
fi

# Every accent and variant must exist: espeak-ng silently falls back to a default voice otherwise.
EN_VOICES=$(espeak-ng --voices=en | awk 'NR > 1 { print $2 }')
VAR_FILES=$(espeak-ng --voices=variant | sed -n 's#.*!v/\([^ ]*\).*#\1#p')
for a in $ACCENTS; do
  [ "$a" = en ] && continue
  grep -qx -- "$a" <<< "$EN_VOICES" || die "espeak-ng has no English voice '$a' (espeak-ng --voices=en)"
done
for vg in $VARIANTS; do
  v=${vg%%:*}
  grep -qx -- "$v" <<< "$VAR_FILES" || die "espeak-ng has no voice variant '$v' (espeak-ng --voices=variant)"
done

# ---------------------------------------------------------------------------------------------
# Temporary output directory (renamed to OUT at the very end)
TMP=$(mktemp -d "$OUT.tmp-XXXX") || die "cannot create a temporary directory next to $OUT"
WORK="$TMP/.work"
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  if [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
    # Stop our own background workers, if any are left.
    for p in ${WORKER_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    for p in ${WORKER_PIDS:-}; do wait "$p" 2>/dev/null || true; done
    # A worker's last espeak-ng/sox may still be finishing: retry once.
    rm -rf -- "$TMP" 2>/dev/null || { sleep 1; rm -rf -- "$TMP"; }
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START_TS=$(date +%s)
echo "make_data.sh: mode=$MODE seed=$SEED jobs=$JOBS espeak-ng=$ESPEAK_VERSION sox=$SOX_VERSION -> $OUT"

# Check that "accent+variant" really changes the voice for every accent (see the note on en-gb).
for a in $ACCENTS; do
  espeak-ng -v "$a+m3" -w "$WORK/chk1.wav" "seven." 2>/dev/null || die "espeak-ng failed for voice $a+m3"
  espeak-ng -v "$a+f2" -w "$WORK/chk2.wav" "seven." 2>/dev/null || die "espeak-ng failed for voice $a+f2"
  if cmp -s "$WORK/chk1.wav" "$WORK/chk2.wav"; then
    die "espeak-ng ignores the variant in '$a+VARIANT' (all variants sound the same)"
  fi
done

# ---------------------------------------------------------------------------------------------
# Background-noise beds: 30 s each at 16 kHz, scaled to an RMS of -20 dBFS. Clips take 1 s
# windows from them: train from 0-20 s, validation from 20-25 s, test from 25-30 s.
SR=16000
BED_SECONDS=30
BEDS="white pink brown hum50 hum60 fan"
mkdir -p "$WORK/beds"
SOX_RAW="-t raw -r $SR -e signed -b 16 -c 1"
make_bed() {   # name
  local b=$1 f="$WORK/beds/$1.raw" g
  case "$b" in
    white) sox -R -D -V1 -n $SOX_RAW "$f.0" synth $BED_SECONDS whitenoise ;;
    pink)  sox -R -D -V1 -n $SOX_RAW "$f.0" synth $((BED_SECONDS + 3)) pinknoise trim 3 ;;
    brown) sox -R -D -V1 -n $SOX_RAW "$f.0" synth $((BED_SECONDS + 7)) brownnoise trim 7 highpass 20 ;;
    fan)   # low rumble with a slow beat, plus a broadband hiss 20 dB down
      sox -R -D -V1 -n $SOX_RAW "$f.t" synth $((BED_SECONDS + 11)) pinknoise trim 11 sinc 60-1200 tremolo 0.7 15
      sox -R -D -V1 -n $SOX_RAW "$f.n" synth $((BED_SECONDS + 13)) whitenoise trim 13 vol 0.1
      sox -R -D -V1 -m $SOX_RAW "$f.t" $SOX_RAW "$f.n" $SOX_RAW "$f.0"
      rm -f "$f.t" "$f.n" ;;
    hum50|hum60)
      local hz=${b#hum}
      sox -R -D -V1 -n $SOX_RAW "$f.t" synth $BED_SECONDS sine "$hz" overdrive 20 highpass 40 vol 0.3
      sox -R -D -V1 -n $SOX_RAW "$f.n" synth $((BED_SECONDS + 5 + hz / 10)) pinknoise trim $((5 + hz / 10)) vol 0.1
      sox -R -D -V1 -m $SOX_RAW "$f.t" $SOX_RAW "$f.n" $SOX_RAW "$f.0"
      rm -f "$f.t" "$f.n" ;;
  esac
  # Scale to RMS -20 dBFS.
  g=$(sox $SOX_RAW "$f.0" -n stats 2>&1 | awk '/^RMS lev dB/ { printf "%.3f", -20 - $4 }')
  [ -n "$g" ] || die "cannot measure noise bed $b"
  sox -R -D -V1 $SOX_RAW "$f.0" $SOX_RAW "$f" gain "$g"
  rm -f "$f.0"
}
for b in $BEDS; do make_bed "$b"; done

# ---------------------------------------------------------------------------------------------
# Plan: one line per clip with every parameter, drawn from the seeded generator.
awk -v seed="$SEED" -v mode="$MODE" -v accents="$ACCENTS" -v variants="$(echo $VARIANTS)" \
    -v keywords="$KEYWORDS" -v unknown="$UNKNOWN_WORDS" -v beds="$BEDS" \
    -v n_rend="$N_REND" -v n_unk="$N_UNK" -v n_sil="$N_SIL" \
    -v sr="$SR" -v bed_seconds="$BED_SECONDS" \
    -v plan="$WORK/plan.tsv" -v speakers="$TMP/speakers.tsv" '
# MINSTD (Park-Miller) generator: all products stay below 2^47, exact in double arithmetic,
# so every awk gives the same sequence.
function rnd() { st = (st * 48271) % 2147483647; return st / 2147483647 }   # in (0, 1)
function ri(a, b) { return a + int(rnd() * (b - a + 1)) }                   # integer in [a, b]
function ru(a, b) { return a + rnd() * (b - a) }                            # real in [a, b)
function db2lin(d) { return exp(d * log(10) / 20) }
function shuffle(arr, n,   i, j, t) { for (i = n; i > 1; i--) { j = ri(1, i); t = arr[i]; arr[i] = arr[j]; arr[j] = t } }
function pick_bed() { return bedv[ri(1, nbeds)] }
function bed_start(spl,   lo, hi) {
  if (spl == "train") { lo = 0; hi = 20 } else if (spl == "validation") { lo = 20; hi = 25 } else { lo = 25; hi = 30 }
  if (hi > bed_seconds) die_bed = 1
  return ri(lo * sr, hi * sr - sr)
}
function speech_line(spl, label, spk, word, k,   text, p, s, a, r, sf, hp, lp, rv, rs, g_db, noise, bed, start, n_db, snr, off) {
  # espeak-ng: speed (wpm), pitch (0-99), amplitude, SSML pitch range (%), final punctuation
  s = ri(120, 200); p = ri(20, 80); a = ri(60, 150); r = ri(40, 200)
  u = rnd()
  text = word (u < 0.5 ? "." : (u < 0.7 ? "!" : (u < 0.85 ? "?" : ",")))
  # sox: speed factor (formant/pitch shift), high-pass, optional low-pass, optional reverb
  sf = sprintf("%.3f", ru(0.93, 1.07))
  hp = ri(30, 200)
  lp = (rnd() < 0.3) ? ri(3000, 7000) : 0
  if (rnd() < 0.25) { rv = ri(10, 50); rs = ri(20, 80) } else { rv = 0; rs = 0 }
  # level, position (fraction of the free space before the word, in 1/10000), noise
  g_db = ru(-22, -1)
  off = ri(0, 10000)
  if (rnd() < 0.1) { bed = "-"; start = 0; n_db = -200 }
  else { bed = pick_bed(); start = bed_start(spl); snr = ru(10, 40); n_db = g_db - 12 - snr }
  printf "speech\t%s\t%s\t%s_%s_%d.wav\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%.6f\t%d\t%s\t%d\t%.7f\t%.2f\t%.2f\n", \
    spl, label, spk, word, k, spk, word, text, s, p, a, r, sf, hp, lp, rv, rs, db2lin(g_db), off, bed, start, \
    (bed == "-" ? 0 : db2lin(n_db + 20)), g_db, n_db > plan
}
function silence_line(spl, spk, k,   bed, start, lvl) {
  bed = pick_bed(); start = bed_start(spl)
  u = rnd()
  if (u < 0.15) lvl = ru(-96, -80)          # near-digital silence
  else if (u < 0.5) lvl = ru(-80, -55)      # quiet room
  else lvl = ru(-55, -25)                   # audible noise
  printf "silence\t%s\t_silence_\t%s_%s_%d.wav\t%s\t-\t-\t0\t0\t0\t0\t-\t0\t0\t0\t0\t0\t0\t%s\t%d\t%.7f\t-\t%.2f\n", \
    spl, spk, bed, k, spk, bed, start, db2lin(lvl + 20), lvl > plan
}
BEGIN {
  st = seed % 2147483646 + 1
  for (i = 0; i < 20; i++) rnd()
  nacc = split(accents, acc, " ")
  nkw = split(keywords, kw, " ")
  nunk = split(unknown, unk, " ")
  nbeds = split(beds, bedv, " ")
  nv = split(variants, vv, " ")
  nm = 0; nf = 0
  for (i = 1; i <= nv; i++) {
    split(vv[i], t, ":"); gender[t[1]] = t[2]
    if (t[2] == "M") male[++nm] = t[1]; else female[++nf] = t[1]
  }
  # Split by variant, per gender: ~15% test, ~15% validation (at least one each), rest train.
  shuffle(male, nm); shuffle(female, nf)
  for (gi = 1; gi <= 2; gi++) {
    n = (gi == 1 ? nm : nf)
    nt = int(n * 0.15 + 0.5); if (nt < 1) nt = 1
    for (i = 1; i <= n; i++) {
      v = (gi == 1 ? male[i] : female[i])
      vsplit[v] = (i <= nt ? "test" : (i <= 2 * nt ? "validation" : "train"))
    }
  }
  # Speakers: every accent x every variant (full); a fixed subset of 12 (small).
  nsp = 0
  for (si = 1; si <= 3; si++) {
    sname = (si == 1 ? "train" : (si == 2 ? "validation" : "test"))
    nvs = 0
    for (i = 1; i <= nv; i++) { split(vv[i], t, ":"); if (vsplit[t[1]] == sname) vlist[++nvs] = t[1] }
    if (mode == "small") {
      # train: 8 speakers, validation and test: 2 each; first male and female variants of the
      # split first, accents rotating.
      want = (sname == "train" ? 8 : 2)
      nord = 0
      for (i = 1; i <= nvs; i++) if (gender[vlist[i]] == "M") { ord[++nord] = vlist[i]; break }
      for (i = 1; i <= nvs; i++) if (gender[vlist[i]] == "F") { ord[++nord] = vlist[i]; break }
      for (i = 1; i <= nvs; i++) { dup = 0; for (j = 1; j <= nord; j++) if (ord[j] == vlist[i]) dup = 1; if (!dup) ord[++nord] = vlist[i] }
      for (i = 1; i <= want; i++) {
        v = ord[(i - 1) % nord + 1]
        a = acc[(i * 3 + si) % nacc + 1]
        nsp++; spk_acc[nsp] = a; spk_var[nsp] = v; spk_split[nsp] = sname
      }
    } else {
      for (i = 1; i <= nvs; i++) for (j = 1; j <= nacc; j++) {
        nsp++; spk_acc[nsp] = acc[j]; spk_var[nsp] = vlist[i]; spk_split[nsp] = sname
      }
    }
  }
  print "speaker\taccent\tvariant\tgender\tsplit" > speakers
  for (i = 1; i <= nsp; i++) {
    spk = spk_acc[i] "+" spk_var[i]
    printf "%s\t%s\t%s\t%s\t%s\n", spk, spk_acc[i], spk_var[i], gender[spk_var[i]], spk_split[i] > speakers
    for (w = 1; w <= nkw; w++) for (k = 0; k < n_rend; k++) speech_line(spk_split[i], kw[w], spk, kw[w], k)
    # unknown: n_unk different words per speaker
    for (w = 1; w <= nunk; w++) uw[w] = unk[w]
    shuffle(uw, nunk)
    for (w = 1; w <= n_unk; w++) speech_line(spk_split[i], "_unknown_", spk, uw[w], 0)
    for (k = 0; k < n_sil; k++) silence_line(spk_split[i], spk, k)
  }
  if (die_bed) { print "noise beds too short" > "/dev/stderr"; exit 1 }
}'

NCLIPS=$(awk 'END { print NR }' "$WORK/plan.tsv")
echo "make_data.sh: $(($(awk 'END { print NR }' "$TMP/speakers.tsv") - 1)) speakers, $NCLIPS clips"
for s in train validation test; do
  for l in $KEYWORDS _unknown_ _silence_; do mkdir -p "$TMP/$s/$l"; done
done

# ---------------------------------------------------------------------------------------------
# Rendering. Fields of a plan line:
#  1 kind  2 split  3 label  4 file  5 speaker(voice)  6 word  7 text  8 wpm  9 pitch  10 amp
#  11 range%  12 speed  13 highpass  14 lowpass  15 reverb  16 room  17 gain  18 offset/10000
#  19 bed  20 bed start  21 noise gain  22 speech dB  23 noise dB
MAXLEN=15200   # longest word (samples) placed as synthesized; longer ones are sped up (tempo)
render_clip() {
  local w=$1 kind=$2 split=$3 label=$4 file=$5 voice=$6 text=$8 wpm=$9 pitch=${10} amp=${11} \
        range=${12} sf=${13} hp=${14} lp=${15} rv=${16} rs=${17} gain=${18} off=${19} \
        bed=${20} start=${21} ngain=${22}
  local out="$TMP/$split/$label/$file" len pad fx
  if [ "$kind" = silence ]; then
    sox -R -D -V1 $SOX_RAW "$WORK/beds/$bed.raw" -b 16 "$out" trim "${start}s" "${SR}s" vol "$ngain"
    return
  fi
  espeak-ng -m -v "$voice" -s "$wpm" -p "$pitch" -a "$amp" -w "$w/e.wav" \
    "<speak><prosody range=\"$range%\">$text</prosody></speak>"
  fx="vol 0.5 speed $sf highpass $hp"
  [ "$lp" = 0 ] || fx="$fx lowpass $lp"
  [ "$rv" = 0 ] || fx="$fx reverb $rv 50 $rs"
  # shellcheck disable=SC2086
  sox -R -D -V1 "$w/e.wav" $SOX_RAW "$w/s.raw" $fx rate $SR norm -1 \
    silence 1 0.004 -45d reverse silence 1 0.004 -45d reverse
  len=$(( $(stat -c %s "$w/s.raw") / 2 ))
  [ "$len" -gt 0 ] || { echo "make_data.sh: empty synthesis for $file" >&2; return 1; }
  if [ "$len" -gt "$MAXLEN" ]; then
    sox -R -D -V1 $SOX_RAW "$w/s.raw" $SOX_RAW "$w/s2.raw" \
      tempo -s "$(awk -v l="$len" -v m="$MAXLEN" 'BEGIN { printf "%.4f", l / (m - 400) }')" trim 0 "${MAXLEN}s"
    mv "$w/s2.raw" "$w/s.raw"
    echo "$file $len" >> "$w/tempo.log"
    len=$(( $(stat -c %s "$w/s.raw") / 2 ))
  fi
  pad=$(( off * (SR - len) / 10000 ))
  if [ "$bed" = "-" ]; then
    sox -R -D -V1 $SOX_RAW "$w/s.raw" -b 16 "$out" vol "$gain" pad "${pad}s" "$((SR - pad - len))s"
  else
    # Channel 1 = speech delayed into the bed window, channel 2 = bed; mix to mono.
    sox -R -D -V1 -M $SOX_RAW "$w/s.raw" $SOX_RAW "$WORK/beds/$bed.raw" -b 16 "$out" \
      delay "$((start + pad))s" 0 trim "${start}s" "${SR}s" remix "1v$gain,2v$ngain"
  fi
}

render_shard() {   # shard index
  local j=$1 w="$WORK/w$1" n=0 line
  local -a f
  mkdir -p "$w"
  while IFS= read -r line; do
    IFS=$'\t' read -r -a f <<< "$line"
    printf '%s\n' "$line" > "$w/current"
    render_clip "$w" "${f[@]}"   # errexit (set -e) ends this worker on any failure
    n=$((n + 1))
    if [ "$j" = 0 ] && [ $((n % 500)) = 0 ]; then
      echo "make_data.sh: ~$((n * JOBS)) / $NCLIPS clips ($(( $(date +%s) - START_TS )) s)"
    fi
  done < "$WORK/plan.$j"
}

WORKER_PIDS=""
for ((j = 0; j < JOBS; j++)); do
  awk -v j="$j" -v n="$JOBS" '(NR - 1) % n == j' "$WORK/plan.tsv" > "$WORK/plan.$j"
  render_shard "$j" &
  WORKER_PIDS="$WORKER_PIDS $!"
done
FAIL=0
j=0
for p in $WORKER_PIDS; do
  if ! wait "$p"; then
    FAIL=1
    echo "make_data.sh: worker $j failed on plan line: $(cat "$WORK/w$j/current" 2>/dev/null)" >&2
  fi
  j=$((j + 1))
done
WORKER_PIDS=""
[ "$FAIL" = 0 ] || die "rendering failed"

# ---------------------------------------------------------------------------------------------
# Check, write the manifest, publish.
NWAV=$(find "$TMP" -name '*.wav' -not -path "$WORK/*" | awk 'END { print NR }')
[ "$NWAV" = "$NCLIPS" ] || die "expected $NCLIPS clips, found $NWAV"
BAD=$(find "$TMP" -name '*.wav' -not -path "$WORK/*" -not -size 32044c | awk 'END { print NR }')
[ "$BAD" = 0 ] || die "$BAD clips are not 16000 samples of 16-bit mono"
{
  printf 'path\tlabel\tspeaker\tword\ttext\twpm\tpitch\tamplitude\trange_pct\tspeed\thighpass_hz\tlowpass_hz\treverb\troom\tspeech_peak_db\toffset\tnoise\tnoise_start\tnoise_db\n'
  awk -F '\t' -v OFS='\t' '{ print $2 "/" $3 "/" $4, $3, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $22, $18, $19, $20, $23 }' "$WORK/plan.tsv"
} > "$TMP/manifest.tsv"
NTEMPO=$( { cat "$WORK"/w*/tempo.log 2>/dev/null || true; } | awk 'END { print NR }')
rm -rf -- "$WORK"
if [ -e "$OUT" ] || [ -L "$OUT" ]; then die "$OUT appeared while generating; output left unpublished"; fi
mv -T -- "$TMP" "$OUT"
TMP=""
trap - EXIT
END_TS=$(date +%s)
echo "make_data.sh: wrote $NCLIPS clips to $OUT in $((END_TS - START_TS)) s ($(du -sh "$OUT" | cut -f1)); $NTEMPO words were longer than $MAXLEN samples and were sped up (tempo)"
