//! Progress reporting for long jobs. Byte counters are plain atomics bumped by the pipeline;
//! a sampler turns them into `Progress` events at most ten times a second, only when something
//! changed, and always delivers the final value. Phase changes and log lines are never dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// An ETA from less than this much measuring is noise; none is given before.
pub const ETA_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub phase: String,
    pub done: u64,
    /// An estimate; `done` may pass it (a dump is not the size of the database).
    pub total: Option<u64>,
    pub elapsed: Duration,
    pub finished: bool,
}

impl Progress {
    /// Bytes per second since the phase started.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.done as f64 / secs
        }
    }

    /// Share done in [0, 1]; never 1 before the job says it finished.
    pub fn ratio(&self) -> f64 {
        if self.finished {
            return 1.0;
        }
        match self.total {
            Some(total) if total > 0 => (self.done as f64 / total as f64).min(0.99),
            _ => 0.0,
        }
    }

    /// Time left at the phase's average rate; unknown (None) without an estimate, before a
    /// second of measurement, with nothing done yet, or once `done` passed the estimate.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let rate = self.throughput();
        if self.finished
            || rate <= 0.0
            || self.done == 0
            || total <= self.done
            || self.elapsed < ETA_AFTER
        {
            return None;
        }
        Some(Duration::from_secs_f64((total - self.done) as f64 / rate))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Phase(String),
    Progress(Progress),
    Log(String),
    Warning(String),
}

/// Where a job's events go; `silent()` for callers that only want the outcome.
#[derive(Debug, Clone, Default)]
pub struct Reporter {
    tx: Option<mpsc::UnboundedSender<JobEvent>>,
}

impl Reporter {
    pub fn silent() -> Self {
        Reporter { tx: None }
    }

    pub fn channel() -> (Self, mpsc::UnboundedReceiver<JobEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Reporter { tx: Some(tx) }, rx)
    }

    pub fn send(&self, event: JobEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    pub fn phase(&self, name: &str) {
        tracing::info!(phase = name);
        self.send(JobEvent::Phase(name.to_string()));
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        self.send(JobEvent::Log(line));
    }

    pub fn warn(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::warn!("{line}");
        self.send(JobEvent::Warning(line));
    }
}

/// A shared byte counter for one phase, sampled by `Sampler`. Every pipeline of the phase adds
/// to the same counter, so a clone taken before the pipelines start sees all of them.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    done: Arc<AtomicU64>,
}

impl Meter {
    pub fn counter(&mut self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// Emits `Progress` for a meter until stopped; `stop` sends the final value.
pub struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(reporter: Reporter, phase: &str, meter: Meter, total: Option<u64>) -> Sampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let phase = phase.to_string();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut last = u64::MAX;
            let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
            loop {
                let finished = tokio::select! {
                    _ = ticker.tick() => false,
                    _ = &mut stopped => true,
                };
                let done = meter.done();
                if done != last || finished {
                    last = done;
                    reporter.send(JobEvent::Progress(Progress {
                        phase: phase.clone(),
                        done,
                        total,
                        elapsed: started.elapsed(),
                        finished,
                    }));
                }
                if finished {
                    break;
                }
            }
        });
        Sampler { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_full_before_finished() {
        let mut p = Progress {
            phase: "dump".into(),
            done: 150,
            total: Some(100),
            elapsed: Duration::from_secs(1),
            finished: false,
        };
        assert_eq!(p.ratio(), 0.99);
        assert_eq!(p.eta(), None);
        p.done = 50;
        assert_eq!(p.ratio(), 0.5);
        assert_eq!(p.eta(), Some(Duration::from_secs(1)));
        assert_eq!(p.throughput(), 50.0);
        p.finished = true;
        assert_eq!(p.ratio(), 1.0);
    }

    #[test]
    fn no_eta_before_a_second_of_measuring_or_with_nothing_done() {
        let mut p = Progress {
            phase: "dump".into(),
            done: 0,
            total: Some(100),
            elapsed: Duration::from_secs(5),
            finished: false,
        };
        assert_eq!(p.eta(), None);
        p.done = 10;
        p.elapsed = Duration::from_millis(200);
        assert_eq!(p.eta(), None);
        p.elapsed = Duration::from_secs(1);
        assert_eq!(p.eta(), Some(Duration::from_secs(9)));
    }

    #[tokio::test]
    async fn sampler_delivers_the_final_value() {
        let (reporter, mut rx) = Reporter::channel();
        let mut meter = Meter::default();
        let c = meter.counter();
        let sampler = Sampler::start(reporter, "dump", meter, Some(10));
        c.fetch_add(10, Ordering::Relaxed);
        sampler.stop().await;
        let mut last = None;
        while let Ok(JobEvent::Progress(p)) = rx.try_recv() {
            last = Some(p);
        }
        let last = last.unwrap();
        assert!(last.finished);
        assert_eq!(last.done, 10);
    }
}
