//! The circuit breaker in front of the LLM.

use super::*;

/// Opens after `threshold` consecutive failed calls; after `open_for` one call may try again.
pub struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicI64,
    threshold: u32,
    open_for_ms: i64,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            failures: AtomicU32::new(0),
            open_until_ms: AtomicI64::new(0),
            threshold: threshold.max(1),
            open_for_ms: open_for.as_millis() as i64,
        }
    }

    /// Err while open. Past the open period, the first caller gets through (half-open).
    pub fn check(&self, now_ms: i64) -> Result<(), LlmError> {
        if self.failures.load(Ordering::Acquire) < self.threshold {
            return Ok(());
        }
        let until = self.open_until_ms.load(Ordering::Acquire);
        if now_ms < until {
            return Err(LlmError::BreakerOpen);
        }
        // Half-open: let one call through, keep the others out for another period.
        match self.open_until_ms.compare_exchange(
            until,
            now_ms + self.open_for_ms,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(_) => Err(LlmError::BreakerOpen),
        }
    }

    pub fn record(&self, success: bool, now_ms: i64) {
        if success {
            self.failures.store(0, Ordering::Release);
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold {
            self.open_until_ms
                .store(now_ms + self.open_for_ms, Ordering::Release);
        }
    }
}
