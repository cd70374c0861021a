//! Rendering: pure functions from state and job results to what a person reads. Plain-text
//! reports for the headless commands live in `report`; the console's screens join them.

pub mod format;
pub mod report;
