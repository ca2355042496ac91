"""Every Redis key and stream name Hamafza uses, under one configurable prefix."""

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

    def item(self, item_id: str) -> str:
        return f"{self.prefix}:item:{item_id}"

    def item_deliveries(self, item_id: str) -> str:
        return f"{self.prefix}:item:{item_id}:deliveries"

    def media(self, item_id: str, url_digest: str) -> str:
        """A hash: one media URL of an item as fetched (type, size, bytes or why it was refused); TTL."""
        return f"{self.prefix}:media:{item_id}:{url_digest}"

    def pause(self, platform: str, agency: str) -> str:
        return f"{self.prefix}:pause:{platform}:{agency}"

    @property
    def item_index(self) -> str:
        """Sorted set of item ids by first-seen time, for status and reports."""
        return f"{self.prefix}:items:index"

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
