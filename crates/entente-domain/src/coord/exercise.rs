//! Exercises: what a planner writes (declared once, with its one rule), the signed payloads of
//! planning, responding and lessons, and the state every holder folds from them.

use super::is_date;
use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExerciseResponse {
    Participate,
    Observe,
    Decline,
}

impl ExerciseResponse {
    pub fn label(self) -> &'static str {
        match self {
            ExerciseResponse::Participate => "participates",
            ExerciseResponse::Observe => "observes",
            ExerciseResponse::Decline => "declines",
        }
    }
}

/// What an exercise is: every field its planner writes, declared once. The request to plan
/// one ([`NewExercise`]), the signed payload ([`ExercisePlan`]), the state every holder folds
/// ([`ExerciseState`]), the REST answer and the OpenAPI schema all carry this struct (flattened,
/// so the JSON is one flat object), and [`ExerciseDetails::check`] is its one rule, run when an
/// exercise is planned and again when a peer's plan arrives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExerciseDetails {
    pub name: String,
    /// First day, YYYY-MM-DD.
    pub start: String,
    /// Last day, YYYY-MM-DD, not before `start`.
    pub end: String,
    pub topics: Vec<String>,
    /// Where it takes place: a place or a virtual link, at most 200 characters. Absent in plans
    /// signed before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
}

impl ExerciseDetails {
    /// The one rule for an exercise's own fields. Pure, and it rewrites nothing: a peer's signed
    /// plan is checked as it is.
    pub fn check(&self) -> Result<(), DomainError> {
        if self.name.trim().is_empty() {
            return Err(DomainError::invalid("name", "a name is required"));
        }
        if !is_date(&self.start) || !is_date(&self.end) || self.end < self.start {
            return Err(DomainError::invalid(
                "dates",
                "start and end are YYYY-MM-DD and end is not before start",
            ));
        }
        if self.location.chars().count() > 200 {
            return Err(DomainError::invalid("location", "at most 200 characters"));
        }
        if self.location.chars().any(crate::text::is_display_hazard) {
            return Err(DomainError::invalid(
                "location",
                "control or direction-changing characters are not allowed",
            ));
        }
        Ok(())
    }
}

/// A request to plan an exercise (`POST /api/v1/exercises`, the web form).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewExercise {
    pub format_id: String,
    #[serde(flatten)]
    pub details: ExerciseDetails,
    /// Partner codes of the format's members taking part.
    pub invited: Vec<String>,
    /// Partner codes of members who watch.
    #[serde(default)]
    pub observers: Vec<String>,
}

/// The signed payload of `exercise.plan`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExercisePlan {
    pub exercise_id: String,
    pub format_id: String,
    #[serde(flatten)]
    pub details: ExerciseDetails,
    pub invited: Vec<PartnerCode>,
    pub observers: Vec<PartnerCode>,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExerciseRespond {
    pub exercise_id: String,
    pub response: ExerciseResponse,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExerciseLesson {
    pub exercise_id: String,
    /// The id of a lesson-learned item.
    pub item_id: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExerciseState {
    pub plan: ExercisePlan,
    pub organiser: PartnerCode,
    pub audience: Audience,
    pub responses: BTreeMap<PartnerCode, ExerciseResponse>,
    pub lessons: Vec<String>,
}

pub fn validate_exercise(
    e: &mut ExercisePlan,
    members: &BTreeSet<PartnerCode>,
) -> Result<(), DomainError> {
    let d = &mut e.details;
    d.name = d.name.trim().to_owned();
    d.check()?;
    d.topics = crate::taxonomy::normalise(&d.topics)?;
    for p in e.invited.iter().chain(&e.observers) {
        if !members.contains(p) {
            return Err(DomainError::invalid(
                "invited",
                format!("{p} is not a member of the format"),
            ));
        }
    }
    Ok(())
}
