"""All of the manager's tables in one metadata: the one the migrations are written against and
that Alembic compares the database with. A table defined anywhere else would be invisible to
autogenerate, so every module of tables lives in this package and is named here."""

from __future__ import annotations

from sqlalchemy import MetaData

from manager.db import models, protocol_models, storage_models

#: The modules that define tables, each registering its own on ``models.Base``.
TABLE_MODULES = (models, protocol_models, storage_models)

metadata: MetaData = models.Base.metadata
