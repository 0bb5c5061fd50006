//! Workshop jobs: lens fitting, with priorities and a status machine whose every step is kept.

named_enum!(
    /// The queue is served urgent first, then oldest first.
    JobPriority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
);
named_enum!(
    /// `queued → in_progress → quality_check → completed`, `quality_check → in_progress`
    /// (rework), and anything not completed `→ cancelled`.
    JobStatus {
        Queued = "queued", InProgress = "in_progress", QualityCheck = "quality_check",
        Completed = "completed", Cancelled = "cancelled"
    }
);

impl JobStatus {
    /// Whether the job is still in the workshop's queue (the dashboard counts these by status).
    pub fn is_open(self) -> bool {
        !matches!(self, JobStatus::Completed | JobStatus::Cancelled)
    }

    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Queued, InProgress)
                | (InProgress, QualityCheck)
                | (QualityCheck, Completed)
                | (QualityCheck, InProgress)
                | (Queued | InProgress | QualityCheck, Cancelled)
        )
    }

    pub fn transition(self, next: JobStatus) -> Result<JobStatus, String> {
        if self.can_become(next) {
            return Ok(next);
        }
        Err(crate::named_enum::refused_move("a job", self, |s| {
            self.can_become(s)
        }))
    }
}

/// `JOB-<year>-<6+ digits>`.
pub fn job_number(year: i32, sequence: i64) -> String {
    format!("JOB-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests {
    use super::JobStatus::*;

    #[test]
    fn open_statuses_are_the_queue() {
        let open: Vec<&str> = super::JobStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(open, ["queued", "in_progress", "quality_check"]);
    }

    #[test]
    fn status_machine() {
        for (a, b) in [
            (Queued, InProgress),
            (InProgress, QualityCheck),
            (QualityCheck, Completed),
            (QualityCheck, InProgress),
            (Queued, Cancelled),
            (InProgress, Cancelled),
            (QualityCheck, Cancelled),
        ] {
            assert!(a.can_become(b), "{a:?} -> {b:?}");
        }
        for (a, b) in [
            (Queued, Completed),
            (Queued, QualityCheck),
            (Completed, Cancelled),
            (Cancelled, Queued),
            (InProgress, Queued),
            (Completed, InProgress),
        ] {
            assert!(!a.can_become(b), "{a:?} -> {b:?}");
        }
        assert_eq!(
            Queued.transition(Completed).unwrap_err(),
            "a job that is queued can only become in_progress or cancelled"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(super::job_number(2026, 7), "JOB-2026-000007");
    }
}
