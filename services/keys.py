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

    def pause(self, platform: str, agency: str) -> str:
        return f"{self.prefix}:pause:{platform}:{agency}"

    @property
    def item_index(self) -> str:
        """Sorted set of item ids by first-seen time, for status and reports."""
        return f"{self.prefix}:items:index"
