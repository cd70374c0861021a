//! The one shape of a long job: a value holding its spec, run once with a progress reporter
//! and a cancellation token, ending in a typed result; and the one way to run it to an end that
//! is always known (finished, abandoned after cancellation, or crashed), so a caller can always
//! say what happened to it.

use super::progress::Reporter;
use super::CancellationToken;
use std::future::Future;
use std::time::Duration;

/// How long a cancelled job has to stop on its own (abort its uploads, kill its children, write
/// its journal record) before it is dropped where it stands. Generous: a job stops between two
/// steps, and some steps (a checksum of a large object) are not interruptible.
pub const CANCEL_GRACE: Duration = Duration::from_secs(30);

/// A job: its spec is `self`; `run` consumes it. Jobs watch `cancel` themselves and stop at the
/// next safe point; [`run_to_end`] stops waiting for them after [`CANCEL_GRACE`].
pub trait Job: Send + 'static {
    type Output: Send + 'static;

    fn run(
        self,
        reporter: Reporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Output> + Send + 'static;
}

/// How a job's run ended.
#[derive(Debug)]
pub enum Ended<T> {
    /// The job returned its result (an error result too, a cancelled one too).
    Finished(T),
    /// The job could not be made (its spec is wrong) and never ran. Not returned by
    /// [`run_to_end`]: the caller that failed to make the job says so with it.
    NotStarted(String),
    /// Cancelled, and still running [`CANCEL_GRACE`] later: dropped without a result.
    Abandoned,
    /// The job panicked or its task died: what it said, if anything.
    Crashed(String),
}

/// Runs `job` on its own task, so a panic in it is caught here and becomes [`Ended::Crashed`]
/// instead of silencing whoever waits for its result.
pub async fn run_to_end<J: Job>(
    job: J,
    reporter: Reporter,
    cancel: CancellationToken,
    grace: Duration,
) -> Ended<J::Output> {
    let mut task = tokio::spawn(job.run(reporter, cancel.clone()));
    let joined = tokio::select! {
        joined = &mut task => joined,
        () = cancel.cancelled() => match tokio::time::timeout(grace, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                return Ended::Abandoned;
            }
        },
    };
    match joined {
        Ok(output) => Ended::Finished(output),
        Err(e) if e.is_panic() => Ended::Crashed(panic_text(e.into_panic())),
        Err(e) => Ended::Crashed(e.to_string()),
    }
}

/// The message of a panic payload (`panic!("...")` carries a `&str` or a `String`).
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_string(),
            Err(_) => "a panic without a message".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job whose behaviour the test picks.
    enum Probe {
        Returns(u32),
        Panics,
        /// Stops at the cancellation, as jobs do.
        StopsWhenCancelled,
        /// Ignores the cancellation.
        Hangs,
    }

    impl Job for Probe {
        type Output = u32;

        async fn run(self, reporter: Reporter, cancel: CancellationToken) -> u32 {
            reporter.log("started");
            match self {
                Probe::Returns(n) => n,
                Probe::Panics => panic!("the job broke"),
                Probe::StopsWhenCancelled => {
                    cancel.cancelled().await;
                    7
                }
                Probe::Hangs => {
                    std::future::pending::<()>().await;
                    0
                }
            }
        }
    }

    #[tokio::test]
    async fn a_finished_job_gives_its_result_and_its_reports_arrive() {
        let (reporter, mut rx) = Reporter::channel();
        let ended = run_to_end(
            Probe::Returns(3),
            reporter,
            CancellationToken::new(),
            CANCEL_GRACE,
        )
        .await;
        assert!(matches!(ended, Ended::Finished(3)), "{ended:?}");
        assert!(rx.recv().await.is_some(), "the job's log line arrives");
    }

    #[tokio::test]
    async fn a_panic_is_a_crash_with_its_message() {
        let ended = run_to_end(
            Probe::Panics,
            Reporter::silent(),
            CancellationToken::new(),
            CANCEL_GRACE,
        )
        .await;
        match ended {
            Ended::Crashed(text) => assert_eq!(text, "the job broke"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cancelled_job_that_stops_gives_its_own_result() {
        let cancel = CancellationToken::new();
        let run = tokio::spawn(run_to_end(
            Probe::StopsWhenCancelled,
            Reporter::silent(),
            cancel.clone(),
            CANCEL_GRACE,
        ));
        cancel.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("a job that stops ends well within the grace")
            .unwrap();
        assert!(matches!(ended, Ended::Finished(7)), "{ended:?}");
    }

    #[tokio::test]
    async fn a_cancelled_job_that_does_not_stop_is_abandoned_after_the_grace() {
        let cancel = CancellationToken::new();
        let grace = Duration::from_millis(200);
        let run = tokio::spawn(run_to_end(
            Probe::Hangs,
            Reporter::silent(),
            cancel.clone(),
            grace,
        ));
        // Not before it is cancelled.
        tokio::time::sleep(grace * 2).await;
        assert!(!run.is_finished(), "a running job is never given up on");
        cancel.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("given up after the grace")
            .unwrap();
        assert!(matches!(ended, Ended::Abandoned), "{ended:?}");
    }
}
