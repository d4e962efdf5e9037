//! The fold's rules give every holder the same state. Entries of several partners' logs reach a
//! node in any interleaving (each log in its own order); an entry whose reference is not held
//! yet waits and is retried as others apply, as the node's sync passes do. Whatever the
//! interleaving, the coordination and alert states come out the same.

use entente_domain::fold::{At, Coord, CoordMap, apply_alert, apply_coord};
use entente_domain::{Audience, ItemState, PartnerCode, Payload};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

struct Entry {
    log: String,
    seq: u64,
    origin: PartnerCode,
    ts: String,
    payload: Payload,
}

fn code(s: &str) -> PartnerCode {
    PartnerCode::parse(s).unwrap()
}

/// (timestamp, kind, payload JSON) of one entry.
type Spec = (&'static str, &'static str, String);

/// Three logs that refer to each other's objects: an action led by EU with reports from all
/// three, an exercise planned by NATO with responses and lessons, a project NATO registers
/// after EU has shown interest, and an EU alert that NATO and JPN receive and acknowledge
/// (JPN's acknowledgement is in its log before NATO's receipt).
fn logs() -> Vec<Vec<Entry>> {
    let all = r#"["EU","NATO","JPN"]"#;
    let eu: Vec<Spec> = vec![
        (
            "2027-01-01T10:00:00Z",
            "action.create",
            format!(
                r#"{{"action_id":"a1","format_id":"f1","title":"Cable survey","topics":["maritime-security"],"leads":["EU"],"participants":{all},"milestones":[{{"milestone_id":"m1","title":"Survey","due":"2027-02-01"}},{{"milestone_id":"m2","title":"Report","due":"2027-03-01"}}],"author":"ana@EU"}}"#
            ),
        ),
        (
            "2027-01-01T10:01:00Z",
            "alert.raise",
            r#"{"alert_id":"al1","format_id":"f1","severity":"high","title":"Cable cut","text":"","ack_deadline":"2027-01-01T12:00:00Z","author":"ana@EU"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:05:00Z",
            "action.progress",
            r#"{"action_id":"a1","report_id":"r-eu","period":"2027-01","status":"in_progress","narrative":"","milestones":[{"milestone_id":"m1","done":true,"note":"EU done"}],"author":"ana@EU"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:06:00Z",
            "project.interest",
            r#"{"project_id":"p1","note":"EU wants in","author":"ana@EU"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:07:00Z",
            "exercise.respond",
            r#"{"exercise_id":"x1","response":"participate","author":"ana@EU"}"#.to_owned(),
        ),
    ];
    let nato: Vec<Spec> = vec![
        (
            "2027-01-01T10:00:30Z",
            "exercise.plan",
            r#"{"exercise_id":"x1","format_id":"f1","name":"Steadfast","start":"2027-03-01","end":"2027-03-05","topics":["exercises"],"invited":["EU","JPN"],"observers":[],"author":"bo@NATO"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:02:00Z",
            "alert.receipt",
            r#"{"alert_id":"al1"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:03:00Z",
            "action.progress",
            r#"{"action_id":"a1","report_id":"r-nato","period":"2027-01","status":"stalled","narrative":"","milestones":[{"milestone_id":"m1","done":false,"note":"NATO disagrees"}],"author":"bo@NATO"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:04:00Z",
            "alert.ack",
            r#"{"alert_id":"al1","by":"bo@NATO","note":"on it"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:08:00Z",
            "project.register",
            format!(
                r#"{{"project_id":"p1","format_id":"f1","title":"Drones","capability_area":"uas","stage":"concept","participants":{all},"author":"bo@NATO"}}"#
            ),
        ),
    ];
    let jpn: Vec<Spec> = vec![
        (
            "2027-01-01T10:02:30Z",
            "alert.ack",
            r#"{"alert_id":"al1","by":"ken@JPN","note":""}"#.to_owned(),
        ),
        (
            "2027-01-01T10:04:00Z",
            "action.progress",
            r#"{"action_id":"a1","report_id":"r-jpn","period":"2027-01","status":"agreed","narrative":"","milestones":[{"milestone_id":"m2","done":true,"note":"JPN"}],"author":"ken@JPN"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:05:00Z",
            "exercise.respond",
            r#"{"exercise_id":"x1","response":"observe","author":"ken@JPN"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:06:00Z",
            "exercise.lesson",
            r#"{"exercise_id":"x1","item_id":"i-2","author":"ken@JPN"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:09:00Z",
            "project.interest",
            r#"{"project_id":"p1","note":"JPN too","author":"ken@JPN"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:10:00Z",
            "exercise.lesson",
            r#"{"exercise_id":"x1","item_id":"i-1","author":"ken@JPN"}"#.to_owned(),
        ),
        (
            "2027-01-01T10:11:00Z",
            "action.progress",
            r#"{"action_id":"a1","report_id":"r-jpn2","period":"2027-01","status":"implemented","narrative":"","milestones":[],"author":"ken@JPN"}"#.to_owned(),
        ),
    ];
    [("EU", eu), ("NATO", nato), ("JPN", jpn)]
        .into_iter()
        .map(|(origin, entries)| {
            entries
                .into_iter()
                .enumerate()
                .map(|(i, (ts, kind, json))| Entry {
                    log: format!("log-{origin}"),
                    seq: i as u64 + 1,
                    origin: code(origin),
                    ts: ts.to_owned(),
                    payload: Payload::parse(kind, &json).unwrap_or_else(|e| panic!("{kind}: {e}")),
                })
                .collect()
        })
        .collect()
}

#[derive(Default)]
struct State {
    coords: CoordMap,
    alerts: BTreeMap<String, Option<entente_domain::alert::AlertState>>,
}

impl State {
    /// Ok(true): applied; Ok(false): does not apply (kept, unprojected); Err(()): waits for
    /// what it refers to.
    fn apply(&mut self, e: &Entry, audience: &Audience) -> Result<bool, ()> {
        let items: HashMap<String, ItemState> = HashMap::new();
        let at = At {
            log: &e.log,
            seq: e.seq,
            origin: &e.origin,
            audience,
            ts: &e.ts,
        };
        let r = match &e.payload {
            p @ (Payload::AlertRaise(_) | Payload::AlertReceipt(_) | Payload::AlertAck(_)) => {
                apply_alert(&mut self.alerts, &at, p).map(|_| ())
            }
            p => apply_coord(&mut self.coords, &items, &at, p).map(|_| ()),
        };
        match r {
            Ok(()) => Ok(true),
            Err(true) => Err(()),
            Err(false) => Ok(false),
        }
    }

    fn snapshot(&self) -> String {
        // An empty slot is where the fold looked and found nothing: not state.
        let coords: BTreeMap<String, &Coord> = self
            .coords
            .iter()
            .filter_map(|((k, id), v)| Some((format!("{k}/{id}"), v.as_ref()?)))
            .collect();
        let alerts: BTreeMap<&String, _> = self
            .alerts
            .iter()
            .filter_map(|(id, a)| Some((id, a.as_ref()?)))
            .collect();
        serde_json::to_string(&(coords, alerts)).unwrap()
    }
}

/// Fold the logs in the order `pick` chooses (each pick names one of the logs not yet
/// exhausted; past the picks, the first open log), retrying waiting entries after every entry
/// that applies. Returns the state and how many entries still wait.
fn fold(pick: &[usize]) -> (String, usize) {
    let logs = logs();
    let audience = Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
    let mut next = vec![0usize; logs.len()];
    let mut state = State::default();
    let mut waiting: Vec<&Entry> = vec![];
    let mut picks = pick.iter();
    loop {
        let open: Vec<usize> = (0..logs.len())
            .filter(|&l| next[l] < logs[l].len())
            .collect();
        if open.is_empty() {
            break;
        }
        let l = open[picks.next().copied().unwrap_or(0) % open.len()];
        let e = &logs[l][next[l]];
        next[l] += 1;
        match state.apply(e, &audience) {
            Err(()) => waiting.push(e),
            Ok(_) => loop {
                // Retry what waits, in the order it arrived, until a pass applies nothing.
                let before = waiting.len();
                waiting.retain(|w| state.apply(w, &audience).is_err());
                if waiting.len() == before {
                    break;
                }
            },
        }
    }
    (state.snapshot(), waiting.len())
}

#[test]
fn log_by_log_folds_every_entry() {
    let (state, waiting) = fold(&[]);
    assert_eq!(waiting, 0, "every reference is held at the end: {state}");
    for want in [
        r#""status":"implemented""#,
        r#""exercise/x1""#,
        r#""project/p1""#,
        r#""ken@JPN""#,
        r#""lessons":["i-1","i-2"]"#,
        r#""JPN too""#,
    ] {
        assert!(state.contains(want), "{want} not in {state}");
    }
}

proptest! {
    #[test]
    fn any_interleaving_of_the_logs_folds_to_the_same_state(
        pick in proptest::collection::vec(0usize..6, 0..40)
    ) {
        let (reference, _) = fold(&[]);
        let (state, waiting) = fold(&pick);
        prop_assert_eq!(waiting, 0);
        prop_assert_eq!(state, reference);
    }
}

#[test]
fn a_peers_exercise_plan_that_breaks_the_rule_is_not_applied() {
    let audience = Audience::new([code("EU"), code("NATO")]).unwrap();
    let bad = Entry {
        log: "log-NATO".into(),
        seq: 1,
        origin: code("NATO"),
        ts: "2027-01-01T10:00:00Z".into(),
        payload: Payload::parse(
            "exercise.plan",
            r#"{"exercise_id":"x9","format_id":"f1","name":"   ","start":"2027-03-05","end":"2027-03-01","topics":[],"invited":["EU"],"observers":[],"author":"bo@NATO"}"#,
        )
        .unwrap(),
    };
    let mut s = State::default();
    assert_eq!(s.apply(&bad, &audience), Ok(false));
    assert!(!s.snapshot().contains("x9"));
}
