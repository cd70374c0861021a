//! The drill's stopwatch: each phase logged as it ends and kept, timed, for the record.

use crate::jobs::drill_record::Phase;
use crate::jobs::progress::Reporter;
use chrono::{DateTime, Utc};

pub(super) struct Clock {
    pub(super) phases: Vec<Phase>,
    pub(super) reporter: Reporter,
}

impl Clock {
    pub(super) fn begin(&self, name: &str) -> DateTime<Utc> {
        self.reporter.phase(name);
        Utc::now()
    }

    pub(super) fn end(
        &mut self,
        name: &str,
        began: DateTime<Utc>,
        ok: bool,
        detail: impl Into<String>,
    ) {
        let finished = Utc::now();
        let detail = detail.into();
        self.reporter
            .log(format!("{} {name}: {detail}", if ok { "✓" } else { "✗" }));
        self.phases.push(Phase {
            name: name.into(),
            started_at: began,
            finished_at: finished,
            seconds: (finished - began).num_milliseconds() as f64 / 1000.0,
            ok,
            detail,
        });
    }
}
