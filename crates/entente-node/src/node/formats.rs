//! Format operations: create (by hand or from a template), join, leave, close, relay departures,
//! and reading formats.

use super::*;

impl Node {
    pub async fn create_format(
        &self,
        who: &Principal,
        nf: NewFormat,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "create formats")?;
        let members = nf
            .members
            .iter()
            .map(|m| self.parse_known_partner(m))
            .collect::<Result<Vec<_>, _>>()?;
        let stix_default_releasable_to = nf
            .stix_default_releasable_to
            .map(|d| {
                d.iter()
                    .map(|m| self.parse_known_partner(m))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let mut charter = FormatCharter {
            format_id: new_id(),
            title: nf.title,
            description: nf.description,
            topics: nf.topics,
            members,
            convener: self.partner().clone(),
            stix_default_releasable_to,
        };
        validate_charter(&mut charter)?;
        self.charter(charter).await
    }

    pub(super) async fn charter(&self, charter: FormatCharter) -> Result<FormatState, NodeError> {
        let members = charter.members.iter().cloned().collect();
        let aud = policy::format_audience(&members);
        let id = charter.format_id.clone();
        self.publish(&aud, &[Payload::FormatCharter(charter)])
            .await?;
        self.store
            .format(&id)
            .await?
            .ok_or(NodeError::Internal("format not projected".into()))
    }

    /// Create the "Transatlantic+ \<partner\>" set of formats (EU + NATO + partner).
    pub async fn create_from_template(
        &self,
        who: &Principal,
        partner: &str,
    ) -> Result<Vec<FormatState>, NodeError> {
        who.require(Role::Officer, "create formats")?;
        let partner = self.parse_known_partner(partner)?;
        for p in ["EU", "NATO"] {
            self.parse_known_partner(p)?;
        }
        let mut out = vec![];
        for mut c in FormatTemplate::charters(&partner, self.partner(), &mut new_id) {
            validate_charter(&mut c)?;
            out.push(self.charter(c).await?);
        }
        Ok(out)
    }

    /// The convener admits a partner to a format.
    pub async fn join_format(
        &self,
        who: &Principal,
        format_id: &str,
        partner: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "admit members")?;
        let f = self.format(format_id).await?;
        policy::may_convene(self.partner(), &f)?;
        let partner = self.parse_known_partner(partner)?;
        if f.members.contains(&partner) {
            return Err(NodeError::Conflict(format!(
                "{partner} is already a member"
            )));
        }
        // Departures are final (see `FormatState::departed`): that is what lets every node
        // agree on the members whatever order joins and leaves reach it in.
        if f.departed.contains(&partner) {
            return Err(NodeError::Conflict(format!(
                "{partner} has left this format and cannot be admitted again; convene a new format"
            )));
        }
        let mut charter = f.charter();
        charter.members.push(partner.clone());
        charter.members.sort();
        let aud = policy::format_audience(&charter.members.iter().cloned().collect());
        self.publish(
            &aud,
            &[Payload::FormatJoin(FormatJoin { partner, charter })],
        )
        .await?;
        self.format(format_id).await
    }

    /// Relay, as convener, other members' departures to the members that remain (run after
    /// every sync round). A partner admitted while a leave was on its way is not in that leave's
    /// audience; without the relay it would go on counting the leaver as a member, and releasing
    /// to it. Returns how many departures were relayed.
    pub async fn relay_departures(&self) -> Result<usize, NodeError> {
        let _one_at_a_time = self.owed_lock.lock().await;
        let mut relayed = 0;
        for f in self.store.formats().await? {
            if &f.convener != self.partner() || f.closed || !f.members.contains(self.partner()) {
                continue;
            }
            let aud = policy::format_audience(&f.members);
            for partner in f.unrelayed() {
                let relay = FormatLeave {
                    format_id: f.format_id.clone(),
                    partner,
                };
                self.publish(&aud, &[Payload::FormatLeave(relay)]).await?;
                relayed += 1;
            }
        }
        Ok(relayed)
    }

    /// This node's partner leaves a format.
    pub async fn leave_format(
        &self,
        who: &Principal,
        format_id: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "leave formats")?;
        let f = self.format(format_id).await?;
        if !f.members.contains(self.partner()) {
            return Err(entente_domain::PolicyError::NotAMember(self.partner().clone()).into());
        }
        let aud = policy::format_audience(&f.members);
        let leave = FormatLeave {
            format_id: format_id.to_owned(),
            partner: self.partner().clone(),
        };
        self.publish(&aud, &[Payload::FormatLeave(leave)]).await?;
        self.format(format_id).await
    }

    pub async fn close_format(
        &self,
        who: &Principal,
        format_id: &str,
        reason: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "close formats")?;
        let f = self.format(format_id).await?;
        policy::may_convene(self.partner(), &f)?;
        let aud = policy::format_audience(&f.members);
        let close = FormatClose {
            format_id: format_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.publish(&aud, &[Payload::FormatClose(close)]).await?;
        self.format(format_id).await
    }

    pub async fn formats(&self) -> Result<Vec<FormatState>, NodeError> {
        Ok(self.store.formats().await?)
    }

    pub async fn format(&self, format_id: &str) -> Result<FormatState, NodeError> {
        self.store
            .format(format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))
    }
}
