"""The names several processes must spell the same: bookkeeping tables, lock keys and
dead-letter headers. A name here is persisted or shared across processes; changing one is
a migration."""

from __future__ import annotations

# Tables in the read schema, beside the read models

#: One row per (projection, topic, partition): the position, committed with the rows.
POSITIONS_TABLE = "projection_positions"
#: The version of every aggregate each projection has applied.
VERSIONS_TABLE = "projection_aggregates"
#: Events waiting behind a version gap or a dead letter; a token is not reflected while
#: one at or below its mark is parked here.
PARKED_TABLE = "projection_parked"
#: One row per live projector instance: what it owns, and when it last said so.
INSTANCES_TABLE = "projector_instances"
#: Each read model's live table version and state (live, rebuilding, swapping).
MODEL_VERSIONS_TABLE = "read_model_versions"
#: What operators decided about dead letters (replayed, discarded), and releases.
RESOLUTIONS_TABLE = "dead_letter_resolutions"
RELEASES_TABLE = "dead_letter_releases"
#: A function in the read schema that answers the event store's highest notification id
#: to the query role (SECURITY DEFINER: the role still reads no event-store table).
HEAD_FUNCTION = "event_store_head"
#: The relay's checkpoint, acknowledged offsets, heartbeat, block and backlog, likewise.
RELAY_STATE_FUNCTION = "relay_state"
#: Customers' data keys for the consumers that open personal fields (invoker's rights:
#: the query role may neither run it nor read the table behind it).
KEYS_FUNCTION = "customer_keys"

# Tables in the event-store schema

RELAY_CHECKPOINT_TABLE = "relay_checkpoint"
#: The channel the event store's recorder NOTIFYs on each insert (its events table's name):
#: the relay and idle consumers wait on it.
EVENTS_CHANNEL = "shop_events"
#: The channel the relay NOTIFYs with each checkpoint it saves: records are on the broker
#: (also when it republishes a log, which inserts nothing). Consumers wait on both. The
#: payload names the partitions that checkpoint moved, ``topic:partition`` separated by
#: spaces; an empty one is news for every partition (a republish, or a relay of a release
#: before this payload).
PUBLISHED_CHANNEL = "shop_published"
#: The channel a projector NOTIFYs (the read schema as payload) after each batch it
#: committed: the query API's position watchers read positions then, not on a timer.
POSITIONS_CHANNEL = "shop_positions"

# Advisory locks (pg_advisory_lock(hashtext(key)))

MIGRATE_LOCK = "eventshop-migrate"


def partition_key(topic: str, partition: int) -> str:
    """A partition as the relay's checkpoint and its ``PUBLISHED_CHANNEL`` news name it,
    and as projector instances report the partitions they own."""
    return f"{topic}:{partition}"


def relay_lock(event_schema: str) -> str:
    """Held by the one active relay of an event store."""
    return f"eventshop-relay:{event_schema}"


def rebuild_lock(read_schema: str, projection: str) -> str:
    """Held by the one rebuild of a projection."""
    return f"eventshop-rebuild:{read_schema}:{projection}"


# Headers of a record on a dead-letter topic (``<topic>.dlt``)

DLT_PROJECTION = "dlt.projection"
DLT_ORIGINAL_TOPIC = "dlt.original_topic"
DLT_ORIGINAL_PARTITION = "dlt.original_partition"
DLT_ORIGINAL_OFFSET = "dlt.original_offset"
DLT_NOTIFICATION_ID = "dlt.notification_id"
DLT_ERROR_CLASS = "dlt.error_class"
DLT_ERROR_MESSAGE = "dlt.error_message"
