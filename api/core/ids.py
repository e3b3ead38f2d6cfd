"""Time-ordered UUIDs (version 7, RFC 9562) made by the service.

Ids are chosen before the insert so a batch's rows are matched back to their request items,
and so that they stay ordered by creation like PostgreSQL's own `uuidv7()`.
"""

import os
import time
from uuid import UUID


def uuid7() -> UUID:
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80  # 48-bit timestamp
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits (rand_a)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits (rand_b)
    return UUID(int=value)
