//! The chat cards posted about a request, on the ledger's table: `REQ#<id>` / `CARD#<key>`,
//! the [`Card`] as JSON in `data`. They live beside the request, so one query finds every card
//! to draw again.

use jit_core::ports::{Card, CardStore, StoreError};
use jit_core::types::RequestId;

use crate::dynamo::{parse, req_pk, s, store_fault, unknown, DynamoStore};
use crate::error::fault;

impl CardStore for DynamoStore {
    async fn put_card(&self, request: &RequestId, card: &Card) -> Result<(), StoreError> {
        let data = serde_json::to_string(card).map_err(unknown)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(req_pk(request)))
            .item("sk", s(format!("CARD#{}", card.key)))
            .item("data", s(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_fault(fault(e)))
    }

    async fn cards(&self, request: &RequestId) -> Result<Vec<Card>, StoreError> {
        // Consistent: a card posted by the previous notice must be seen, or it is posted twice.
        // A request has a handful of cards, well inside one page.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :c)")
            .expression_attribute_values(":p", s(req_pk(request)))
            .expression_attribute_values(":c", s("CARD#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        out.items().iter().map(parse).collect()
    }
}
