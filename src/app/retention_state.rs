//! The Retention screen's state and reducer: the prune preview (every set with its reasons or
//! "expired", garbage, bytes freed), the cursor, pin and prune requests, and the simulator's
//! settings and projection (pure, recomputed here when its inputs change).

use super::event::Effect;
use super::screens::notice;
use super::state::{AppState, Modal};
use crate::jobs::prune_plan::PrunePlan;
use crate::jobs::retention_sim::{self, Projection, SimSpec};
use crate::storage::retention::{Candidate, Policy};

pub const SIM_DAYS_DEFAULT: u32 = 30;
pub const SIM_DAYS_STEPS: [u32; 8] = [7, 14, 30, 60, 90, 180, 365, 730];

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionState {
    /// The validated policy, or why there is none (then prune is refused).
    pub policy: Result<Policy, String>,
    pub plan: Option<Box<PrunePlan>>,
    pub candidates: Vec<Candidate>,
    pub error: Option<String>,
    pub loading: bool,
    pub selected: usize,
    pub sim_days: u32,
    pub sim_stop: bool,
    pub projection: Option<Projection>,
}

impl Default for RetentionState {
    fn default() -> Self {
        RetentionState {
            policy: Err("no [retention] policy configured".into()),
            plan: None,
            candidates: Vec::new(),
            error: None,
            loading: false,
            selected: 0,
            sim_days: SIM_DAYS_DEFAULT,
            sim_stop: false,
            projection: None,
        }
    }
}

/// Reloads the preview when the screen opens with nothing loaded.
pub fn on_enter(state: &mut AppState) -> Vec<Effect> {
    let r = &mut state.retention;
    if r.plan.is_none() && !r.loading && r.policy.is_ok() {
        r.loading = true;
        return vec![Effect::LoadRetention];
    }
    Vec::new()
}

pub fn on_loaded(state: &mut AppState, loaded: Result<(Box<PrunePlan>, Vec<Candidate>), String>) {
    let now = state.now;
    let r = &mut state.retention;
    r.loading = false;
    match loaded {
        Ok((plan, candidates)) => {
            r.selected = r.selected.min(plan.sets.len().saturating_sub(1));
            r.plan = Some(plan);
            r.candidates = candidates;
            r.error = None;
            recompute(r, now);
        }
        Err(e) => r.error = Some(e),
    }
}

pub fn recompute(r: &mut RetentionState, now: chrono::DateTime<chrono::Utc>) {
    r.projection = match &r.policy {
        Ok(policy) if !r.candidates.is_empty() || r.plan.is_some() => Some(retention_sim::project(
            policy,
            &r.candidates,
            now,
            SimSpec {
                days: r.sim_days,
                stop_after: r.sim_stop.then_some(0),
            },
        )),
        _ => None,
    };
}

pub fn selected_set(state: &AppState) -> Option<crate::storage::setid::SetId> {
    let plan = state.retention.plan.as_ref()?;
    plan.sets
        .get(state.retention.selected)
        .map(|s| s.set_id.clone())
}

/// Longer or shorter projections step through fixed horizons, like a slider.
pub fn slide(state: &mut AppState, longer: bool) {
    let r = &mut state.retention;
    let i = SIM_DAYS_STEPS
        .iter()
        .position(|d| *d >= r.sim_days)
        .unwrap_or(SIM_DAYS_STEPS.len() - 1);
    let j = if longer {
        (i + 1).min(SIM_DAYS_STEPS.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    r.sim_days = SIM_DAYS_STEPS[j];
    let now = state.now;
    recompute(&mut state.retention, now);
}

pub fn toggle_stop(state: &mut AppState) {
    state.retention.sim_stop = !state.retention.sim_stop;
    let now = state.now;
    recompute(&mut state.retention, now);
}

pub fn request_pin(state: &mut AppState) -> Vec<Effect> {
    match selected_set(state) {
        Some(set_id) => {
            let pinned = state
                .retention
                .plan
                .as_ref()
                .is_some_and(|p| p.pins.iter().any(|pin| set_id == pin.set_id.as_str()));
            if pinned {
                notice::say(state, format!("unpinning {set_id}…"));
                vec![Effect::Unpin { set_id }]
            } else {
                state.modal = Some(Modal::PinNote {
                    set_id,
                    typed: String::new(),
                });
                Vec::new()
            }
        }
        None => {
            notice::say(
                state,
                "select a set on the Retention screen to pin it".into(),
            );
            Vec::new()
        }
    }
}

pub fn request_prune(state: &mut AppState) -> Vec<Effect> {
    if let Err(e) = &state.retention.policy {
        notice::say(state, format!("✗ prune is refused: {e}"));
        return Vec::new();
    }
    match &state.retention.plan {
        Some(plan) => {
            state.modal = Some(Modal::ConfirmPrune {
                sets: plan.freed.sets,
                garbage: plan.freed.garbage,
                bytes: plan.freed.total_bytes(),
            });
            Vec::new()
        }
        None => {
            notice::say(state, "the prune preview is not loaded yet".into());
            Vec::new()
        }
    }
}
