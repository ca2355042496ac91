"""Every Redis key and stream name Hamafza uses, under one configurable prefix.

Nothing else in the code builds a key: a new kind of state gets its method here, with a docstring that
says what the key holds. A new kind of delayed work adds its sorted set to `schedules`, and the
scheduler releases it with the others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "hamafza"

    @property
    def items(self) -> str:
        """Agencies publish here: `XADD hamafza:items * data '<item json>'`."""
        return f"{self.prefix}:items"

    def deliveries(self, platform: str) -> str:
        """One stream per platform, so one platform's outage never stalls another."""
        return f"{self.prefix}:deliveries:{platform}"

    @property
    def results(self) -> str:
        return f"{self.prefix}:results"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"

    @property
    def schedule(self) -> str:
        """Sorted set of delayed stream entries, scored by when they are due (epoch ms)."""
        return f"{self.prefix}:schedule"

    def ledger(self, delivery_id: str) -> str:
        return f"{self.prefix}:ledger:{delivery_id}"

    @property
    def everything(self) -> str:
        """SCAN pattern of every key under this prefix (the demo's reset)."""
        return f"{self.prefix}:*"

    @property
    def deliveries_pattern(self) -> str:
        """SCAN pattern of the per-platform delivery streams."""
        return f"{self.prefix}:deliveries:*"

    @property
    def schedules(self) -> tuple[str, ...]:
        """Every sorted set of delayed work (`services.pipeline.schedule.Schedule`), released by the
        scheduler: deliveries, then reach snapshot requests."""
        return (self.schedule, self.reach.schedule)

    @property
    def reach(self) -> ReachKeys:
        """The keys of reach collection (services/reach)."""
        return ReachKeys(self.prefix)

    @property
    def budget_prefix(self) -> str:
        """Prefix of the `limits` library's moving-window counters (services/pipeline/budget.py)."""
        return f"{self.prefix}:budget"

    # --- ingress (services/ingress) ----------------------------------------------------------------

    def ingest_item(self, item_id: str) -> str:
        """Hash: how an item id was accepted over HTTP, a webhook or a feed (source, digest, entry)."""
        return f"{self.prefix}:ingest:item:{item_id}"

    def ingest_seen(self, agency: str, scope: str, key_digest: str) -> str:
        """An agency's Idempotency-Key or webhook delivery id already seen (sha256 of the key)."""
        return f"{self.prefix}:ingest:seen:{agency}:{scope}:{key_digest}"

    def feed_state(self, agency: str) -> str:
        """Hash: a watched feed's validators (ETag, Last-Modified) and the entries already published."""
        return f"{self.prefix}:ingest:feed:{agency}"

    def feed_seen(self, agency: str) -> str:
        """Sorted set of a watched feed's entry ids already handled, by when (the newest kept)."""
        return f"{self.prefix}:ingest:feed:{agency}:seen"

    def item(self, item_id: str) -> str:
        return f"{self.prefix}:item:{item_id}"

    def owner(self, item_id: str) -> str:
        """The agency that owns an item id: claimed atomically by the first path that uses the id
        (stream, HTTP, webhooks, feeds) and kept as long as anything about the item is kept."""
        return f"{self.prefix}:owner:{item_id}"

    def item_deliveries(self, item_id: str) -> str:
        return f"{self.prefix}:item:{item_id}:deliveries"

    def media(self, item_id: str, url_digest: str) -> str:
        """A hash: one media URL of an item as fetched (type, size, bytes or why it was refused); TTL."""
        return f"{self.prefix}:media:{item_id}:{url_digest}"

    def pause(self, platform: str, agency: str) -> str:
        return f"{self.prefix}:pause:{platform}:{agency}"

    def pause_reason(self, platform: str, agency: str) -> str:
        """Why an account is paused (`rate_limit` or `auth`), expiring with its pause."""
        return f"{self.prefix}:pause-reason:{platform}:{agency}"

    @property
    def item_index(self) -> str:
        """Sorted set of item ids by first-seen time, for status and reports."""
        return f"{self.prefix}:items:index"

    @property
    def report_notes(self) -> str:
        """Hash: the council's outcome note per campaign (JSON {text, at}), shown in the report."""
        return f"{self.prefix}:report:notes"

    # --- approvals (services/governance) ---------------------------------------------------------

    def approval(self, approval_id: str) -> str:
        """Hash: one partner's approval of one item (state, approver, who decided and when)."""
        return f"{self.prefix}:approval:{approval_id}"

    def approval_held(self, approval_id: str) -> str:
        """Hash delivery id → scheduled member: the amplifications waiting for the decision."""
        return f"{self.prefix}:approval:{approval_id}:held"

    def approval_code(self, code: str) -> str:
        """The approval id behind a button's short code."""
        return f"{self.prefix}:approval-code:{code}"

    def approvals_of(self, agency: str) -> str:
        """Sorted set of the agency's approvals (as the amplifying partner) by request time."""
        return f"{self.prefix}:approvals:{agency}"

    @property
    def approvals_expiring(self) -> str:
        """Sorted set of waiting approvals by when they expire (epoch ms)."""
        return f"{self.prefix}:approvals:expiring"

    @property
    def approvals_releasing(self) -> str:
        """Set of approved approvals whose held amplifications are not all scheduled yet."""
        return f"{self.prefix}:approvals:releasing"

    @property
    def approvals_events(self) -> str:
        """Stream of every approval's change of state, for the records and the report."""
        return f"{self.prefix}:approvals"

    def amplification_cap(self, platform: str, agency: str, tehran_day: str) -> str:
        """Set of amplification delivery ids an account sent on one Tehran day (its daily cap)."""
        return f"{self.prefix}:cap:{platform}:{agency}:{tehran_day}"

    def amplification_last_due(self, item_id: str, platform: str) -> str:
        """Sorted set whose one member `due` is scored by the latest due time (epoch ms) of a partner's
        amplification of one item on one platform (ZADD GT keeps the latest)."""
        return f"{self.prefix}:amplified-at:{item_id}:{platform}"

    # --- update streams of the accounts' bots (services/ingress/updates.py) -----------------------

    def updates_lease(self, platform: str, source: str) -> str:
        """Which process reads one bot's update stream (a lease with an owner)."""
        return f"{self.prefix}:updates:{platform}:{source}:reader"

    def updates_offset(self, platform: str, source: str) -> str:
        """Where the next read of one bot's update stream starts."""
        return f"{self.prefix}:updates:{platform}:{source}:offset"

    def approval_request_lock(self, approval_id: str) -> str:
        """Held while one process sends an approval's request, so it is sent once."""
        return f"{self.prefix}:approval:{approval_id}:asking"

    # --- channel watchers (services/ingress/channels.py) -------------------------------------------

    def own_post(self, platform: str, agency: str, post_id: str) -> str:
        """The delivery id of a post Hamafza made in an agency's channel (or the agency's own post it
        took from there): what a channel watcher must never take as a new post."""
        return f"{self.prefix}:own-post:{platform}:{agency}:{post_id}"

    def sending(self, platform: str, agency: str) -> str:
        """Sorted set of an account's deliveries whose platform call is under way, scored by lease end."""
        return f"{self.prefix}:sending:{platform}:{agency}"

    @property
    def channel_posts(self) -> str:
        """Sorted set of channel posts (their group key) waiting out the settle window, by due epoch ms."""
        return f"{self.prefix}:channel-posts"

    def channel_group(self, group: str) -> str:
        """Hash message id → ChannelPost json: the messages of one post (an album) being collected."""
        return f"{self.prefix}:channel-posts:{group}"

    def channel_item(self, item_id: str) -> str:
        """Hash, written once a channel post became its item (a second watcher, or a restart, then does
        nothing): when, and the source post's later edits or deletion, for the item's status."""
        return f"{self.prefix}:channel-item:{item_id}"


@dataclass(frozen=True)
class ReachKeys:
    """The keys of reach collection: snapshots, their schedule and due stream, tracked posts."""

    prefix: str = "hamafza"

    @property
    def snapshots(self) -> str:
        """Every snapshot ever taken, oldest first: `{"data": <ReachSnapshot json>}`."""
        return f"{self.prefix}:reach"

    @property
    def due(self) -> str:
        """Snapshot requests, released here by the scheduler when due."""
        return f"{self.prefix}:reach:due"

    @property
    def schedule(self) -> str:
        """Sorted set of snapshot requests scored by due epoch ms (a `Schedule`, like `hamafza:schedule`)."""
        return f"{self.prefix}:reach:schedule"

    @property
    def posts(self) -> str:
        """Sorted set of tracked delivery ids scored by when they were posted (epoch ms)."""
        return f"{self.prefix}:reach:posts"

    def post(self, delivery_id: str) -> str:
        """Hash: `post` (TrackedPost json), `latest` and `snap:<offset>` (ReachSnapshot json), `count`."""
        return f"{self.prefix}:reach:post:{delivery_id}"

    @property
    def audience(self) -> str:
        """Hash `<platform>/<agency>` → `{"audience": n, "at": iso}`: each account's latest audience."""
        return f"{self.prefix}:reach:audience"
