"""The ORM tables (DESIGN §3). Relationships are `lazy="raise"`: every load is explicit."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mltrail_server.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTIVE = "active"
DELETED = "deleted"
# The default experiment (MLflow's "0"), created on first use.
DEFAULT_EXPERIMENT_UUID = uuid.UUID(int=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Experiment(Base):
    __tablename__ = "experiment"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(500))
    owner: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="created")
    lifecycle: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    artifact_location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    runs: Mapped[list["Run"]] = relationship(
        back_populates="experiment", lazy="raise", passive_deletes=True
    )
    tags: Mapped[list["ExperimentTag"]] = relationship(lazy="raise", passive_deletes=True)

    __table_args__ = (
        # Names are unique among live experiments; a deleted one frees its name.
        Index(
            "uq_experiment_live_name",
            "name",
            unique=True,
            sqlite_where=text("lifecycle = 'active'"),
            postgresql_where=text("lifecycle = 'active'"),
        ),
        Index("ix_experiment_listing", "lifecycle", "created_at", "id"),
    )


class ExperimentTag(Base):
    __tablename__ = "experiment_tag"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    __tablename__ = "run"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(16), default="running")
    user: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("run.id", ondelete="SET NULL")
    )
    artifact_uri: Mapped[str | None] = mapped_column(Text)
    lifecycle: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    experiment: Mapped[Experiment] = relationship(back_populates="runs", lazy="raise")

    __table_args__ = (
        Index("ix_run_experiment_listing", "experiment_id", "lifecycle", "started_at", "id"),
        Index("ix_run_parent", "parent_run_id"),
        # The soft-deleted runs, for garbage collection and its backlog (a small index).
        Index(
            "ix_run_deleted",
            "deleted_at",
            sqlite_where=text("lifecycle = 'deleted'"),
            postgresql_where=text("lifecycle = 'deleted'"),
        ),
    )


class Param(Base):
    """Write-once: a key keeps its first value."""

    __tablename__ = "param"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunTag(Base):
    __tablename__ = "run_tag"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LatestMetric(Base):
    """One row per (run, metric key): the series' id, its latest point, and its min and max.

    The points themselves live in `metric`, keyed by this row's small integer id rather than
    by (run uuid, key text): the point table and its index stay a third of the size.
    """

    __tablename__ = "latest_metric"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float(53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float(53))
    max_value: Mapped[float | None] = mapped_column(Float(53))

    __table_args__ = (
        Index("uq_latest_metric_run_key", "run_id", "key", unique=True),
        Index("ix_latest_metric_key_value", "key", "value"),
    )


class Metric(Base):
    """One point of a series. The primary key makes a re-sent point a no-op.

    `series_id` refers to `latest_metric.id` without a foreign key: checking one per point
    cost a third of the database's ingest time, and the ingest statement creates the series
    row itself. A trigger on `latest_metric` (migration 0005) deletes a series' points with it.
    On PostgreSQL the table is split in 16 hash partitions of `series_id` (migration 0011).
    """

    __tablename__ = "metric"

    series_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float(53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)


class User(Base):
    """Someone (or some machine) holding API keys. Roles: admin, member, viewer."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while an admin has disabled the user: its keys are refused, but kept.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """An API key, stored only as its SHA-256; `prefix` identifies it in listings."""

    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_key_user", "user_id"),)


class ExperimentGrant(Base):
    """Lets a user who does not own an experiment write to it and its runs."""

    __tablename__ = "experiment_grant"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One write: who, what, when, from where, and how it ended."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    principal: Mapped[str | None] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_principal", "principal"),
    )


class ArtifactPurge(Base):
    """A store folder whose objects are still to be deleted: queued in the transaction that
    purges its run or experiment, removed once the objects are gone
    (services/artifact_purge.py)."""

    __tablename__ = "artifact_purge"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    prefix: Mapped[str] = mapped_column(Text)  # relative to ARTIFACT_ROOT
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due from then on; a drainer that claims the row moves it past its lease.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_artifact_purge_next_attempt_at", "next_attempt_at"),)


class LoggedModel(Base):
    """A model logged by the MLflow 3 client (`<flavor>.log_model`). Its files are artifacts
    under `<experiment>/models/<id>/artifacts`; `tags` and `params` are JSON objects."""

    __tablename__ = "logged_model"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(500))
    model_type: Mapped[str | None] = mapped_column(String(500))
    source_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("run.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(32), default="PENDING")
    status_message: Mapped[str | None] = mapped_column(Text)
    artifact_location: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="{}")
    params: Mapped[str] = mapped_column(Text, default="{}")
    lifecycle: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_logged_model_experiment", "experiment_id", "created_at"),)


class LoggedModelMetric(Base):
    """A metric point logged with a `model_id` (and maybe the dataset it was measured on):
    it is the run's point too, and this row shows it among the logged model's metrics."""

    __tablename__ = "logged_model_metric"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("logged_model.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[float] = mapped_column(Float(53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    dataset_name: Mapped[str | None] = mapped_column(String(500))
    dataset_digest: Mapped[str | None] = mapped_column(String(36))


class RunLink(Base):
    """What a run consumed (datasets, models) or produced (models), as MLflow's log-inputs and
    outputs record them. `key` identifies the link within the run, so a re-sent request
    stores nothing twice; `payload` is the dataset and its input tags, as JSON."""

    __tablename__ = "run_link"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(600))
    step: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_run_link_identity", "run_id", "direction", "kind", "key", unique=True),
    )


# A block is 256 steps. Migration 0004 backfills with the same shift: changing it needs a
# migration that rebuilds `metric_block`.
BLOCK_SHIFT = 8
BLOCK_STEPS = 1 << BLOCK_SHIFT


class MetricBlock(Base):
    """A rollup of one series' points in one block of 256 steps, `block = step >> 8`
    (floor(step / 256), negative steps too): how many points, their min and max (NaN
    excluded; NULL when every point is NaN), and the last point by (step, timestamp).

    Kept in the same statement (PostgreSQL) or transaction (SQLite) as the points, so a
    downsample over a long range reads a thousand of these instead of a million points."""

    __tablename__ = "metric_block"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("latest_metric.id", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float(53))
    max_value: Mapped[float | None] = mapped_column(Float(53))
    last_step: Mapped[int] = mapped_column(BigInteger)
    last_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float] = mapped_column(Float(53))
    last_is_nan: Mapped[bool] = mapped_column(Boolean)


class RegisteredModel(Base):
    """A model of the registry (MLflow's registered model). Its versions, tags, aliases and
    grants refer to the surrogate `id`, so a rename keeps them. `last_version` is the number
    the newest version got: the next create bumps it in the same transaction (an UPDATE that
    locks the row on PostgreSQL, inside SQLite's write lock), so numbers have no gaps and no
    duplicates, and a deleted version's number is never given again."""

    __tablename__ = "registered_model"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(255))
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_registered_model_listing", "created_at", "id"),)


class RegisteredModelTag(Base):
    __tablename__ = "registered_model_tag"

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersion(Base):
    """One version of a registered model. `source` is what the client registered (`runs:/…`,
    `models:/m-…`, an artifact URI); `storage_location` is where its files are, resolved once
    at creation (what `get-download-uri` answers)."""

    __tablename__ = "model_version"

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    storage_location: Mapped[str] = mapped_column(Text)
    # No foreign key: a version outlives the purge of its run, as in MLflow.
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    logged_model_id: Mapped[str | None] = mapped_column(String(64))
    run_link: Mapped[str | None] = mapped_column(Text)
    user: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="READY")
    stage: Mapped[str] = mapped_column(String(32), default="None")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_model_version_run", "run_id"),
        Index("ix_model_version_created", "created_at"),
    )


class ModelVersionTag(Base):
    __tablename__ = "model_version_tag"

    model_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        ForeignKeyConstraint(
            ["model_id", "version"],
            ["model_version.model_id", "model_version.version"],
            ondelete="CASCADE",
        ),
    )


class ModelAlias(Base):
    """`models:/<name>@<alias>`: an alias points at one version; it goes with the version."""

    __tablename__ = "model_alias"

    model_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        ForeignKeyConstraint(
            ["model_id", "version"],
            ["model_version.model_id", "model_version.version"],
            ondelete="CASCADE",
        ),
    )


class RegisteredModelGrant(Base):
    """Lets a user who does not own a registered model write to it and its versions."""

    __tablename__ = "registered_model_grant"

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
