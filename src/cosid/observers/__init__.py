"""Observers: runtime parts that mirror what the node has into statuses, whoever made it
(`cosid.runtime.observer`)."""
