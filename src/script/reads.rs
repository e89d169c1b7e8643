//! Slot rollup reads shared by the host functions of one evaluation.
//!
//! Reading a whole fleet's slot rollups is the most expensive thing a host function does
//! (about half a millisecond for a day of 100 miners from the store), and one widget often
//! asks for windows inside one another: daily-cost reads the last 24 hours and then today
//! so far. The rollups read for a window are kept for the rest of the evaluation and serve
//! any window inside it. Only for one evaluation: the next one reads fresh data.

use std::sync::{Arc, Mutex};

use crate::model::SlotRollup;
use crate::script::data::ScriptData;

/// The rollups of every miner for one window of slot starts.
struct SlotWindow {
    from_s: u64,
    to_s: u64,
    slots: Arc<Vec<SlotRollup>>,
}

/// The reads one evaluation (a widget or a rule) has made so far.
#[derive(Default)]
pub(crate) struct EvalReads {
    slots: Mutex<Option<SlotWindow>>,
}

impl EvalReads {
    /// Every miner's rollups with `from_s <= slot_start_s < to_s`, grouped by miner and
    /// sorted by slot start, as [`ScriptData::slots`] returns them, or the rollups of a
    /// larger window read earlier in this evaluation that contains this one. Callers
    /// weigh each rollup by its overlap with their window, so the extra slots of a larger
    /// window count for nothing.
    pub(crate) fn slots(
        &self,
        data: &dyn ScriptData,
        from_s: u64,
        to_s: u64,
    ) -> Result<Arc<Vec<SlotRollup>>, String> {
        let mut kept = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(window) = kept.as_ref()
            && window.from_s <= from_s
            && to_s <= window.to_s
        {
            return Ok(Arc::clone(&window.slots));
        }
        let slots = Arc::new(data.slots(None, from_s, to_s)?);
        *kept = Some(SlotWindow {
            from_s,
            to_s,
            slots: Arc::clone(&slots),
        });
        Ok(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::testing::generated_fleet;

    const NOW_MS: u64 = 1_790_000_000_000;

    #[test]
    fn a_window_inside_one_read_earlier_is_served_from_it() {
        let data = generated_fleet(3, NOW_MS, 24, 60);
        let reads = EvalReads::default();
        let now_s = NOW_MS / 1000;
        let day = reads
            .slots(data.as_ref(), now_s - 86_400, now_s + 1)
            .unwrap();
        let hour = reads
            .slots(data.as_ref(), now_s - 3_600, now_s + 1)
            .unwrap();
        assert!(Arc::ptr_eq(&day, &hour));
        assert_eq!(
            *day,
            data.slots(None, now_s - 86_400, now_s + 1).unwrap(),
            "the kept read is what the data source answers"
        );
    }

    #[test]
    fn a_larger_window_is_read_again() {
        let data = generated_fleet(3, NOW_MS, 24, 60);
        let reads = EvalReads::default();
        let now_s = NOW_MS / 1000;
        let hour = reads
            .slots(data.as_ref(), now_s - 3_600, now_s + 1)
            .unwrap();
        let day = reads
            .slots(data.as_ref(), now_s - 86_400, now_s + 1)
            .unwrap();
        assert!(!Arc::ptr_eq(&day, &hour));
        assert!(day.len() > hour.len());
    }
}
