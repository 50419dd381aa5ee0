"""Gap-free counters for filing sequences and certificate serials.

The counter row is incremented inside the caller's transaction: PostgreSQL holds the row lock and SQLite
the write lock until commit, so concurrent allocations queue, a rolled-back allocation returns its
number, and a restart continues from the stored value.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from shared.kernel.errors import RetryLater


class SequenceCounter(SQLModel, table=True):
    __tablename__ = "sequence_counter"

    name: str = Field(primary_key=True, max_length=120)
    value: int = 0


class SequenceExhausted(RetryLater, RuntimeError):
    """The counter reached its maximum; the message names the counter. An event needing it waits for an operator."""


def next_value(session: Session, name: str, *, maximum: int) -> int:
    """The next number of counter `name` (1, 2, ...), within the caller's transaction."""
    return next_values(session, name, 1, maximum=maximum)[0]


def next_values(session: Session, name: str, count: int, *, maximum: int) -> range:
    """The next `count` consecutive numbers of counter `name` in one statement, within the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.exec(insert(SequenceCounter).values(name=name, value=0).on_conflict_do_nothing())
    result = session.exec(
        update(SequenceCounter)
        .where(col(SequenceCounter.name) == name, col(SequenceCounter.value) <= maximum - count)
        .values(value=col(SequenceCounter.value) + count)
        .returning(col(SequenceCounter.value))
    ).first()
    if result is None:
        used = session.exec(select(SequenceCounter.value).where(SequenceCounter.name == name)).one()
        if used >= maximum:
            raise SequenceExhausted(f"sequence {name} has used all {maximum} numbers")
        raise SequenceExhausted(f"sequence {name} has {maximum - used} of its {maximum} numbers left, {count} needed")
    end = int(result[0])
    return range(end - count + 1, end + 1)
