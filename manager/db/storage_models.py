"""Tables of the file store: checkouts (a job's files by path) and the files they name.
They live with the other tables so that one metadata holds them all (see ``schema``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from manager.db.models import Base, UTCDateTime


class Checkout(Base):
    """A named set of stored files; a job refers to it as its ``shaman_checkout_id``."""

    __tablename__ = "shaman_checkouts"

    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)


class CheckoutFile(Base):
    __tablename__ = "shaman_checkout_files"

    checkout_path: Mapped[str] = mapped_column(
        String(1000), ForeignKey("shaman_checkouts.path", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_shaman_checkout_files_content", "sha256", "size"),)
