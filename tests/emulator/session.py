"""Session and account statements fakesnow does not implement, answered as Snowflake would.

- ``ALTER SESSION SET/UNSET QUERY_TAG`` and ``SHOW PARAMETERS LIKE 'QUERY_TAG'``: the tag is kept
  (one per emulated account, not per session) so tests can read what the hook set.
- ``SELECT CURRENT_WAREHOUSE()`` / ``CURRENT_ACCOUNT()`` and the ``SYSTEM$`` functions the libraries
  call on the way (capabilities, cancel-all-queries at ``Session.close()``).
- ``SHOW WAREHOUSES``: the session's warehouse ``EMULATED_WH``, an X-Small standard warehouse, with
  ``is_current`` = ``Y`` as Snowflake marks the session's own
  (https://docs.snowflake.com/en/sql-reference/sql/show-warehouses); fakesnow lists another name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from emulator.server import Answer, status_answer

_SET_TAG = re.compile(
    r"^\s*ALTER\s+SESSION\s+SET\s+QUERY_TAG\s*=\s*'(?P<tag>(?:[^']|'')*)'\s*;?\s*$", re.I | re.S
)
_ALTER_SESSION = re.compile(r"^\s*ALTER\s+SESSION\s", re.I)
_SHOW_WAREHOUSES = re.compile(r"^\s*SHOW\s+WAREHOUSES\s*;?\s*$", re.I)
_SHOW_TAG = re.compile(r"^\s*SHOW\s+PARAMETERS\s+LIKE\s+'QUERY_TAG'", re.I)
_SINGLE_VALUE = {
    re.compile(r"^\s*SELECT\s+CURRENT_WAREHOUSE\(\)\s*;?\s*$", re.I): ("CURRENT_WAREHOUSE()", "EMULATED_WH"),
    re.compile(r"^\s*SELECT\s+CURRENT_ACCOUNT\(\)\s*;?\s*$", re.I): ("CURRENT_ACCOUNT()", "EMULATED"),
    re.compile(r"SYSTEM\$ML_PLATFORM_CAPABILITIES\(\)", re.I): ("FEATURES", "{}"),
    re.compile(r"system\$cancel_all_queries", re.I): ("status", "0 queries cancelled"),
}


@dataclass
class SessionState:
    query_tags: list[str] = field(default_factory=list)

    @property
    def query_tag(self) -> str:
        return self.query_tags[-1] if self.query_tags else ""

    def handle(self, text: str) -> Answer | None:
        if match := _SET_TAG.match(text):
            self.query_tags.append(match["tag"].replace("''", "'"))
            return status_answer()
        if _ALTER_SESSION.match(text):
            return status_answer()  # other session parameters (TIMEZONE...) do not change results here
        if _SHOW_TAG.match(text):
            return Answer(
                pa.table(
                    {
                        "key": ["QUERY_TAG"],
                        "value": [self.query_tag],
                        "default": [""],
                        "level": ["SESSION"],
                        "description": ["tag"],
                        "type": ["STRING"],
                    }
                )
            )
        if _SHOW_WAREHOUSES.match(text):
            return Answer(
                pa.table(
                    {
                        "name": ["EMULATED_WH"],
                        "state": ["STARTED"],
                        "type": ["STANDARD"],
                        "size": ["X-Small"],
                        "is_current": ["Y"],
                    }
                )
            )
        for pattern, (column, value) in _SINGLE_VALUE.items():
            if pattern.search(text):
                return Answer(pa.table({column: [value]}))
        return None
