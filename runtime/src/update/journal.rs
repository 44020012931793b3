//! The slot journal: which of the two model slots runs, kept in two erase pages of flash so
//! that a power cut at any instant leaves the old model or the new one active, never neither.
//!
//! Each page holds a header (a magic word, then a generation word written last) and records,
//! one flash word each, appended in order: `Pending(s)` (slot `s` holds a new, validated
//! model: the atomic switch), `Trial(s)` (a boot started running it), `Confirm(s)` (its first
//! inference succeeded: it is the active model now), `Revert(s)` (its trial failed). A boot
//! that finds a trial without a confirmation reverts, as MCUboot does: the model was running
//! when the power went, the core faulted or the watchdog fired. A record's upper half is the
//! complement of its lower half, so a write torn by a power cut (bits only go from 1 to 0)
//! can never read as another valid record; such a word is skipped. When a page is full, the
//! state is copied to the other page under a newer generation, header last, so a cut during
//! that copy leaves the old page in charge.

use embedded_storage::nor_flash::NorFlash;

/// One of the two model slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// Slot A (`__model_start..__model_end`), active on a fresh device.
    A,
    /// Slot B (`__update_start..__update_end`).
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn bit(self) -> u32 {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

/// What the journal says, replayed from its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct State {
    /// The slot of the last model that ran to completion (confirmed).
    pub active: Slot,
    /// A slot holding a validated new model that is not confirmed yet.
    pub pending: Option<Slot>,
    /// Whether a boot has started running the pending model.
    pub trying: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            active: Slot::A,
            pending: None,
            trying: false,
        }
    }
}

/// What a boot runs, decided by [`Journal::boot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Boot {
    /// The active model.
    Run(Slot),
    /// A new model on trial: validate it, run it, then [`Journal::confirm`] (or
    /// [`Journal::revert`] and run the active one if it does not validate).
    Try(Slot),
    /// The model on trial in `failed` never confirmed (the power went, the core faulted or
    /// the watchdog fired during its first run): it is given up and `run` runs again.
    Reverted {
        /// The slot given up.
        failed: Slot,
        /// The active slot, which runs.
        run: Slot,
    },
}

/// Why the journal could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JournalError<E> {
    /// The flash driver failed.
    Flash(E),
    /// The flash's write unit does not divide a 4-byte record, or its page holds fewer than
    /// eight records: this journal cannot live on it.
    Geometry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Pending(Slot),
    Trial(Slot),
    Confirm(Slot),
    Revert(Slot),
}

/// The first header word of a journal page: "MJNL".
const MAGIC: u32 = u32::from_le_bytes(*b"MJNL");
/// Header words: the magic, then the generation (written last).
const HEADER_WORDS: u32 = 2;
const ERASED: u32 = u32::MAX;

/// A 16-bit value in the lower half, its complement in the upper half.
fn checked(value: u16) -> u32 {
    u32::from(value) | (u32::from(!value) << 16)
}

fn unchecked(word: u32) -> Option<u16> {
    let value = word as u16;
    (word >> 16 == u32::from(!value)).then_some(value)
}

impl Record {
    fn encode(self) -> u32 {
        let (kind, slot) = match self {
            Record::Pending(s) => (1, s),
            Record::Trial(s) => (2, s),
            Record::Confirm(s) => (3, s),
            Record::Revert(s) => (4, s),
        };
        checked(((kind << 8) | slot.bit()) as u16)
    }

    fn decode(word: u32) -> Option<Record> {
        let value = unchecked(word)?;
        let slot = match value & 0xFF {
            0 => Slot::A,
            1 => Slot::B,
            _ => return None,
        };
        match value >> 8 {
            1 => Some(Record::Pending(slot)),
            2 => Some(Record::Trial(slot)),
            3 => Some(Record::Confirm(slot)),
            4 => Some(Record::Revert(slot)),
            _ => None,
        }
    }
}

impl State {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Pending(s) if s != self.active => {
                self.pending = Some(s);
                self.trying = false;
            }
            Record::Trial(s) if self.pending == Some(s) => self.trying = true,
            Record::Confirm(s) => {
                *self = State {
                    active: s,
                    ..State::default()
                }
            }
            Record::Revert(s) if self.pending == Some(s) => {
                self.pending = None;
                self.trying = false;
            }
            _ => {}
        }
    }

    /// The records that rebuild this state on a fresh page.
    fn snapshot(&self) -> impl Iterator<Item = Record> {
        let pending = self.pending.map(Record::Pending);
        let trial = self.pending.filter(|_| self.trying).map(Record::Trial);
        [Some(Record::Confirm(self.active)), pending, trial]
            .into_iter()
            .flatten()
    }
}

/// The journal as read from flash: the current page and where the next record goes.
#[derive(Debug, Clone)]
pub struct Journal {
    /// Flash offset of the first of the two pages.
    base: u32,
    /// Bytes in a page (the flash's erase unit).
    page_bytes: u32,
    /// The page in charge, and its generation; none on a fresh device.
    current: Option<(u32, u16)>,
    /// Word index of the next record in the current page.
    next: u32,
    state: State,
}

impl Journal {
    /// Reads the journal kept in the two erase pages of `flash` at offset `base`. Erased
    /// pages (a fresh device) read as slot A active, nothing pending.
    ///
    /// # Errors
    /// The flash's geometry does not suit the journal, or reading fails.
    pub fn open<F: NorFlash>(flash: &mut F, base: u32) -> Result<Self, JournalError<F::Error>> {
        let page_bytes = F::ERASE_SIZE as u32;
        if F::WRITE_SIZE == 0
            || 4 % F::WRITE_SIZE != 0
            || F::READ_SIZE == 0
            || 4 % F::READ_SIZE != 0
            || page_bytes < 4 * (HEADER_WORDS + 8)
            || !page_bytes.is_multiple_of(4)
        {
            return Err(JournalError::Geometry);
        }
        let mut journal = Journal {
            base,
            page_bytes,
            current: None,
            next: HEADER_WORDS,
            state: State::default(),
        };
        for page in 0..2 {
            let magic = journal.read_word(flash, page, 0)?;
            let generation = unchecked(journal.read_word(flash, page, 1)?);
            if let (MAGIC, Some(generation)) = (magic, generation) {
                let newer = match journal.current {
                    None => true,
                    Some((_, current)) => (generation.wrapping_sub(current) as i16) > 0,
                };
                if newer {
                    journal.current = Some((page, generation));
                }
            }
        }
        if let Some((page, _)) = journal.current {
            while journal.next < journal.words() {
                let word = journal.read_word(flash, page, journal.next)?;
                if word == ERASED {
                    break;
                }
                if let Some(record) = Record::decode(word) {
                    journal.state.apply(record);
                }
                journal.next += 1;
            }
        }
        Ok(journal)
    }

    /// What the journal says now.
    pub fn state(&self) -> State {
        self.state
    }

    /// Decides what this boot runs, recording a trial start or a revert first (see [`Boot`]).
    ///
    /// # Errors
    /// Writing the record fails.
    pub fn boot<F: NorFlash>(&mut self, flash: &mut F) -> Result<Boot, JournalError<F::Error>> {
        let active = self.state.active;
        match (self.state.pending, self.state.trying) {
            (Some(failed), true) => {
                self.append(flash, Record::Revert(failed))?;
                Ok(Boot::Reverted {
                    failed,
                    run: active,
                })
            }
            (Some(slot), false) => {
                self.append(flash, Record::Trial(slot))?;
                Ok(Boot::Try(slot))
            }
            (None, _) => Ok(Boot::Run(active)),
        }
    }

    /// Makes `slot`, which now holds a complete, validated new model, the one the next boot
    /// tries: the single record whose write is the atomic switch. Ignored for the active slot.
    ///
    /// # Errors
    /// Writing the record fails.
    pub fn stage<F: NorFlash>(
        &mut self,
        flash: &mut F,
        slot: Slot,
    ) -> Result<(), JournalError<F::Error>> {
        if slot == self.state.active {
            return Ok(());
        }
        self.append(flash, Record::Pending(slot))
    }

    /// The model on trial ran its first inference: it becomes the active model.
    ///
    /// # Errors
    /// Writing the record fails.
    pub fn confirm<F: NorFlash>(&mut self, flash: &mut F) -> Result<(), JournalError<F::Error>> {
        match (self.state.pending, self.state.trying) {
            (Some(slot), true) => self.append(flash, Record::Confirm(slot)),
            _ => Ok(()),
        }
    }

    /// Records `slot` as the active model, giving up any pending one: for a boot that found
    /// the active slot invalid and runs the other (its model validated and runs), so that an
    /// update never goes into the slot that is running.
    ///
    /// # Errors
    /// Writing the record fails.
    pub fn adopt<F: NorFlash>(
        &mut self,
        flash: &mut F,
        slot: Slot,
    ) -> Result<(), JournalError<F::Error>> {
        if self.state
            == (State {
                active: slot,
                ..State::default()
            })
        {
            return Ok(());
        }
        self.append(flash, Record::Confirm(slot))
    }

    /// Gives up the pending model (it does not validate, or it failed): the active one stays.
    ///
    /// # Errors
    /// Writing the record fails.
    pub fn revert<F: NorFlash>(&mut self, flash: &mut F) -> Result<(), JournalError<F::Error>> {
        match self.state.pending {
            Some(slot) => self.append(flash, Record::Revert(slot)),
            None => Ok(()),
        }
    }

    fn words(&self) -> u32 {
        self.page_bytes / 4
    }

    fn offset(&self, page: u32, word: u32) -> u32 {
        self.base + page * self.page_bytes + word * 4
    }

    fn read_word<F: NorFlash>(
        &self,
        flash: &mut F,
        page: u32,
        word: u32,
    ) -> Result<u32, JournalError<F::Error>> {
        let mut bytes = [0u8; 4];
        flash
            .read(self.offset(page, word), &mut bytes)
            .map_err(JournalError::Flash)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn write_word<F: NorFlash>(
        &self,
        flash: &mut F,
        page: u32,
        word: u32,
        value: u32,
    ) -> Result<(), JournalError<F::Error>> {
        flash
            .write(self.offset(page, word), &value.to_le_bytes())
            .map_err(JournalError::Flash)
    }

    /// Appends `record`, first moving the state to the other page if this one is full (or
    /// there is none yet).
    fn append<F: NorFlash>(
        &mut self,
        flash: &mut F,
        record: Record,
    ) -> Result<(), JournalError<F::Error>> {
        let page = match self.current {
            Some((page, _)) if self.next < self.words() => page,
            _ => self.compact(flash)?,
        };
        self.write_word(flash, page, self.next, record.encode())?;
        self.next += 1;
        self.state.apply(record);
        Ok(())
    }

    /// Writes the state into the other page under the next generation, header last, and
    /// makes that page current. Returns it.
    fn compact<F: NorFlash>(&mut self, flash: &mut F) -> Result<u32, JournalError<F::Error>> {
        let (page, generation) = match self.current {
            Some((page, generation)) => (1 - page, generation.wrapping_add(1)),
            None => (0, 1),
        };
        let start = self.offset(page, 0);
        flash
            .erase(start, start + self.page_bytes)
            .map_err(JournalError::Flash)?;
        let mut next = HEADER_WORDS;
        for record in self.state.snapshot() {
            self.write_word(flash, page, next, record.encode())?;
            next += 1;
        }
        self.write_word(flash, page, 0, MAGIC)?;
        self.write_word(flash, page, 1, checked(generation))?;
        self.current = Some((page, generation));
        self.next = next;
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind, ReadNorFlash};
    use std::{vec, vec::Vec};

    /// NOR flash in memory that loses power after `budget` writes or erases: the operation
    /// that runs out is torn (a write programs only some of its bits, an erase leaves some
    /// words as they were), then every operation fails.
    struct Flash {
        bytes: Vec<u8>,
        budget: Option<usize>,
        seed: u64,
    }

    #[derive(Debug)]
    struct PowerCut;

    impl NorFlashError for PowerCut {
        fn kind(&self) -> NorFlashErrorKind {
            NorFlashErrorKind::Other
        }
    }

    impl ErrorType for Flash {
        type Error = PowerCut;
    }

    impl Flash {
        const PAGE: usize = 48; // two header words and ten records: compaction every few updates

        fn new() -> Self {
            Flash {
                bytes: vec![0xFF; 2 * Self::PAGE],
                budget: None,
                seed: 0x9E37_79B9,
            }
        }

        fn random(&mut self) -> u64 {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            self.seed
        }

        /// Counts an operation; `Some(torn)` when power goes during it.
        fn spend(&mut self) -> Result<bool, PowerCut> {
            match self.budget {
                Some(0) => Err(PowerCut),
                Some(ref mut left) => {
                    *left -= 1;
                    Ok(*left == 0)
                }
                None => Ok(false),
            }
        }
    }

    impl ReadNorFlash for Flash {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), PowerCut> {
            let at = offset as usize;
            bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.bytes.len()
        }
    }

    impl NorFlash for Flash {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = Flash::PAGE;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), PowerCut> {
            let torn = self.spend()?;
            for word in (from as usize..to as usize).step_by(4) {
                if !torn || self.random().is_multiple_of(2) {
                    self.bytes[word..word + 4].fill(0xFF);
                }
            }
            if torn { Err(PowerCut) } else { Ok(()) }
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), PowerCut> {
            let torn = self.spend()?;
            let mask = if torn {
                self.random() as u8 | self.random() as u8
            } else {
                0
            };
            for (i, &b) in bytes.iter().enumerate() {
                // Programming only clears bits; a torn write leaves some of them set.
                let cell = &mut self.bytes[offset as usize + i];
                *cell &= b | mask.rotate_left(i as u32);
            }
            if torn { Err(PowerCut) } else { Ok(()) }
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Stage,
        Boot,
        Confirm,
        Revert,
    }

    fn apply(
        journal: &mut Journal,
        flash: &mut Flash,
        step: Step,
    ) -> Result<(), JournalError<PowerCut>> {
        match step {
            Step::Stage => {
                let slot = journal.state().active.other();
                journal.stage(flash, slot)
            }
            Step::Boot => journal.boot(flash).map(|_| ()),
            Step::Confirm => journal.confirm(flash),
            Step::Revert => journal.revert(flash),
        }
    }

    /// Updates that confirm, updates whose trial is cut short, updates that do not
    /// validate: enough of them to move the journal between its pages several times.
    fn script() -> Vec<Step> {
        use Step::*;
        let mut steps = Vec::new();
        for round in 0..12 {
            steps.extend(match round % 3 {
                0 => vec![Stage, Boot, Confirm, Boot],
                1 => vec![Stage, Boot, Boot, Boot],
                _ => vec![Stage, Boot, Revert, Boot],
            });
        }
        steps
    }

    #[test]
    fn a_fresh_device_runs_slot_a() {
        let mut flash = Flash::new();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(journal.state(), State::default());
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Run(Slot::A));
        assert_eq!(
            flash.bytes,
            vec![0xFF; 2 * Flash::PAGE],
            "a plain boot writes nothing"
        );
    }

    #[test]
    fn an_update_is_tried_then_confirmed_and_an_unconfirmed_one_is_reverted() {
        let mut flash = Flash::new();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        journal.stage(&mut flash, Slot::B).unwrap();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Try(Slot::B));
        journal.confirm(&mut flash).unwrap();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Run(Slot::B));

        journal.stage(&mut flash, Slot::A).unwrap();
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Try(Slot::A));
        // Reset during the trial: the next boot gives the new model up.
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(
            journal.boot(&mut flash).unwrap(),
            Boot::Reverted {
                failed: Slot::A,
                run: Slot::B
            }
        );
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Run(Slot::B));
    }

    /// The journal's promise: a power cut anywhere inside a step, torn writes and erases
    /// included, leaves the state the step started from or the one it ends in, and the
    /// journal goes on working from there.
    #[test]
    fn a_power_cut_at_any_write_leaves_the_state_before_or_after_the_step() {
        let steps = script();
        let mut cuts = 0;
        for (index, &step) in steps.iter().enumerate() {
            // The flash and state just before `step`, reached without cuts.
            let mut flash = Flash::new();
            let mut journal = Journal::open(&mut flash, 0).unwrap();
            for &earlier in &steps[..index] {
                apply(&mut journal, &mut flash, earlier).unwrap();
                journal = Journal::open(&mut flash, 0).unwrap();
            }
            let before = journal.state();
            let mut after_flash = Flash {
                bytes: flash.bytes.clone(),
                ..Flash::new()
            };
            let mut after = journal.clone();
            apply(&mut after, &mut after_flash, step).unwrap();
            let after = after.state();

            for budget in 1.. {
                for seed in 1..=8u64 {
                    let mut cut = Flash {
                        bytes: flash.bytes.clone(),
                        budget: Some(budget),
                        seed,
                    };
                    let mut journal = Journal::open(&mut cut, 0).unwrap();
                    if apply(&mut journal, &mut cut, step).is_ok() && seed == 1 {
                        // The step needs fewer operations than `budget`: every cut is tried.
                        assert_eq!(journal.state(), after);
                    }
                    cut.budget = None;
                    let mut reopened = Journal::open(&mut cut, 0).unwrap();
                    let state = reopened.state();
                    assert!(
                        state == before || state == after,
                        "step {index} ({step:?}), cut at operation {budget}, seed {seed}: \
                         {state:?} is neither {before:?} nor {after:?}"
                    );
                    cuts += 1;
                    // ...and the journal still works: an update goes through.
                    let target = state.active.other();
                    reopened.revert(&mut cut).unwrap();
                    reopened.stage(&mut cut, target).unwrap();
                    assert_eq!(reopened.boot(&mut cut).unwrap(), Boot::Try(target));
                    reopened.confirm(&mut cut).unwrap();
                    let mut last = Journal::open(&mut cut, 0).unwrap();
                    assert_eq!(last.boot(&mut cut).unwrap(), Boot::Run(target));
                }
                let mut probe = Flash {
                    bytes: flash.bytes.clone(),
                    budget: Some(budget),
                    ..Flash::new()
                };
                let mut journal = Journal::open(&mut probe, 0).unwrap();
                if apply(&mut journal, &mut probe, step).is_ok() {
                    break;
                }
            }
        }
        assert!(cuts > 600, "only {cuts} cut points");
    }

    #[test]
    fn a_fallback_slot_is_adopted_as_the_active_one() {
        let mut flash = Flash::new();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        journal.adopt(&mut flash, Slot::B).unwrap();
        let mut journal = Journal::open(&mut flash, 0).unwrap();
        assert_eq!(journal.boot(&mut flash).unwrap(), Boot::Run(Slot::B));
        let before = flash.bytes.clone();
        journal.adopt(&mut flash, Slot::B).unwrap();
        assert_eq!(
            flash.bytes, before,
            "adopting the active slot writes nothing"
        );
    }

    #[test]
    fn a_torn_record_never_reads_as_another_record() {
        let records = [Slot::A, Slot::B].into_iter().flat_map(|s| {
            [
                Record::Pending(s),
                Record::Trial(s),
                Record::Confirm(s),
                Record::Revert(s),
            ]
        });
        for record in records {
            let word = record.encode();
            assert_eq!(Record::decode(word), Some(record));
            // Every partial programming of `word`: a superset of its 1 bits.
            let zeros = !word;
            let mut partial = zeros;
            loop {
                let torn = word | partial;
                if torn != word {
                    assert_eq!(Record::decode(torn), None, "{torn:#010x} from {record:?}");
                }
                if partial == 0 {
                    break;
                }
                partial = (partial - 1) & zeros;
            }
        }
    }

    #[test]
    fn a_flash_the_journal_cannot_live_on_is_refused() {
        struct Tiny;
        impl ErrorType for Tiny {
            type Error = PowerCut;
        }
        impl ReadNorFlash for Tiny {
            const READ_SIZE: usize = 1;
            fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), PowerCut> {
                Ok(())
            }
            fn capacity(&self) -> usize {
                32
            }
        }
        impl NorFlash for Tiny {
            const WRITE_SIZE: usize = 4;
            const ERASE_SIZE: usize = 16;
            fn erase(&mut self, _: u32, _: u32) -> Result<(), PowerCut> {
                Ok(())
            }
            fn write(&mut self, _: u32, _: &[u8]) -> Result<(), PowerCut> {
                Ok(())
            }
        }
        assert!(matches!(
            Journal::open(&mut Tiny, 0),
            Err(JournalError::Geometry)
        ));
    }
}
