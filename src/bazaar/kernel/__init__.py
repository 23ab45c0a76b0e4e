"""Kernel: Money, ids, clock, DomainError tree, Event base and ports. No I/O."""
