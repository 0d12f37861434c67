"""The registry's records rendered as MLflow's entities."""

from mltrail_server.mlflow import wire_registry as wire
from mltrail_server.mlflow.render import key_values
from mltrail_server.mlflow.translate import run_id_out, to_ms
from mltrail_server.services.registry import ModelRecord, VersionRecord


def model_version(record: VersionRecord) -> wire.ModelVersion:
    row = record.row
    return wire.ModelVersion(
        name=record.name,
        version=str(row.version),
        creation_timestamp=to_ms(row.created_at),
        last_updated_timestamp=to_ms(row.updated_at),
        current_stage=row.stage,
        source=row.source,
        status=row.status,
        user_id=row.user,
        description=row.description or "",
        run_id=run_id_out(row.run_id) if row.run_id is not None else "",
        run_link=row.run_link,
        model_id=row.logged_model_id,
        tags=key_values(record.tags),
        aliases=record.aliases,
    )


def registered_model(record: ModelRecord) -> wire.RegisteredModel:
    row = record.row
    return wire.RegisteredModel(
        name=row.name,
        creation_timestamp=to_ms(row.created_at),
        last_updated_timestamp=to_ms(row.updated_at),
        user_id=row.owner,
        description=row.description or "",
        latest_versions=[model_version(v) for v in record.latest],
        tags=key_values(record.tags),
        aliases=[wire.Alias(alias=a, version=str(v)) for a, v in record.aliases.items()],
    )
