"""The ORM tables (DESIGN §3). Relationships are `lazy="raise"`: every load is explicit."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTIVE = "active"
DELETED = "deleted"


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
    """One point of a series. The primary key makes a re-sent point a no-op."""

    __tablename__ = "metric"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("latest_metric.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float(53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
