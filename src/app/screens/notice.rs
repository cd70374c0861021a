//! The status bar's notice: who said it and when. A notice a job left belongs to that job and
//! goes when another job starts; every notice expires after `NOTICE_TTL`, so a result never
//! stands in the status bar as if it were news. Keys named in notices come from the keymap.

use crate::app::action::Action;
use crate::app::state::AppState;
use chrono::TimeDelta;

/// How long a notice stays: long enough to read after a glance away, short enough that an old
/// result is not taken for the current one.
pub const NOTICE_TTL: TimeDelta = TimeDelta::seconds(60);

/// A notice of no job (a refusal, a hint).
pub fn say(state: &mut AppState, text: String) {
    state.notice = Some(text);
    state.notice_since = Some(state.now);
    state.notice_job = None;
}

/// A notice about job `job`: replaced when a later job starts.
pub fn say_for_job(state: &mut AppState, job: u64, text: String) {
    say(state, text);
    state.notice_job = Some(job);
}

/// A new job starts: what earlier jobs said is no longer the latest word.
pub fn clear_job_notices(state: &mut AppState) {
    if state.notice_job.is_some() {
        state.notice = None;
        state.notice_since = None;
        state.notice_job = None;
    }
}

/// The clock moved: an old notice goes. One set without `say` starts its clock now.
pub fn on_tick(state: &mut AppState) {
    if state.notice.is_none() {
        return;
    }
    match state.notice_since {
        None => state.notice_since = Some(state.now),
        Some(since) if state.now - since >= NOTICE_TTL => {
            state.notice = None;
            state.notice_since = None;
            state.notice_job = None;
        }
        Some(_) => {}
    }
}

/// The key that triggers `action`, as the operator's keymap names it (for notices).
pub fn key_for(state: &AppState, action: Action) -> String {
    state.keymap.key(action)
}
