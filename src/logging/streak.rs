//! A run of failures of one recurring job, logged as an operator wants to read it: the
//! first failure once (at error), the rest counted, the recovery once with their number.
//! A periodic job that fails every second on a full disk would otherwise write a line a
//! second for as long as the disk stays full.

/// Consecutive failures of one job. Not synchronised: its owner keeps it under its own
/// lock or in its own task.
#[derive(Debug, Default)]
pub struct Streak {
    failures: u64,
}

impl Streak {
    /// Count a failure; true for the first of a streak (the one to log in full).
    pub fn fail(&mut self) -> bool {
        self.failures += 1;
        self.failures == 1
    }

    /// The job worked: the number of failures the streak had, if it was one (the caller
    /// logs the recovery with it), and the count starts over.
    pub fn succeed(&mut self) -> Option<u64> {
        match std::mem::take(&mut self.failures) {
            0 => None,
            n => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Streak;

    #[test]
    fn first_failure_once_then_recovery_with_the_count() {
        let mut s = Streak::default();
        assert_eq!(s.succeed(), None);
        assert!(s.fail());
        assert!(!s.fail());
        assert!(!s.fail());
        assert_eq!(s.succeed(), Some(3));
        assert_eq!(s.succeed(), None);
        assert!(s.fail(), "a new streak is logged again");
    }
}
