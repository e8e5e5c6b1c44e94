"""Numerical ops: the selective scan and its pruning-aware alignment (names: scan.__all__)."""

from .scan import *  # noqa: F401,F403
from .scan import __all__  # noqa: F401
