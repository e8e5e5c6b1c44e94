"""Numerical ops: the selective scan and its pruning-aware alignment."""

from .scan import (
    IMPLS,
    ScanParams,
    bidirectional_scan,
    flip_positions,
    position_gaps,
    resolve_impl,
    scan_inputs,
    selective_scan,
    selective_scan_ref,
    softplus,
)

__all__ = [
    "IMPLS",
    "ScanParams",
    "bidirectional_scan",
    "flip_positions",
    "position_gaps",
    "resolve_impl",
    "scan_inputs",
    "selective_scan",
    "selective_scan_ref",
    "softplus",
]
