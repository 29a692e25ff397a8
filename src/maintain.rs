//! Dataset upkeep: compact, forget, purge.
