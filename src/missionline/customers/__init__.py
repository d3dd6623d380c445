"""Customers and segments, outside-in: top customers per market with the next move, and the
priority of each market and segment by expected value per unit of effort (docs/customers.md).
"""

from missionline.customers.segments import SegmentPriorities, segment_priorities
from missionline.customers.top import top_customers
from missionline.customers.value import account_values

__all__ = ["SegmentPriorities", "account_values", "segment_priorities", "top_customers"]
