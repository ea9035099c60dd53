//! The conformance suite (feature `conformance`): the contract of the [crate] docs as tests,
//! written once and run unchanged by every implementation.
//!
//! An implementation's test file provides a [`Harness`] (how to connect, how to create a
//! topic) and expands [`conformance_tests!`](crate::conformance_tests), which writes one
//! `#[tokio::test]` per case:
//!
//! ```text
//! struct Redis;
//! impl evc_transport::conformance::Harness for Redis { /* ... */ }
//! evc_transport::conformance_tests!(Redis);
//! ```
//!
//! Every case uses topic and group names of its own (`evc-conf-<case>-<random>`), so runs on a
//! shared broker do not meet. A case panics with what went wrong.

mod cases;
mod support;
mod window;

use std::future::Future;
use std::time::Duration;

use crate::{SubscribeOptions, Transport};

pub use cases::*;
pub use support::{frame, unframe, unique};
pub use window::*;

/// How the suite reaches one transport.
pub trait Harness {
    type Transport: Transport + 'static;

    /// A new client, as a new process would open one.
    fn connect(&self) -> impl Future<Output = Self::Transport>;

    /// Creates `topic` with `shards` shards and its dead-letter destination. By default
    /// [`Transport::declare_topic`]; Kafka's mock cluster creates topics through its own call.
    fn create_topic(
        &self,
        transport: &Self::Transport,
        topic: &str,
        shards: u32,
    ) -> impl Future<Output = ()> {
        async move {
            transport
                .declare_topic(topic, shards)
                .await
                .unwrap_or_else(|e| panic!("declaring `{topic}`: {e}"));
        }
    }

    /// Removes what a case created (its groups, then its topic); a failure fails the case.
    fn cleanup(
        &self,
        transport: &Self::Transport,
        topic: &str,
        groups: &[String],
    ) -> impl Future<Output = ()> {
        async move {
            for g in groups {
                transport
                    .delete_group(topic, g)
                    .await
                    .unwrap_or_else(|e| panic!("deleting group `{g}`: {e}"));
            }
            transport
                .delete_topic(topic)
                .await
                .unwrap_or_else(|e| panic!("deleting topic `{topic}`: {e}"));
        }
    }

    /// Subscription options for the suite: shards of a dead member move after 2 s.
    fn options(&self, group: &str) -> SubscribeOptions {
        SubscribeOptions::new(group)
            .takeover_after(Duration::from_secs(2))
            .prefetch(16)
    }
}

/// One `#[tokio::test]` per conformance case, for the [`Harness`] value `$harness`.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@cases $harness;
            publish_confirms_and_delivers_intact,
            per_key_order_across_four_shards_with_two_consumers,
            redelivery_after_a_member_dies_before_ack,
            poison_is_dead_lettered_at_once_with_provenance,
            nacked_until_the_limit_then_dead_lettered,
            replay_from_the_dead_letters,
            restart_resumes_from_the_group_without_loss,
            a_dead_members_shards_are_handed_over_without_loss,
            bad_input_is_refused_with_typed_errors,
            a_window_hands_out_a_shard_in_order_and_settles_in_order,
            a_nack_in_a_window_takes_back_the_later_deliveries_in_order,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case(&$harness).await;
            }
        )*
    };
}
