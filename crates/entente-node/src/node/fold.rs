//! The fold: entries (local or received) to formats, items, statements, alerts, coordination
//! objects and STIX rows, with every acceptance rule; the same on every holder.

use super::*;

impl Node {
    /// A stored object state (an alert, an action, an exercise, …) by kind and id.
    pub(crate) async fn load_object<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, NodeError> {
        match self.store.object(kind, id).await? {
            Some(s) => Ok(Some(
                serde_json::from_str(&s).map_err(|e| NodeError::Internal(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// Fold entries into the projections they change. Local and received entries go through
    /// this same function, so every holder computes the same state from the same entries.
    /// Entries that are authentic but semantically invalid (a revision by someone other than
    /// the originator, a duplicate id, an unknown kind) stay in the log and change nothing.
    pub(crate) async fn fold(&self, entries: &[ParsedEntry]) -> Result<Vec<Projection>, NodeError> {
        Ok(self.fold_counting(entries).await?.0)
    }

    /// [`Node::fold`], also saying which entry is the first that did not apply because what it
    /// refers to (an alert, a statement, a format) is not held yet.
    pub(crate) async fn fold_counting(
        &self,
        entries: &[ParsedEntry],
    ) -> Result<(Vec<Projection>, Option<usize>), NodeError> {
        let mut first_missing = None;
        let mut item_ids = Vec::new();
        let mut format_ids = Vec::new();
        let mut statement_ids: Vec<String> = Vec::new();
        let mut alert_ids: Vec<String> = Vec::new();
        let mut coord_keys: Vec<(&'static str, String)> = Vec::new();
        let mut parsed = Vec::with_capacity(entries.len());
        // STIX objects are only pointed at (never copied) while folding: bulk imports carry
        // hundreds of megabytes of them.
        let mut stix_refs = Vec::with_capacity(entries.len());
        for e in entries {
            if e.header.kind == "stix.objects" {
                match serde_json::from_str::<entente_domain::payload::StixObjectsRef<'_>>(
                    e.payload(),
                ) {
                    Ok(so) => stix_refs.push(Some(so)),
                    Err(err) => {
                        tracing::warn!(log = %e.header.log, seq = e.header.seq, %err, "entry kept but not projected");
                        stix_refs.push(None);
                    }
                }
                parsed.push(None);
                continue;
            }
            stix_refs.push(None);
            match Payload::parse(&e.header.kind, e.payload()) {
                Ok(p) => {
                    match &p {
                        Payload::ItemPublish(ip) => {
                            item_ids.push(ip.item_id.clone());
                            item_ids.extend(ip.released_from.as_ref().map(|r| r.item_id.clone()));
                            format_ids.push(ip.format_id.clone());
                        }
                        Payload::ItemRevise(_) | Payload::ItemRetract(_) => {
                            item_ids.push(p.subject().to_owned())
                        }
                        Payload::StixObjects(_) | Payload::StixDelete(_) => {}
                        Payload::StatementDraft(_) | Payload::StatementStance(_) => {
                            statement_ids.push(p.subject().to_owned())
                        }
                        Payload::AlertRaise(_)
                        | Payload::AlertReceipt(_)
                        | Payload::AlertAck(_) => alert_ids.push(p.subject().to_owned()),
                        Payload::Endorse(_) | Payload::Sighting(_) => {
                            item_ids.push(p.subject().to_owned());
                            coord_keys.extend(entente_domain::fold::coord_key(&p));
                        }
                        _ if entente_domain::fold::coord_key(&p).is_some() => {
                            coord_keys.extend(entente_domain::fold::coord_key(&p))
                        }
                        _ => format_ids.push(p.subject().to_owned()),
                    }
                    parsed.push(Some(p));
                }
                Err(err) => {
                    tracing::warn!(log = %e.header.log, seq = e.header.seq, %err, "entry kept but not projected");
                    parsed.push(None);
                }
            }
        }
        let mut items: HashMap<String, ItemState> = HashMap::new();
        if !item_ids.is_empty() {
            item_ids.sort();
            item_ids.dedup();
            for it in self.store.items_by_id(&item_ids).await? {
                items.insert(it.item_id.clone(), it);
            }
        }
        let mut formats: HashMap<String, Option<FormatState>> = HashMap::new();
        for id in format_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = formats.entry(id) {
                let f = self.store.format(slot.key()).await?;
                slot.insert(f);
            }
        }
        let mut statements: HashMap<String, Option<StatementState>> = HashMap::new();
        for id in statement_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = statements.entry(id) {
                let st = self.store.statement(slot.key()).await?;
                slot.insert(st);
            }
        }
        let mut touched_statements: Vec<String> = Vec::new();
        let mut alerts: std::collections::BTreeMap<
            String,
            Option<entente_domain::alert::AlertState>,
        > = Default::default();
        for id in alert_ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = alerts.entry(id) {
                let a = self
                    .load_object(entente_domain::fold::ALERT_KIND, slot.key())
                    .await?;
                slot.insert(a);
            }
        }
        let mut touched_alerts: Vec<String> = Vec::new();
        let mut coords: entente_domain::fold::CoordMap = Default::default();
        for (kind, id) in coord_keys {
            if let std::collections::btree_map::Entry::Vacant(slot) = coords.entry((kind, id)) {
                let c = self.load_object(kind, &slot.key().1).await?;
                slot.insert(c);
            }
        }
        let mut touched_coords: Vec<(&'static str, String)> = Vec::new();
        let mut rule_missing;
        let mut stix_out: Vec<Projection> = Vec::new();
        let mut touched_items: Vec<String> = Vec::new();
        let mut touched_formats: Vec<String> = Vec::new();
        for (index, ((e, p), so)) in entries.iter().zip(parsed).zip(stix_refs).enumerate() {
            if let Some(so) = so {
                self.fold_stix_objects(e, so, &mut stix_out);
                continue;
            }
            let Some(p) = p else { continue };
            let h = &e.header;
            let subject_missing = match &p {
                Payload::StatementStance(st) => {
                    !matches!(statements.get(&st.statement_id), Some(Some(_)))
                }
                Payload::FormatLeave(l) => !matches!(formats.get(&l.format_id), Some(Some(_))),
                Payload::FormatClose(c) => !matches!(formats.get(&c.format_id), Some(Some(_))),
                // L7: an item is filed only under a format its origin and audience belong to.
                // Membership may not be known here yet (the join that admits the origin can
                // arrive after its item), so it waits like a missing reference.
                Payload::ItemPublish(ip) => !matches!(
                    formats.get(&ip.format_id),
                    Some(Some(f)) if policy::item_admitted(&h.origin, &h.audience, f)
                ),
                _ => false,
            };
            rule_missing = false;
            let ok = match p {
                Payload::FormatCharter(c) => {
                    let members: std::collections::BTreeSet<_> =
                        c.members.iter().cloned().collect();
                    let slot = formats.entry(c.format_id.clone()).or_default();
                    if slot.is_none()
                        && h.origin == c.convener
                        && h.audience == policy::format_audience(&members)
                    {
                        *slot = Some(FormatState::from_charter(&c, &h.ts));
                        touched_formats.push(c.format_id.clone());
                        true
                    } else {
                        false
                    }
                }
                Payload::FormatJoin(j) => {
                    let members: std::collections::BTreeSet<_> =
                        j.charter.members.iter().cloned().collect();
                    let slot = formats.entry(j.charter.format_id.clone()).or_default();
                    let convener_ok = slot
                        .as_ref()
                        .is_none_or(|f| f.convener == h.origin && !f.closed);
                    if convener_ok
                        && h.origin == j.charter.convener
                        && members.contains(&j.partner)
                        && h.audience == policy::format_audience(&members)
                    {
                        *slot = Some(FormatState::apply_join(slot.take(), &j, &h.ts));
                        touched_formats.push(j.charter.format_id.clone());
                        true
                    } else {
                        false
                    }
                }
                Payload::FormatLeave(l) => match formats.get_mut(&l.format_id) {
                    // A member leaving, or the convener relaying another member's departure.
                    Some(Some(f))
                        if (h.origin == l.partner && f.members.contains(&l.partner))
                            || (h.origin == f.convener && l.partner != f.convener) =>
                    {
                        let relayed = h.origin != l.partner;
                        f.apply_leave(&l, relayed, &h.ts);
                        touched_formats.push(l.format_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::FormatClose(c) => match formats.get_mut(&c.format_id) {
                    Some(Some(f)) if h.origin == f.convener => {
                        f.apply_close(&c, &h.ts);
                        touched_formats.push(c.format_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::ItemPublish(ip) => {
                    // A release names an earlier item; a holder of that item checks it is the
                    // releaser's own (one partner cannot pass another's work off as released).
                    let foreign_source = ip.released_from.as_ref().is_some_and(|r| {
                        items
                            .get(&r.item_id)
                            .is_some_and(|src| src.origin != h.origin)
                    });
                    // Files are checked again on receipt: a reference the origin's node would
                    // have refused (a path in a name, a bad hash) does not apply.
                    // An id that reads as a post's file key would let the item claim the
                    // post's checked files: no node makes one, so none applies.
                    let bad_files = entente_domain::attachment::check(&ip.attachments).is_err()
                        || entente_domain::attachment::FileOwner::Item(ip.item_id.clone())
                            .key()
                            .is_none();
                    if items.contains_key(&ip.item_id)
                        || subject_missing
                        || foreign_source
                        || bad_files
                    {
                        false
                    } else {
                        let st =
                            ItemState::from_publish(&ip, &h.origin, &h.audience, &h.log, &h.ts);
                        stix_out.push(Projection::Stix(self.item_stix_row(&st)));
                        touched_items.push(ip.item_id.clone());
                        items.insert(ip.item_id.clone(), st);
                        true
                    }
                }
                Payload::ItemRevise(r) => match items.get_mut(&r.item_id) {
                    Some(it)
                        if it.origin == h.origin
                            && it.log_id == h.log
                            && it.retracted.is_none()
                            && r.attachments
                                .as_deref()
                                .is_none_or(|a| entente_domain::attachment::check(a).is_ok()) =>
                    {
                        it.apply_revise(&r, &h.ts);
                        // Items keep only their current version in the collection.
                        let row = self.item_stix_row(it);
                        drop_pending(&mut stix_out, &row.collection, &row.stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: row.collection.clone(),
                            stix_id: row.stix_id.clone(),
                        });
                        stix_out.push(Projection::Stix(row));
                        touched_items.push(r.item_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::ItemRetract(r) => match items.get_mut(&r.item_id) {
                    Some(it) if it.origin == h.origin && it.log_id == h.log => {
                        it.apply_retract(&r, &h.ts);
                        let stix_id = entente_domain::stix::item_stix_id(it);
                        drop_pending(&mut stix_out, &it.format_id, &stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: it.format_id.clone(),
                            stix_id,
                        });
                        touched_items.push(r.item_id.clone());
                        true
                    }
                    _ => false,
                },
                // Folded above, from a borrowed view.
                Payload::StixObjects(_) => true,
                Payload::StatementDraft(d) => {
                    let slot = statements.entry(d.statement_id.clone()).or_default();
                    let hash = statement_hash(&d.text, d.version, &h.audience, &d.required);
                    let version = StatementVersion {
                        version: d.version,
                        title: d.title.clone(),
                        text: d.text.clone(),
                        hash,
                        at: h.ts.clone(),
                        author: d.author.clone(),
                        entry: (h.log.clone(), h.seq),
                    };
                    let ok = match slot {
                        None => d.version == 1 && d.required.iter().all(|p| h.audience.contains(p)),
                        Some(st) => {
                            st.origin == h.origin
                                && st.audience == h.audience
                                && d.version == st.current().version + 1
                        }
                    };
                    if ok {
                        let st = slot.get_or_insert_with(|| StatementState {
                            statement_id: d.statement_id.clone(),
                            format_id: d.format_id.clone(),
                            origin: h.origin.clone(),
                            audience: h.audience.clone(),
                            rule: d.rule,
                            deadline: d.deadline.clone(),
                            required: d.required.clone(),
                            versions: vec![],
                            stances: Default::default(),
                        });
                        st.rule = d.rule;
                        st.deadline = d.deadline.clone();
                        st.required = d.required.clone();
                        st.versions.push(version);
                        touched_statements.push(d.statement_id.clone());
                    }
                    ok
                }
                Payload::StatementStance(s) => match statements.get_mut(&s.statement_id) {
                    Some(Some(st))
                        if st.audience == h.audience
                            && st.required.contains(&h.origin)
                            && st
                                .versions
                                .iter()
                                .any(|v| v.version == s.version && v.hash == s.hash) =>
                    {
                        st.stances.insert(
                            h.origin.clone(),
                            StanceRecord {
                                version: s.version,
                                stance: s.stance,
                                reason: s.reason.clone(),
                                at: h.ts.clone(),
                                author: s.author.clone(),
                                entry: (h.log.clone(), h.seq),
                            },
                        );
                        touched_statements.push(s.statement_id.clone());
                        true
                    }
                    _ => false,
                },
                p @ (Payload::ActionCreate(_)
                | Payload::ActionProgress(_)
                | Payload::ExercisePlan(_)
                | Payload::ExerciseRespond(_)
                | Payload::ExerciseLesson(_)
                | Payload::ProjectRegister(_)
                | Payload::ProjectInterest(_)
                | Payload::Endorse(_)
                | Payload::Sighting(_)
                | Payload::ThreadStart(_)
                | Payload::ThreadPost(_)
                | Payload::ThreadEdit(_)
                | Payload::ThreadRetract(_)
                | Payload::MeetingPlan(_)
                | Payload::MeetingMinutes(_)
                | Payload::PaperDraft(_)
                | Payload::PaperAmend(_)
                | Payload::PaperDecide(_)
                | Payload::PaperSignoff(_)
                | Payload::FilesSet(_)) => {
                    match entente_domain::fold::apply_coord(&mut coords, &items, &e.at(), &p) {
                        Ok(key) => {
                            touched_coords.push(key);
                            true
                        }
                        Err(missing_subject) => {
                            rule_missing = missing_subject;
                            false
                        }
                    }
                }
                p @ (Payload::AlertRaise(_) | Payload::AlertReceipt(_) | Payload::AlertAck(_)) => {
                    match entente_domain::fold::apply_alert(&mut alerts, &e.at(), &p) {
                        Ok(id) => {
                            touched_alerts.push(id);
                            true
                        }
                        Err(missing_alert) => {
                            rule_missing = missing_alert;
                            false
                        }
                    }
                }
                Payload::StixDelete(d) => {
                    let held = self
                        .store
                        .stix_query(&entente_store::StixQuery {
                            collection: d.format_id.clone(),
                            ids: vec![d.stix_id.clone()],
                            versions: entente_store::VersionFilter::All,
                            limit: 10_000,
                            ..Default::default()
                        })
                        .await?;
                    if !held.is_empty() && held.iter().all(|r| r.origin == h.origin) {
                        drop_pending(&mut stix_out, &d.format_id, &d.stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: d.format_id.clone(),
                            stix_id: d.stix_id.clone(),
                        });
                        true
                    } else {
                        false
                    }
                }
            };
            if !ok && (subject_missing || rule_missing) {
                first_missing.get_or_insert(index);
            }
            if !ok {
                tracing::warn!(log = %h.log, seq = h.seq, kind = %h.kind, "entry kept but not projected: it does not apply to the current state");
            }
        }
        touched_items.sort();
        touched_items.dedup();
        touched_formats.sort();
        touched_formats.dedup();
        let mut out = Vec::with_capacity(touched_items.len() + touched_formats.len());
        for id in touched_formats {
            if let Some(Some(f)) = formats.remove(&id) {
                out.push(Projection::Format(f));
            }
        }
        for id in touched_items {
            if let Some(i) = items.remove(&id) {
                out.push(Projection::Item(i));
            }
        }
        touched_statements.sort();
        touched_statements.dedup();
        for id in touched_statements {
            if let Some(Some(st)) = statements.remove(&id) {
                out.push(Projection::Statement(st));
            }
        }
        touched_coords.sort();
        touched_coords.dedup();
        for key in touched_coords {
            if let Some(Some(c)) = coords.remove(&key) {
                let format_id = match &c {
                    entente_domain::fold::Coord::Action(a) => a.format_id.clone(),
                    entente_domain::fold::Coord::Exercise(x) => x.plan.format_id.clone(),
                    entente_domain::fold::Coord::Project(p) => p.project.format_id.clone(),
                    entente_domain::fold::Coord::Thread(t) => t.format_id.clone(),
                    entente_domain::fold::Coord::Meeting(m) => m.plan.format_id.clone(),
                    entente_domain::fold::Coord::Paper(p) => p.format_id.clone(),
                    entente_domain::fold::Coord::Reactions(_) => String::new(),
                };
                out.extend(
                    c.file_refs()
                        .into_iter()
                        .map(|(owner, files)| Projection::Files { owner, files }),
                );
                let state =
                    serde_json::to_string(&c).map_err(|e| NodeError::Internal(e.to_string()))?;
                out.push(Projection::Object {
                    kind: key.0,
                    id: key.1,
                    format_id,
                    state,
                });
            }
        }
        touched_alerts.sort();
        touched_alerts.dedup();
        for id in touched_alerts {
            if let Some(Some(a)) = alerts.remove(&id) {
                let state =
                    serde_json::to_string(&a).map_err(|e| NodeError::Internal(e.to_string()))?;
                out.push(Projection::Object {
                    kind: entente_domain::fold::ALERT_KIND,
                    id,
                    format_id: a.format_id,
                    state,
                });
            }
        }
        out.extend(stix_out);
        Ok((out, first_missing))
    }

    /// A node-local `date_added`: UTC with microseconds, strictly increasing, so TAXII paging
    /// and `added_after` never see two objects added at the same instant.
    pub(crate) fn next_date_added(&self) -> String {
        let now = (self.clock.now().unix_timestamp_nanos() / 1000) as i64;
        let mut last = self.last_added.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(now);
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(*last as i128 * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// One collection row per valid object of a `stix.objects` entry. Each row points at the
    /// object's bytes inside the entry body, so the store can keep a single copy.
    pub(super) fn fold_stix_objects(
        &self,
        e: &ParsedEntry,
        so: entente_domain::payload::StixObjectsRef<'_>,
        stix_out: &mut Vec<Projection>,
    ) {
        let h = &e.header;
        let mut others: Option<Vec<(String, PartnerCode)>> = None;
        for raw in so.objects {
            let Ok(meta) = entente_domain::stix::validate_str(raw.get()) else {
                tracing::warn!(log = %h.log, seq = h.seq, "invalid STIX object kept in the log, not served");
                continue;
            };
            // An object may not speak for another partner (H2). The entry stays in the log,
            // signed by its origin, as evidence; it is never served. (An object id held from
            // another origin is refused by the store, which sees what is held.)
            if meta.created_by_ref.is_some() || meta.stix_type == "identity" {
                let others = others.get_or_insert_with(|| {
                    self.other_partner_identities(&h.origin, h.audience.iter())
                });
                if let Some(why) = entente_domain::stix::claims_other_partner(&meta, others) {
                    tracing::warn!(log = %h.log, seq = h.seq, %why, "STIX object kept in the log, not served");
                    self.metrics.reject("foreign_object");
                    continue;
                }
            }
            let text = raw.get();
            // The object's text is a slice of the payload, which is a slice of the body (checked:
            // no span, so the row keeps its own copy, if that ever stops holding).
            let span = text
                .as_ptr()
                .addr()
                .checked_sub(e.body.as_ptr().addr())
                .filter(|start| start + text.len() <= e.body.len())
                .map(|start| entente_store::StixSpan {
                    seq: h.seq,
                    start,
                    len: text.len(),
                });
            let date_added = self.next_date_added();
            stix_out.push(Projection::Stix(entente_store::StixRow {
                collection: so.format_id.clone(),
                version: meta.version.clone().unwrap_or_else(|| date_added.clone()),
                // Unmarked means most restrictive.
                tlp: meta.tlp().unwrap_or(Tlp::Red),
                stix_id: meta.id,
                stix_type: meta.stix_type,
                spec_version: meta.spec_version,
                date_added,
                origin: h.origin.clone(),
                audience: h.audience.clone(),
                author: so.author.clone(),
                named_users: vec![],
                raw: if span.is_some() {
                    String::new()
                } else {
                    text.to_owned()
                },
                single_version: false,
                span,
            }));
        }
    }

    /// The identities an object signed by `origin` may not claim (see
    /// [`entente_domain::stix::claims_other_partner`]): those of every other partner this node
    /// knows, itself, its pinned peers and `audience`.
    pub(crate) fn other_partner_identities<'a>(
        &self,
        origin: &PartnerCode,
        audience: impl IntoIterator<Item = &'a PartnerCode>,
    ) -> Vec<(String, PartnerCode)> {
        let mut known: Vec<PartnerCode> = vec![self.partner().clone()];
        known.extend(
            self.peers
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned(),
        );
        known.extend(audience.into_iter().cloned());
        entente_domain::stix::other_partner_identities(origin, &known)
    }

    pub(super) fn item_stix_row(&self, it: &ItemState) -> entente_store::StixRow {
        entente_store::StixRow {
            collection: it.format_id.clone(),
            stix_id: entente_domain::stix::item_stix_id(it),
            stix_type: entente_domain::stix::stix_type_of(it.kind).to_owned(),
            version: it.updated_at.clone(),
            spec_version: "2.1".into(),
            date_added: self.next_date_added(),
            origin: it.origin.clone(),
            audience: it.audience.clone(),
            tlp: it.tlp,
            author: it.author.clone(),
            named_users: it.named_users.clone(),
            // Rendered when served (see `taxii`): cheaper to store, and always the current version.
            raw: format!("{ITEM_MARKER}{}", it.item_id),
            single_version: true,
            span: None,
        }
    }
}

/// Drop rows a fold was about to add for this object (it is being replaced or removed).
pub(super) fn drop_pending(out: &mut Vec<Projection>, collection: &str, stix_id: &str) {
    out.retain(
        |p| !matches!(p, Projection::Stix(r) if r.collection == collection && r.stix_id == stix_id),
    );
}
