-- 0008_offsets_cluster: stored Kafka offsets belong to one Kafka cluster.
-- An offset means "everything before it is in the ledger" only on the
-- cluster (and the incarnation of the topic) it was read from: a restarted
-- embedded cluster, a collector pointed at another cluster, or a topic that
-- was deleted and created again starts again at offset 0, and an offset of
-- the old one must never make the collector skip the new one's messages.
--
-- Rows stored before this migration name no cluster: they keep cluster_id ''
-- (an unknown cluster) and are never used to skip a message. A collector
-- that starts after the upgrade reads its partitions from their low
-- watermark once; calls already stored are recognised by event_id (counted as
-- duplicates), outcomes and feedback are idempotent, so nothing is stored
-- twice. See README "What a restart keeps".
ALTER TABLE kafka_offsets ADD COLUMN cluster_id text NOT NULL DEFAULT '';
ALTER TABLE kafka_offsets ALTER COLUMN cluster_id DROP DEFAULT;
ALTER TABLE kafka_offsets DROP CONSTRAINT kafka_offsets_pkey;
ALTER TABLE kafka_offsets ADD PRIMARY KEY (consumer_group, cluster_id, topic, kafka_partition);

-- Every time the collector found a stored offset that the broker's
-- watermarks make impossible (beyond the high watermark: the topic or the
-- cluster was recreated; below the low watermark: messages were deleted by
-- retention before they were stored), what it found and what it did.
CREATE TABLE kafka_offset_resets (
	id              bigserial PRIMARY KEY,
	at              timestamptz NOT NULL DEFAULT now(),
	consumer_group  text NOT NULL,
	cluster_id      text NOT NULL,
	topic           text NOT NULL,
	kafka_partition integer NOT NULL,
	stored_offset   bigint NOT NULL,
	low_watermark   bigint NOT NULL,
	high_watermark  bigint NOT NULL,
	resumed_at      bigint NOT NULL,
	reason          text NOT NULL
);
CREATE INDEX kafka_offset_resets_group ON kafka_offset_resets (consumer_group, at);
