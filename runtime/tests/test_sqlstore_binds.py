"""rapport.sqlstore.bind_processor: the conversion SQLAlchemy applies, the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from rapport.sqlstore import bind_processor
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.dialects import postgresql, sqlite

SQLITE = sqlite.dialect()
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])


@given(st.datetimes(min_value=datetime(1, 1, 1), timezones=ZONES))
def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them(moment: datetime) -> None:
    for column_type in (DateTime(), DateTime(timezone=True)):
        ours = bind_processor(column_type, SQLITE)
        theirs = column_type._cached_bind_processor(SQLITE)
        assert ours is not None and theirs is not None
        assert ours(moment) == theirs(moment)
        assert ours(moment) == theirs(moment)  # the remembered value, the same text
        assert ours(None) is None


def test_other_types_and_dialects_keep_sqlalchemys_own() -> None:
    assert bind_processor(Integer(), SQLITE) is Integer()._cached_bind_processor(SQLITE)
    dialect = postgresql.dialect()
    column_type = DateTime(timezone=True)
    assert bind_processor(column_type, dialect) is column_type._cached_bind_processor(dialect)
    assert bind_processor(String(), SQLITE) is String()._cached_bind_processor(SQLITE)
