"""The raw-feed contract, declared as data (see `feeds.py`)."""

from dagster_project.contract.feeds import FEEDS, Column, Feed, Reach, RowRule, feed_by_name

__all__ = ["FEEDS", "Column", "Feed", "Reach", "RowRule", "feed_by_name"]
