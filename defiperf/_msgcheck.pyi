from typing_extensions import Buffer
from typing import Final

MAX_DEPTH_LIMIT: Final[int]

def check_msgpack(data: Buffer, max_depth: int, max_items: int, nested_mask: int = 0,
                  prefix_mask: int = 0) -> None: ...
