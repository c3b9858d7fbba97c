"""Process memory housekeeping."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_freed_memory() -> None:
    """Hand the heap pages freed while models loaded (dequantised GGUF, checkpoint copies: hundreds
    of MB of RSS glibc keeps unless asked) back to the system; a no-op without malloc_trim."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
