//! DynamoDB capacity a call consumes, estimated from the items it sends and receives, as
//! DynamoDB's on-demand pricing counts it (moto reports a constant, so it is worked out here):
//! - a write is one unit per KB of the item (rounded up), once for the table and once more for
//!   every index the item is in (the table's three indexes project every attribute); inside a
//!   transaction, twice that;
//! - a read is one unit per 4 KB read (rounded up, a query's items together), half that when
//!   eventually consistent.
//!
//! An update or a delete does not send the whole item: it is counted from the key and the
//! values it sends (at least one unit), a lower bound where the stored item is larger.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemInput, get_item::GetItemInput, get_item::GetItemOutput,
    put_item::PutItemInput, query::QueryInput, query::QueryOutput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};

type Item = HashMap<String, AttributeValue>;

/// Read and write units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, o: Self) {
        self.read += o.read;
        self.write += o.write;
    }
}

impl std::fmt::Display for Units {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} read units, {:.0} write units",
            self.read, self.write
        )
    }
}

/// The size DynamoDB gives a value, in bytes.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => 3 + item_size(m) + m.len(),
        _ => 1,
    }
}

/// The size of an item: its attribute names and values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units for one item of `size` bytes, counting the indexes it is in.
fn write_units(item: &Item, size: usize) -> f64 {
    let indexes = ["gsi1pk", "gsi2pk", "gsi3pk"]
        .iter()
        .filter(|k| item.contains_key(**k))
        .count();
    (size.div_ceil(1024).max(1) * (1 + indexes)) as f64
}

fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Whether a read asked for strong consistency (kept from the request for its response).
#[derive(Debug, Clone, Copy)]
pub struct Consistent(pub bool);

impl aws_smithy_types::config_bag::Storable for Consistent {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// What a request is known to consume before it is sent (writes), and whether a read is
/// strongly consistent.
pub fn of_request(input: &Input) -> (Units, Option<Consistent>) {
    let sent = |key: Option<&Item>, values: Option<&Item>| {
        key.map_or(0, item_size) + values.map_or(0, item_size)
    };
    let mut w = 0.0;
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        let item = i.item().cloned().unwrap_or_default();
        w = write_units(&item, item_size(&item));
    } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        let key = i.key().cloned().unwrap_or_default();
        w = write_units(&key, sent(i.key(), i.expression_attribute_values()));
    } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        let key = i.key().cloned().unwrap_or_default();
        w = write_units(&key, item_size(&key));
    } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
        for t in tx.transact_items() {
            w += 2.0
                * if let Some(p) = t.put() {
                    write_units(p.item(), item_size(p.item()))
                } else if let Some(u) = t.update() {
                    write_units(
                        u.key(),
                        sent(Some(u.key()), u.expression_attribute_values()),
                    )
                } else if let Some(d) = t.delete() {
                    write_units(d.key(), item_size(d.key()))
                } else if let Some(c) = t.condition_check() {
                    write_units(c.key(), item_size(c.key()))
                } else {
                    0.0
                };
        }
    } else if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return (
            Units::default(),
            Some(Consistent(i.consistent_read().unwrap_or(false))),
        );
    } else if let Some(i) = input.downcast_ref::<QueryInput>() {
        return (
            Units::default(),
            Some(Consistent(i.consistent_read().unwrap_or(false))),
        );
    }
    (
        Units {
            read: 0.0,
            write: w,
        },
        None,
    )
}

/// What a read consumed, from the items it returned.
pub fn of_response(output: &Output, consistent: bool) -> Units {
    let read = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
        read_units(o.item().map_or(0, item_size), consistent)
    } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
        read_units(o.items().iter().map(item_size).sum(), consistent)
    } else {
        0.0
    };
    Units { read, write: 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn sizes_and_units_follow_dynamodbs_rules() {
        let small = item(&[
            ("pk", AttributeValue::S("REQ#1".into())),
            ("n", AttributeValue::N("12345".into())),
        ]);
        assert_eq!(item_size(&small), 2 + 5 + 1 + 4);
        assert_eq!(write_units(&small, item_size(&small)), 1.0);
        let mut big = small.clone();
        big.insert("body".into(), AttributeValue::S("x".repeat(2_000)));
        big.insert("gsi1pk".into(), AttributeValue::S("P".into()));
        // 2 KB rounded up to 2 units, written to the table and to one index.
        assert_eq!(write_units(&big, item_size(&big)), 4.0);
        assert_eq!(read_units(5_000, true), 2.0);
        assert_eq!(read_units(5_000, false), 1.0);
        assert_eq!(read_units(0, false), 0.5);
    }
}
