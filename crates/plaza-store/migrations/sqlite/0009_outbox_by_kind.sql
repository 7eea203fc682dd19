-- Issue 9: a channel's residents' answers and its room posts are delivered by two
-- loops, each reading only its own kind of chat ('d' for "dm:…", 'r' for "room:…"):
-- a backlog of room posts (a rate-limited group, a platform back after an outage) must
-- not hide the residents' answers behind it. And "when is the next retry due" is read
-- from an index, not a scan of every pending row.
CREATE INDEX outbox_pending_kind ON outbox (channel, substr(destination, 1, 1), id) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox (channel, substr(destination, 1, 1), due_at) WHERE state = 'pending';
