//! The chat channel of the outbox ([`Chat`] for Slack): posts a card to each approver asked
//! (by direct message, or once in the flow's channel), tells the requester what happened,
//! announces break-glass grants, and draws every card about a request again on each change,
//! wherever it was made (Slack, email link, portal, CLI), so no stale button stays live.
//!
//! Delivery is at least once. A card is posted once per approver and request (its key is
//! looked up first); a notice that comes again only redraws. A card remembers the request
//! version it shows, so a late notice never draws an older state over a newer one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jit_core::catalog::Catalog;
use jit_core::lifecycle::Request;
use jit_core::ports::{Card, CardStore, Chat, MailError, Notice, PromptNote, StoreError};
use jit_core::types::{Email, GrantDuration, RequestId};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::blocks;
use crate::web::{SlackError, SlackWeb};

/// Slack as the outbox's chat channel.
pub struct SlackChat<W, K> {
    web: W,
    cards: K,
    catalog: Arc<Catalog>,
    portal: Option<String>,
    /// Slack user ids by email, for direct messages (one lookup a person per process).
    ids: Mutex<HashMap<Email, Option<String>>>,
}

fn store_error(e: StoreError) -> MailError {
    MailError::Unknown(anyhow::anyhow!(e))
}

fn mail_error(e: SlackError) -> MailError {
    match e {
        SlackError::Retryable(m) => MailError::Retryable(m),
        other => MailError::Unknown(anyhow::anyhow!(other)),
    }
}

impl<W: SlackWeb, K: CardStore> SlackChat<W, K> {
    /// Slack through `web`, keeping cards in `cards`; cards name `catalog`'s bundles and open
    /// `portal` where a flow wants approval there.
    pub fn new(web: W, cards: K, catalog: Arc<Catalog>, portal: Option<String>) -> Self {
        Self {
            web,
            cards,
            catalog,
            portal,
            ids: Mutex::default(),
        }
    }

    /// The Web API client.
    pub fn web(&self) -> &W {
        &self.web
    }

    /// The Slack user id of `person`, or `None` when nobody in the workspace has that email.
    pub async fn user_id(&self, person: &Email) -> Result<Option<String>, SlackError> {
        if let Some(known) = self
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(person)
        {
            return Ok(known.clone());
        }
        let id = match self
            .web
            .call("users.lookupByEmail", json!({ "email": person.as_str() }))
            .await
        {
            Ok(v) => v["user"]["id"].as_str().map(str::to_string),
            Err(e) if e.code() == Some("users_not_found") => None,
            Err(e) => return Err(e),
        };
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(person.clone(), id.clone());
        Ok(id)
    }

    /// Posts a message and keeps it as `key` among the cards of `id` (a request or a prompt),
    /// showing `version` of it.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        id: &RequestId,
        version: u64,
        key: String,
        channel: &str,
        text: String,
        blocks: Vec<Value>,
        live: bool,
    ) -> Result<(), MailError> {
        let answer = self
            .web
            .call(
                "chat.postMessage",
                json!({ "channel": channel, "text": text, "blocks": blocks,
                        "unfurl_links": false }),
            )
            .await
            .map_err(mail_error)?;
        let card = Card {
            key,
            channel: answer["channel"].as_str().unwrap_or(channel).to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
            live,
            version,
        };
        self.cards.put_card(id, &card).await.map_err(store_error)
    }

    /// What a message to the requester offers to extend by: only when it warns of the
    /// current expiry and the flow allows extensions (the API decides the rest).
    fn extend_offer(&self, req: &Request) -> Option<GrantDuration> {
        let warned = req.warned_for.is_some() && req.warned_for == req.expires_at;
        let extendable = self
            .catalog
            .flows
            .get(&req.flow)
            .is_some_and(|f| f.extendable);
        (warned && extendable).then(|| GrantDuration::parse(blocks::EXTEND_BY).expect("1h"))
    }

    /// Offers the bundles of an access-denied prompt to the person in their direct messages,
    /// once (kept as the prompt's `prompt` card).
    async fn offer(&self, note: &PromptNote) -> Result<(), MailError> {
        let p = &note.prompt;
        let cards = self.cards.cards(&p.id).await.map_err(store_error)?;
        if cards.iter().any(|c| c.key == "prompt") {
            return Ok(());
        }
        let Some(uid) = self.user_id(&p.denied.person).await.map_err(mail_error)? else {
            info!(prompt_id = %p.id, "no Slack user has this person's email; they have the email");
            return Ok(());
        };
        let blocks = blocks::prompt_message(note, &self.catalog);
        self.post(
            &p.id,
            p.version,
            "prompt".into(),
            &uid,
            blocks::prompt_text(p),
            blocks,
            false,
        )
        .await
    }

    async fn redraw(&self, req: &Request, card: &Card) -> Result<(), MailError> {
        let blocks = blocks::approval_card(req, &self.catalog, self.portal.as_deref());
        match self
            .web
            .call(
                "chat.update",
                json!({ "channel": card.channel, "ts": card.ts,
                        "text": blocks::card_text(req), "blocks": blocks }),
            )
            .await
        {
            Ok(_) => {}
            // Deleted by someone in Slack: nothing to draw on.
            Err(e) if e.code() == Some("message_not_found") => {}
            Err(e) => return Err(mail_error(e)),
        }
        let drawn = Card {
            version: req.version,
            ..card.clone()
        };
        self.cards
            .put_card(&req.id, &drawn)
            .await
            .map_err(store_error)
    }
}

impl<W: SlackWeb, K: CardStore> Chat for SlackChat<W, K> {
    async fn deliver(&self, notice: &Notice) -> Result<(), MailError> {
        if let Some(note) = &notice.prompt {
            return self.offer(note).await;
        }
        let Some(note) = &notice.chat else {
            return Ok(());
        };
        let req = &note.request;
        let cards = self.cards.cards(&req.id).await.map_err(store_error)?;
        let has = |key: &str| cards.iter().any(|c| c.key == key);
        let card_blocks = || blocks::approval_card(req, &self.catalog, self.portal.as_deref());
        // Cards to the approvers just asked: one in the flow's channel, or one each.
        if !note.ask.is_empty() {
            match &req.plan.chat_channel {
                Some(channel) => {
                    let key = format!("ask:{channel}:{}", req.tier);
                    if !has(&key) {
                        self.post(
                            &req.id,
                            req.version,
                            key,
                            channel.as_str(),
                            blocks::card_text(req),
                            card_blocks(),
                            true,
                        )
                        .await?;
                    }
                }
                None => {
                    for approver in &note.ask {
                        let key = format!("ask:{approver}");
                        if has(&key) {
                            continue;
                        }
                        match self.user_id(approver).await.map_err(mail_error)? {
                            Some(uid) => {
                                self.post(
                                    &req.id,
                                    req.version,
                                    key,
                                    &uid,
                                    blocks::card_text(req),
                                    card_blocks(),
                                    true,
                                )
                                .await?
                            }
                            None => {
                                info!(request_id = %req.id, approver = %approver, "no Slack user has this approver's email; they have the email")
                            }
                        }
                    }
                }
            }
        }
        if let Some(line) = &note.tell {
            let key = format!("tell:{}", notice.key);
            if !has(&key) {
                if let Some(uid) = self.user_id(&req.requester).await.map_err(mail_error)? {
                    self.post(
                        &req.id,
                        req.version,
                        key,
                        &uid,
                        blocks::escape(line, 1500),
                        blocks::requester_message(req, line, self.extend_offer(req)),
                        false,
                    )
                    .await?;
                }
            }
        }
        if note.announce {
            if let Some(channel) = &req.plan.chat_channel {
                let key = "announce".to_string();
                if !has(&key) {
                    let text = format!("Break-glass: {} took {}", req.requester, req.bundle);
                    self.post(
                        &req.id,
                        req.version,
                        key,
                        channel.as_str(),
                        text,
                        blocks::break_glass(req),
                        false,
                    )
                    .await?;
                }
            }
        }
        for card in cards.iter().filter(|c| c.live && c.version < req.version) {
            if let Err(e) = self.redraw(req, card).await {
                warn!(request_id = %req.id, card = %card.key, error = %e, "card not redrawn");
                return Err(e);
            }
        }
        Ok(())
    }
}
