"""Manager settings: command-line flags over ``FARMHAND_*`` environment variables over an
optional YAML config file over defaults. Unsafe or nonsensical values are refused at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DATABASES = ("sqlite", "postgresql")


class VariableValue(BaseModel):
    """One platform's value of a manager variable (Flamenco's variable form)."""

    platform: str = Field(pattern=r"^[a-z0-9_]+$")
    value: str


class Variable(BaseModel):
    values: list[VariableValue]
    is_twoway: bool = False


def _default_variables() -> dict[str, Variable]:
    return {
        "blender": Variable(values=[VariableValue(platform="all", value="blender")]),
        "blenderArgs": Variable(values=[VariableValue(platform="all", value="-b -y")]),
        "ffmpeg": Variable(values=[VariableValue(platform="all", value="ffmpeg")]),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FARMHAND_", extra="forbid")

    manager_name: str = Field("Farmhand", min_length=1, max_length=200)
    host: str = Field("0.0.0.0", min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path("farm-data")
    #: SQLAlchemy URL; empty means the embedded SQLite file in the data dir.
    database: str = ""
    #: An extra folder of job-type presets, overriding the shipped ones by name.
    job_types: Path | None = None
    #: The job type that renders an artist's frames: what submitters choose by default.
    render_job_type: str = Field("simple-blender-render", pattern=r"^[a-z0-9][a-z0-9-]*$")
    #: When set, workers must present this token to register.
    registration_token: str | None = None
    #: When set, users (API, add-on, dashboard) must present this token; workers use their own.
    access_token: str | None = None
    #: Seconds without a request after which an awake worker is considered gone.
    worker_timeout: float = Field(60.0, gt=0)
    #: Seconds without an update after which an active task is failed and retried elsewhere.
    task_timeout: float = Field(300.0, gt=0)
    #: Failures of one worker on one job after which it is blocked from that job's task type.
    blocklist_threshold: int = Field(3, ge=1)
    #: Distinct workers that may fail a task before it fails for good.
    task_fail_after_softfail_count: int = Field(3, ge=1)
    #: Seconds between runs of the health checks (timeouts, sleep schedules).
    health_check_interval: float = Field(5.0, gt=0)
    #: Largest accepted JSON request body, in bytes.
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    #: Largest file accepted into the file store or as a rendered output, in bytes.
    max_upload_bytes: int = Field(64 * 1024**3, ge=1024)
    #: Seconds an unreferenced stored file or checkout is kept (submissions in flight).
    file_store_gc_grace: float = Field(24 * 3600.0, ge=0)
    #: Seconds between garbage collections of the file store (a walk over all its files).
    file_store_gc_interval: float = Field(600.0, gt=0)
    #: Shared storage for studios with a NAS; workers and submitters see it via variables.
    shared_storage: str = ""
    variables: dict[str, Variable] = Field(default_factory=_default_variables)
    #: An upstream Farmhand manager to pull work from, as the cluster named ``cluster``.
    upstream: str | None = Field(None, pattern=r"^https?://[^\s/]+")
    cluster: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("database")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value:
            return value
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError as exc:
            raise ValueError(f"not an SQLAlchemy database URL: {value!r}") from exc
        if backend not in SUPPORTED_DATABASES:
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        return value

    @field_validator("job_types")
    @classmethod
    def _job_types_is_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"job types folder {str(value)!r} does not exist")
        return value

    @model_validator(mode="after")
    def _cluster_needs_both(self) -> Settings:
        if bool(self.upstream) != bool(self.cluster):
            raise ValueError("upstream and cluster go together: give both or neither")
        return self

    @model_validator(mode="after")
    def _timeouts_make_sense(self) -> Settings:
        if self.health_check_interval > self.worker_timeout:
            raise ValueError("health_check_interval must not exceed worker_timeout")
        return self

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{(self.data_dir / 'farmhand.sqlite').resolve()}"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "task-logs"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"


class SettingsError(Exception):
    """A setting that stops start-up; the message is one line for the user."""


def load_settings(
    overrides: dict[str, Any] | None = None, config_file: Path | None = None
) -> Settings:
    """Build settings from overrides (flags), the environment and an optional YAML file."""
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"config file {str(config_file)!r} does not exist")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config_file)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if config_file is not None:
                sources += (YamlConfigSettingsSource(settings_cls),)
            return sources

    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        loaded = _FileSettings(**values)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except (ValueError, OSError) as exc:  # unreadable or malformed YAML
        raise SettingsError(f"cannot read config file: {exc}") from None
    return Settings.model_construct(**{k: getattr(loaded, k) for k in Settings.model_fields})


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad setting {where!r}: {message}{more}"
