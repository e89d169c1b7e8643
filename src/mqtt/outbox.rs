//! What waits to be published, bounded so a broker outage costs a fixed amount of memory.
//!
//! - Topic messages (states, availability, widgets, discovery configs): at most ONE pending
//!   payload per topic; a newer payload replaces the waiting one in place. Memory is bounded
//!   by the number of topics hmm uses, however long the broker is away.
//! - Events (`hmm/event`, not retained): a ring of [`MAX_EVENTS`]; when it is full the
//!   oldest event is dropped and counted.
//! - The *mirror*: the newest retained payload of every state-like topic, re-queued on
//!   every (re)connect, because with a clean session anything handed to the client before
//!   the connection dropped may be lost. Discovery configs are not mirrored: they are
//!   rebuilt from the catalog on each announce.

use std::collections::{HashMap, VecDeque};

/// Events kept while the broker is away.
pub const MAX_EVENTS: usize = 64;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) retain: bool,
}

/// The queue of pending messages and the mirror of retained state.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    order: VecDeque<String>,
    pending: HashMap<String, (Vec<u8>, bool)>,
    events: VecDeque<Vec<u8>>,
    mirror: HashMap<String, Vec<u8>>,
    pending_bytes: usize,
    /// Events dropped because the ring was full.
    pub(crate) events_dropped: u64,
    /// Pending payloads replaced by a newer one before they were sent.
    pub(crate) superseded: u64,
}

impl Outbox {
    /// Queues `payload` for `topic`, replacing a payload still waiting for that topic.
    pub(crate) fn put(&mut self, topic: &str, payload: Vec<u8>, retain: bool) {
        let len = payload.len();
        match self.pending.insert(topic.to_string(), (payload, retain)) {
            Some((old, _)) => {
                self.pending_bytes -= old.len();
                self.superseded += 1;
            }
            None => self.order.push_back(topic.to_string()),
        }
        self.pending_bytes += len;
    }

    /// Queues a message to go before everything else (the `online` status on connect).
    pub(crate) fn put_first(&mut self, topic: &str, payload: Vec<u8>, retain: bool) {
        if let Some((old, _)) = self.pending.remove(topic) {
            self.pending_bytes -= old.len();
            self.order.retain(|t| t != topic);
        }
        self.pending_bytes += payload.len();
        self.pending.insert(topic.to_string(), (payload, retain));
        self.order.push_front(topic.to_string());
    }

    /// Puts back a message the client could not take, unless a newer one for that topic
    /// arrived meanwhile.
    pub(crate) fn put_back(&mut self, message: Message) {
        if !self.pending.contains_key(&message.topic) {
            self.pending_bytes += message.payload.len();
            self.order.push_front(message.topic.clone());
            self.pending
                .insert(message.topic, (message.payload, message.retain));
        }
    }

    /// Queues a retained state payload and remembers it for re-sending on reconnect.
    /// Returns false (and queues nothing) when it equals what was last published there.
    pub(crate) fn put_state(&mut self, topic: &str, payload: Vec<u8>) -> bool {
        if self.mirror.get(topic) == Some(&payload) {
            return false;
        }
        self.mirror.insert(topic.to_string(), payload.clone());
        self.put(topic, payload, true);
        true
    }

    /// Forgets a state topic and queues the empty retained payload that deletes it on the
    /// broker.
    pub(crate) fn clear_state(&mut self, topic: &str) {
        self.mirror.remove(topic);
        self.put(topic, Vec::new(), true);
    }

    /// Re-queues every mirrored state (after a reconnect or HA's birth message).
    pub(crate) fn requeue_mirror(&mut self) {
        let mut topics: Vec<(String, Vec<u8>)> = self
            .mirror
            .iter()
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect();
        topics.sort();
        for (topic, payload) in topics {
            self.put(&topic, payload, true);
        }
    }

    /// Queues an event, dropping the oldest when the ring is full.
    pub(crate) fn push_event(&mut self, payload: Vec<u8>) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(payload);
    }

    /// Takes the next topic message, in first-queued order.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        while let Some(topic) = self.order.pop_front() {
            if let Some((payload, retain)) = self.pending.remove(&topic) {
                self.pending_bytes -= payload.len();
                return Some(Message {
                    topic,
                    payload,
                    retain,
                });
            }
        }
        None
    }

    /// Takes the oldest event.
    pub(crate) fn pop_event(&mut self) -> Option<Vec<u8>> {
        self.events.pop_front()
    }

    /// Puts an event back at the front (the client could not take it).
    pub(crate) fn unpop_event(&mut self, payload: Vec<u8>) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_front(payload);
        }
    }

    /// Messages waiting: topic messages plus events.
    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.events.len()
    }

    /// Bytes of payload waiting (topic messages plus events).
    pub(crate) fn bytes(&self) -> usize {
        self.pending_bytes + self.events.iter().map(Vec::len).sum::<usize>()
    }

    /// Number of mirrored state topics.
    pub(crate) fn mirrored(&self) -> usize {
        self.mirror.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_payload_per_topic_waits() {
        let mut outbox = Outbox::default();
        for i in 0..10_000u32 {
            outbox.put_state("hmm/a/state", i.to_string().into_bytes());
            outbox.put_state("hmm/b/state", (i * 2).to_string().into_bytes());
        }
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.bytes(), 4 + 5);
        let first = outbox.pop().unwrap();
        assert_eq!(
            (first.topic.as_str(), first.payload.as_slice()),
            ("hmm/a/state", &b"9999"[..])
        );
        assert_eq!(outbox.pop().unwrap().payload, b"19998");
        assert_eq!(outbox.pop(), None);
        assert_eq!(outbox.bytes(), 0);
    }

    #[test]
    fn unchanged_state_is_not_queued_but_is_requeued_on_reconnect() {
        let mut outbox = Outbox::default();
        assert!(outbox.put_state("t", b"x".to_vec()));
        outbox.pop();
        assert!(!outbox.put_state("t", b"x".to_vec()));
        assert_eq!(outbox.len(), 0);
        outbox.requeue_mirror();
        assert_eq!(outbox.pop().unwrap().payload, b"x");
    }

    #[test]
    fn events_are_a_bounded_ring_and_first_goes_first() {
        let mut outbox = Outbox::default();
        for i in 0..(MAX_EVENTS + 10) {
            outbox.push_event(i.to_string().into_bytes());
        }
        assert_eq!(outbox.len(), MAX_EVENTS);
        assert_eq!(outbox.events_dropped, 10);
        assert_eq!(outbox.pop_event().unwrap(), b"10");
        outbox.put("a", b"1".to_vec(), true);
        outbox.put_first("hmm/status", b"online".to_vec(), true);
        assert_eq!(outbox.pop().unwrap().topic, "hmm/status");
        outbox.put_back(Message {
            topic: "a".into(),
            payload: b"0".to_vec(),
            retain: true,
        });
        assert_eq!(outbox.pop().unwrap().payload, b"1");
    }
}
