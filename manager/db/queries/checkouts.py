"""Statements on checkouts, a job's files by path over the file store: recording one, reading
its files, and what the garbage collection asks of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from manager.db.models import Job
from manager.db.storage_models import Checkout, CheckoutFile


def add_checkout(
    session: Session, path: str, created: datetime, files: Iterable[tuple[str, str, int]]
) -> None:
    """Record a checkout and its files, given as (path, sha256, size)."""
    rows = [
        {"checkout_path": path, "path": file_path, "sha256": sha256, "size": size}
        for file_path, sha256, size in files
    ]
    session.add(
        Checkout(
            path=path,
            created=created,
            file_count=len(rows),
            total_size=sum(row["size"] for row in rows),
        )
    )
    session.flush()
    session.bulk_insert_mappings(CheckoutFile, rows)


def files_of_checkout(session: Session, path: str) -> list[CheckoutFile]:
    query = select(CheckoutFile).where(CheckoutFile.checkout_path == path)
    return list(session.scalars(query.order_by(CheckoutFile.path)).all())


def delete_unused_checkouts(session: Session, created_before: datetime) -> int:
    """Checkouts no existing job refers to, older than ``created_before``; how many went."""
    used = select(Job.shaman_checkout_id).where(Job.shaman_checkout_id.is_not(None))
    stale = list(
        session.scalars(
            select(Checkout.path).where(
                Checkout.created < created_before, Checkout.path.not_in(used)
            )
        ).all()
    )
    for path in stale:
        session.execute(delete(CheckoutFile).where(CheckoutFile.checkout_path == path))
        session.execute(delete(Checkout).where(Checkout.path == path))
    return len(stale)


def referenced_files(session: Session) -> set[tuple[str, int]]:
    """(sha256, size) of every file some checkout names."""
    rows = session.execute(select(CheckoutFile.sha256, CheckoutFile.size).distinct()).all()
    return {(sha, size) for sha, size in rows}
