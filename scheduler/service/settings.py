"""How the service is run: addresses, database, center file, executor, loop timing."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("aicc", appauthor=False))


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: SQLAlchemy URL; None: a SQLite file in ``data_dir``.
    db_url: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    #: None: the shipped 610P center.
    center_file: Path | None = None
    executor: str = "sleep"
    #: The admin token (AICC_ADMIN_TOKEN); None: generate one on first start.
    admin_token: SecretStr | None = None
    #: Where a generated admin token is written (0600); None: ``data_dir/admin-token``.
    admin_token_file: Path | None = None
    #: The loop steps at least this often, changes or not.
    step_interval_s: float = Field(default=2.0, gt=0)
    #: ... and at most this often: changes arriving closer together share one step.
    min_step_gap_s: float = Field(default=0.005, ge=0)
    #: Most of the time steps may take: after a step of d seconds the next waits d * (1/share - 1).
    step_share: float = Field(default=0.25, gt=0, le=1)
    #: How often to poll an executor that cannot say when its next event is due.
    poll_interval_s: float = Field(default=0.25, gt=0)
    #: How often the fair-share usage history is saved.
    history_save_interval_s: float = Field(default=60.0, gt=0)
    #: High availability (PostgreSQL only): replicas elect one leader over a lease in the
    #: database; the others serve reads and forward writes to it.
    ha: bool = False
    #: This replica's name in the lease (default: the host name).
    replica_name: str | None = None
    #: Where the other replicas reach this one (default: http://<host name>:<port>).
    advertise_url: str | None = None
    #: The lease term: a dead leader is replaced after at most this plus ``lease_retry_s``.
    lease_ttl_s: float = Field(default=8.0, gt=0)
    lease_renew_s: float = Field(default=2.0, gt=0)
    lease_retry_s: float = Field(default=1.0, gt=0)
    #: How often a follower reloads its view of the state from the database.
    follower_refresh_s: float = Field(default=1.0, gt=0)
    #: How often budgets' spending is read from the ledger (a spent budget takes effect then).
    budget_check_interval_s: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_page: int = Field(default=1000, ge=100)
    #: A job chosen as a preemption victim is told (GET /v1/jobs/{id}/checkpoint says
    #: stop_requested) this long before it is sent SIGTERM, to checkpoint first; 0: no notice.
    preemption_notice_s: float = Field(default=0.0, ge=0)

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'aicc.db'}"

    def resolved_admin_token_file(self) -> Path:
        return self.admin_token_file or self.data_dir / "admin-token"
