"""The model registry's rules, one set for both APIs: registered models (a name unique among
them, an owner, tags), their versions (numbers without gaps, per model), aliases and
stages. Services flush; the request's boundary commits.

- Names follow MLflow's rule: not blank, no `/` or `:`, nothing that resolves to another
  path (`a/../b`, `.`); case is kept and compared exactly.
- A version's number is taken from the model's row in the request's transaction
  (`registry.allocate_version`): concurrent creates get 1, 2, 3, … exactly once each.
- Aliases follow MLflow's rule (letters, digits, `_`, `-`; not `latest`, not `v<digits>`);
  an alias goes when its version is deleted. Stages are MLflow's (None, Staging,
  Production, Archived), any case in, canonical out.
- Where a version's files are (`storage_location`) is resolved once, at creation, by the
  `SourceResolver` of the wire that knows the source's URI scheme.
- Permissions are checked before a handler runs (services/access.py): writing needs the
  model's owner, a grant or an admin; reading, any signed-in caller.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import logged_models as logged_models_repo
from mltrail_server.db.repositories import registry as repo
from mltrail_server.db.repositories import registry_search
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.db.tables import ModelVersion, RegisteredModel
from mltrail_server.db.types import utcnow
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.models.registry import LoggedModel
from mltrail_server.search import (
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    Expr,
    OrderBy,
    decode_page_token,
    encode_page_token,
    read_filter,
    read_order_by,
    search_fingerprint,
)
from mltrail_server.services.registry_rules import (
    ACTIVE_STAGES,
    LATEST_ALIAS,
    UnknownAlias,
    canonical_stage,
    check_alias,
    check_name,
    check_tag,
    check_version,
    model_not_found,
    not_prompt,
    version_not_found,
)
from mltrail_server.services.runs import run_not_found

__all__ = ["ModelRecord", "RegistryService", "ResolvedSource", "SourceResolver", "VersionRecord"]

# MLflow's default orders: models by name; versions newest change first.
_VERSION_ORDER = (
    OrderBy("attribute", "last_updated_timestamp", False),
    OrderBy("attribute", "name", True),
    OrderBy("attribute", "version_number", False),
)


@dataclass(frozen=True)
class ResolvedSource:
    """Where a new version's files are, and the run and logged model it came from."""

    storage_location: str
    run_id: uuid.UUID | None = None
    logged_model_id: str | None = None


class SourceResolver(Protocol):
    async def resolve(
        self, source: str, run_id: uuid.UUID | None, logged_model_id: str | None
    ) -> ResolvedSource: ...


@dataclass(frozen=True)
class VersionRecord:
    """A version as both APIs show it."""

    name: str
    row: ModelVersion
    tags: dict[str, str]
    aliases: list[str]


@dataclass(frozen=True)
class ModelRecord:
    """A registered model as both APIs show it; `latest` is the newest version of each stage."""

    row: RegisteredModel
    tags: dict[str, str]
    aliases: dict[str, int]
    latest: list[VersionRecord] = field(default_factory=list)
    versions_count: int = 0
    latest_version: int | None = None


@dataclass
class RegistryService:
    session: AsyncSession
    sources: SourceResolver | None = None

    # -- registered models -----------------------------------------------------------------

    async def create_model(
        self,
        name: str,
        owner: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelRecord:
        check_name(name)
        checked = dict(check_tag(k, v) for k, v in (tags or {}).items())
        if await repo.get_model(self.session, name) is not None:
            raise Conflict(f"Registered Model (name={name}) already exists.")
        now = utcnow()
        row = RegisteredModel(
            name=name,
            owner=owner,
            description=description or None,
            last_version=0,
            created_at=now,
            updated_at=now,
        )
        try:
            await repo.add_model(self.session, row)
        except IntegrityError:  # created by a concurrent request since the check
            raise Conflict(f"Registered Model (name={name}) already exists.") from None
        for key, value in checked.items():
            await repo.set_model_tag(self.session, row.id, key, value)
        return ModelRecord(row, checked, {})

    async def get_model(self, name: str) -> ModelRecord:
        return (await self._records([await self.model_row(name)]))[0]

    async def rename_model(self, name: str, new_name: str) -> ModelRecord:
        row = await self.model_row(name, for_update=True)
        check_name(new_name, "new_name")
        if new_name != name and await repo.get_model(self.session, new_name) is not None:
            raise Conflict(f"Registered Model (name={new_name}) already exists.")
        row.name = new_name
        row.updated_at = utcnow()
        try:
            await self.session.flush()
        except IntegrityError:
            raise Conflict(f"Registered Model (name={new_name}) already exists.") from None
        return await self.get_model(new_name)

    async def update_model(self, name: str, description: str | None) -> ModelRecord:
        row = await self.model_row(name)
        row.description = description or None
        row.updated_at = utcnow()
        await self.session.flush()
        return await self.get_model(name)

    async def delete_model(self, name: str) -> None:
        row = await self.model_row(name)
        await repo.delete_model(self.session, row.id)
        await self.session.flush()

    async def set_model_tag(self, name: str, key: str, value: str) -> None:
        row = await self.model_row(name)
        await repo.set_model_tag(self.session, row.id, *check_tag(key, value))
        row.updated_at = utcnow()
        await self.session.flush()

    async def delete_model_tag(self, name: str, key: str, *, missing_ok: bool = True) -> None:
        row = await self.model_row(name)
        if not await repo.delete_model_tag(self.session, row.id, key) and not missing_ok:
            raise NotFound(f"No tag with key {key!r} on registered model {name}")
        row.updated_at = utcnow()
        await self.session.flush()

    async def search_models(
        self,
        filter_text: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[ModelRecord], str | None]:
        """A page of MLflow's `registered-models/search` and the next page's token."""
        where, order = self._search_terms(filter_text, order_by, REGISTERED_MODELS)
        fingerprint = search_fingerprint("registered models", where, order)
        offset = decode_page_token(page_token, fingerprint, same="filter and order_by")
        rows, _ = await registry_search.search_models(
            self.session, where=where, order_by=order, offset=offset, limit=max_results + 1
        )
        token = None
        if len(rows) > max_results:
            token = encode_page_token(offset + max_results, fingerprint)
        return await self._records(rows[:max_results]), token

    async def list_models(
        self, filter_text: str | None, order_by: Sequence[str], page: int, per_page: int
    ) -> tuple[list[ModelRecord], int]:
        """A numbered page (v1) and how many models match in all."""
        where, order = self._search_terms(filter_text, order_by, REGISTERED_MODELS)
        rows, total = await registry_search.search_models(
            self.session,
            where=where,
            order_by=order,
            offset=(page - 1) * per_page,
            limit=per_page,
            count=True,
        )
        return await self._records(rows), total or 0

    async def latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[VersionRecord]:
        """The newest version in each of `stages` (every stage when none is given)."""
        row = await self.model_row(name)
        wanted = [canonical_stage(stage) for stage in stages] if stages else None
        versions = await repo.latest_versions(self.session, [row.id], wanted)
        return await self._versions([(version, row.name) for version in versions])

    # -- versions --------------------------------------------------------------------------

    async def create_version(
        self,
        name: str,
        source: str,
        *,
        user: str | None,
        run_id: uuid.UUID | None = None,
        logged_model_id: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
    ) -> VersionRecord:
        row = await self.model_row(name)
        if not source:
            raise InvalidInput("Missing value for required parameter 'source'.")
        if ".." in source.replace("\\", "/").split("/"):
            raise InvalidInput(
                f"Invalid model version source: '{source}'. A source may not contain '..'."
            )
        checked = dict(check_tag(k, v) for k, v in (tags or {}).items())
        resolved = ResolvedSource(source, run_id, logged_model_id)
        if self.sources is not None:
            resolved = await self.sources.resolve(source, run_id, logged_model_id)
        number = await repo.allocate_version(self.session, row.id)
        now = utcnow()
        version = ModelVersion(
            model_id=row.id,
            version=number,
            source=source,
            storage_location=resolved.storage_location,
            run_id=resolved.run_id,
            logged_model_id=resolved.logged_model_id,
            run_link=run_link or None,
            user=user,
            status="READY",
            stage="None",
            description=description or None,
            created_at=now,
            updated_at=now,
        )
        await repo.add_version(self.session, version)
        for key, value in checked.items():
            await repo.set_version_tag(self.session, row.id, number, key, value)
        row.updated_at = now
        await self.session.flush()
        return VersionRecord(row.name, version, checked, [])

    async def get_version(self, name: str, version: object) -> VersionRecord:
        model, row = await self.version_row(name, version)
        return (await self._versions([(row, model.name)]))[0]

    async def update_version(
        self,
        name: str,
        version: object,
        *,
        description: str | None = None,
        stage: str | None = None,
        set_description: bool = True,
    ) -> VersionRecord:
        model, row = await self.version_row(name, version)
        now = utcnow()
        if set_description:
            row.description = description or None
        if stage is not None:
            row.stage = canonical_stage(stage)
        row.updated_at = model.updated_at = now
        await self.session.flush()
        return (await self._versions([(row, model.name)]))[0]

    async def transition_stage(
        self, name: str, version: object, stage: str, archive_existing: bool
    ) -> VersionRecord:
        """MLflow's deprecated stages, as it still answers them: with `archive_existing`, the
        other versions in Staging or Production move to Archived."""
        target = canonical_stage(stage)
        if archive_existing and target not in ACTIVE_STAGES:
            raise InvalidInput(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
            )
        model, row = await self.version_row(name, version)
        now = utcnow()
        if archive_existing:
            others, _ = await registry_search.search_versions(
                self.session,
                where=None,
                order_by=(),
                offset=0,
                limit=2**31,
                model_id=model.id,
            )
            for other, _name in others:
                if other.version != row.version and other.stage == target:
                    other.stage, other.updated_at = "Archived", now
        row.stage = target
        row.updated_at = model.updated_at = now
        await self.session.flush()
        return (await self._versions([(row, model.name)]))[0]

    async def delete_version(self, name: str, version: object) -> None:
        model, row = await self.version_row(name, version)
        await repo.delete_version(self.session, model.id, row.version)
        model.updated_at = utcnow()
        await self.session.flush()

    async def set_version_tag(self, name: str, version: object, key: str, value: str) -> None:
        model, row = await self.version_row(name, version)
        await repo.set_version_tag(self.session, model.id, row.version, *check_tag(key, value))
        row.updated_at = utcnow()
        await self.session.flush()

    async def delete_version_tag(
        self, name: str, version: object, key: str, *, missing_ok: bool = True
    ) -> None:
        model, row = await self.version_row(name, version)
        deleted = await repo.delete_version_tag(self.session, model.id, row.version, key)
        if not deleted and not missing_ok:
            raise NotFound(f"No tag with key {key!r} on version {row.version} of {name}")
        row.updated_at = utcnow()
        await self.session.flush()

    async def download_uri(self, name: str, version: object) -> str:
        _, row = await self.version_row(name, version)
        return row.storage_location or row.source

    async def search_versions(
        self,
        filter_text: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[VersionRecord], str | None]:
        """A page of MLflow's `model-versions/search` and the next page's token."""
        where, order = self._search_terms(filter_text, order_by, MODEL_VERSIONS)
        order = order or list(_VERSION_ORDER)
        fingerprint = search_fingerprint("model versions", where, order)
        offset = decode_page_token(page_token, fingerprint, same="filter and order_by")
        rows, _ = await registry_search.search_versions(
            self.session, where=where, order_by=order, offset=offset, limit=max_results + 1
        )
        token = None
        if len(rows) > max_results:
            token = encode_page_token(offset + max_results, fingerprint)
        return await self._versions(rows[:max_results]), token

    async def list_versions(
        self, name: str, page: int, per_page: int
    ) -> tuple[list[VersionRecord], int]:
        """A model's versions, newest first, a numbered page (v1), and how many in all."""
        model = await self.model_row(name)
        rows, total = await registry_search.search_versions(
            self.session,
            where=None,
            order_by=[OrderBy("attribute", "version_number", False)],
            offset=(page - 1) * per_page,
            limit=per_page,
            model_id=model.id,
            count=True,
        )
        return await self._versions(rows), total or 0

    async def versions_of_run(self, run_id: uuid.UUID) -> list[VersionRecord]:
        return await self._versions(await repo.versions_of_run(self.session, run_id))

    async def logged_models_of_run(self, run_id: uuid.UUID) -> list[LoggedModel]:
        """The run's logged models (its own and its outputs), newest first; a run that is
        not there (or deleted) is a 404."""
        if await runs_repo.get(self.session, run_id) is None:
            raise run_not_found(run_id)
        rows = await logged_models_repo.of_run(self.session, run_id)
        return [logged_model_view(row) for row in rows]

    # -- aliases ---------------------------------------------------------------------------

    async def set_alias(self, name: str, alias: str, version: object) -> None:
        check_alias(alias, setting=True)
        model, row = await self.version_row(name, version)
        await repo.set_alias(self.session, model.id, alias, row.version)
        model.updated_at = utcnow()
        await self.session.flush()

    async def delete_alias(self, name: str, alias: str, *, missing_ok: bool = True) -> None:
        check_alias(alias)
        model = await self.model_row(name)
        if not await repo.delete_alias(self.session, model.id, alias) and not missing_ok:
            raise NotFound(f"Registered model alias {alias} not found.")
        model.updated_at = utcnow()
        await self.session.flush()

    async def get_by_alias(self, name: str, alias: str) -> VersionRecord:
        """The version an alias points at; `latest` is the newest version."""
        check_alias(alias)
        model = await self.model_row(name)
        if alias.lower() == LATEST_ALIAS:
            newest = (await repo.version_counts(self.session, [model.id]))[model.id][1]
            if newest is None:
                raise NotFound(f"Latest version not found for model {name}.")
            return await self.get_version(name, newest)
        version = await repo.get_alias(self.session, model.id, alias)
        if version is None:
            raise UnknownAlias(f"Registered model alias {alias} not found.")
        return await self.get_version(name, version)

    # -- rows and records ------------------------------------------------------------------

    async def model_row(self, name: str, *, for_update: bool = False) -> RegisteredModel:
        if not name:
            raise InvalidInput("Missing value for required parameter 'name'.")
        row = await repo.get_model(self.session, name, for_update=for_update)
        if row is None:
            raise model_not_found(name)
        return row

    async def version_row(self, name: str, version: object) -> tuple[RegisteredModel, ModelVersion]:
        number = check_version(version)
        model = await self.model_row(name)
        row = await repo.get_version(self.session, model.id, number)
        if row is None:
            raise version_not_found(name, number)
        return model, row

    @staticmethod
    def _search_terms(
        filter_text: str | None, order_by: Sequence[str], spec: object
    ) -> tuple[Expr | None, list[OrderBy]]:
        assert spec is REGISTERED_MODELS or spec is MODEL_VERSIONS
        where = read_filter(filter_text, spec)
        order = read_order_by(list(order_by), spec) if order_by else []
        return None if where is None else not_prompt(where), order

    async def _records(self, rows: Sequence[RegisteredModel]) -> list[ModelRecord]:
        ids = [row.id for row in rows]
        tags = await repo.model_tags(self.session, ids)
        aliases = await repo.aliases_of(self.session, ids)
        counts = await repo.version_counts(self.session, ids)
        names = {row.id: row.name for row in rows}
        latest = await self._versions(
            [(v, names[v.model_id]) for v in await repo.latest_versions(self.session, ids)]
        )
        return [
            ModelRecord(
                row,
                tags[row.id],
                aliases[row.id],
                [record for record in latest if record.row.model_id == row.id],
                *counts[row.id],
            )
            for row in rows
        ]

    async def _versions(self, rows: Sequence[tuple[ModelVersion, str]]) -> list[VersionRecord]:
        keys = [(row.model_id, row.version) for row, _ in rows]
        tags = await repo.version_tags(self.session, keys)
        aliases = await repo.aliases_of(self.session, sorted({key[0] for key in keys}))
        return [
            VersionRecord(
                name,
                row,
                tags[(row.model_id, row.version)],
                [a for a, v in aliases[row.model_id].items() if v == row.version],
            )
            for row, name in rows
        ]


def logged_model_view(row: LoggedModelRow) -> LoggedModel:
    """A logged model as `/api/v1` shows it (its tags and params are stored as JSON)."""
    return LoggedModel(
        id=row.id,
        name=row.name,
        model_type=row.model_type,
        status=row.status,
        source_run_id=row.source_run_id,
        artifact_location=row.artifact_location,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=json.loads(row.tags or "{}"),
        params=json.loads(row.params or "{}"),
    )
