"""The SQL store: SQLite (embedded default) or PostgreSQL, chosen by URL.

``SqlStore`` implements the engine's ``Store`` (each method commits before it returns)
plus the reads the API needs. All writes go through one writer thread with group commit
(``scheduler.store.writer``); reads use their own pooled connections (SQLite runs in WAL
mode, so readers never wait for the writer). Its methods live with their tables, one
module per concern:

- ``base``: the connection, the writer, closing, who acts; ``leadership``: the HA lease and
  the fence on every write;
- ``state``: what the engine restarts from (``load``), nodes, usage history, meta;
- ``jobs``: jobs, their events and runs; ``tenants``: tenants, quota history, budgets;
  ``access``: tokens and the audit log;
- ``connect``: the SQLAlchemy engine per backend; ``tables``: the table handles;
  ``records``: the values and errors it hands out.
"""

from scheduler.store.sql.connect import make_engine
from scheduler.store.sql.records import DuplicateIdempotencyKey, Run, StoreError, TokenInfo
from scheduler.store.sql.store import SqlStore

__all__ = ["DuplicateIdempotencyKey", "Run", "SqlStore", "StoreError", "TokenInfo", "make_engine"]
