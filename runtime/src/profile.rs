//! Per-operator profiles (feature `profile`): how much of a counter each operator of an
//! inference spends, in a fixed-capacity table, without allocation.
//!
//! The counter is whatever the caller reads: retired instructions (QEMU's `-icount` timers,
//! RISC-V `minstret`), cycles (DWT `CYCCNT` on real Cortex-M hardware) or microseconds. A
//! [`Profiler`] is an [`Observer`]; without one, `invoke` pays nothing for this module, and
//! without the feature it is not compiled at all.
//!
//! ```
//! # fn run(interpreter: &mut mote::Interpreter<'_, '_>) -> Result<(), mote::Error> {
//! # let mut now = 0u64;
//! let mut profile = mote::profile::Profiler::<_, 64>::new(|| { now += 1; now });
//! interpreter.invoke_observed(&mut profile)?;
//! for (index, spent) in profile.counts().iter().enumerate() {
//!     // operator `index` took `spent` counter units
//! #   let _ = (index, spent);
//! }
//! # Ok(()) }
//! ```

use crate::format::Op;
use crate::interpreter::Observer;
use heapless::Vec as HVec;

/// Records, for up to `N` operators, the counter's advance while each one ran.
///
/// The interval of operator `i` starts when the interpreter is about to run it and ends as
/// soon as it returns; the interpreter's own bookkeeping between operators (decoding the
/// next operator record) falls outside every interval. Operators past the `N`th are counted
/// in [`Profiler::dropped`] only.
pub struct Profiler<F, const N: usize> {
    counter: F,
    started: u64,
    counts: HVec<u64, N>,
    dropped: u16,
}

impl<F: FnMut() -> u64, const N: usize> Profiler<F, N> {
    /// A profiler that reads `counter` (a monotonic count; differences wrap) before and after
    /// each operator.
    pub fn new(counter: F) -> Self {
        Profiler {
            counter,
            started: 0,
            counts: HVec::new(),
            dropped: 0,
        }
    }

    /// The counter's advance for each operator, in execution order, since the last
    /// [`Profiler::clear`]. Several inferences append to one table: clear between them.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Operators that ran after the table was full.
    pub fn dropped(&self) -> u16 {
        self.dropped
    }

    /// Empties the table.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.dropped = 0;
    }
}

impl<F: FnMut() -> u64, const N: usize> Observer for Profiler<F, N> {
    const WANTS_OUTPUT: bool = false;

    #[inline(always)]
    fn before(&mut self, _index: u16, _op: &Op<'_>) {
        self.started = (self.counter)();
    }

    #[inline(always)]
    fn ran(&mut self, _index: u16) {
        let spent = (self.counter)().wrapping_sub(self.started);
        if self.counts.push(spent).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}

impl<F, const N: usize> core::fmt::Debug for Profiler<F, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Profiler")
            .field("counts", &self.counts)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}
