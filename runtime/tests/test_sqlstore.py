from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from rapport.sqlstore import (
    SqlUnitOfWork,
    create_engine,
    ensure_schema,
    is_postgres,
    is_sqlite,
    migrate,
    schema_differences,
)
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, inspect, select, text

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String(100), nullable=False),
)


def write_migrations(root: Path) -> Path:
    """A minimal Alembic directory whose env.py is the three-line runtime call."""
    directory = root / "migrations"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(
        textwrap.dedent(
            """\
            from rapport.sqlstore import run_alembic_env

            run_alembic_env(None)
            """
        )
    )
    (directory / "script.py.mako").write_text("${upgrades if upgrades else 'pass'}\n")
    (directory / "versions" / "0001_notes.py").write_text(
        textwrap.dedent(
            """\
            import sqlalchemy as sa
            from alembic import op

            revision = "0001"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.create_table(
                    "notes",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("body", sa.String(100), nullable=False),
                )


            def downgrade() -> None:
                op.drop_table("notes")
            """
        )
    )
    return directory


async def table_names(engine) -> list[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: inspect(c).get_table_names())


class NotesUow(SqlUnitOfWork):
    def _open_repositories(self) -> None:
        self.notes = self.connection  # a real service builds repositories here


async def count(engine) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(notes.c.id))).all())


async def test_sqlite_engine_migrate_and_unit_of_work(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/nested/dir/svc.db")
    try:
        assert is_sqlite(engine) and not is_postgres(engine)
        assert engine.url.drivername == "sqlite+aiosqlite"
        migrations = write_migrations(tmp_path)
        await migrate(engine, migrations)
        await migrate(engine, migrations)  # already at head: no-op
        assert set(await table_names(engine)) == {"notes", "alembic_version"}
        assert (tmp_path / "nested/dir/svc.db").exists()

        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10000

        async with NotesUow(engine) as uow:
            await uow.connection.execute(insert(notes).values(body="kept"))
            await uow.commit()
        async with NotesUow(engine) as uow:
            await uow.connection.execute(insert(notes).values(body="dropped"))
            # no commit: rolled back on exit
        with pytest.raises(RuntimeError):
            async with NotesUow(engine) as uow:
                await uow.connection.execute(insert(notes).values(body="dropped"))
                raise RuntimeError("boom")
        assert await count(engine) == 1
    finally:
        await engine.dispose()


async def test_sqlite_writers_are_serialised(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/svc.db")
    try:
        await migrate(engine, write_migrations(tmp_path))

        async def write(i: int) -> None:
            async with NotesUow(engine) as uow:
                # Read then write: would hit SQLITE_BUSY if writers interleaved.
                await uow.connection.execute(select(notes.c.id))
                await asyncio.sleep(0)
                await uow.connection.execute(insert(notes).values(body=f"n{i}"))
                await uow.commit()

        await asyncio.gather(*(write(i) for i in range(20)))
        # A readonly unit of work does not wait for writers.
        async with NotesUow(engine, readonly=True) as uow:
            rows = (await uow.connection.execute(select(notes.c.body))).all()
        assert len(rows) == 20
    finally:
        await engine.dispose()


def test_sync_urls_are_rewritten_to_async_drivers() -> None:
    from rapport.sqlstore._engine import normalise_url

    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalise_url("postgresql+asyncpg://u@h/db").drivername == "postgresql+asyncpg"


async def test_postgres_migrate_creates_tables_in_schema(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    # The plain URL form is accepted and rewritten to asyncpg.
    plain = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    engine = create_engine(plain, schema=pg_schema)
    try:
        assert is_postgres(engine)
        migrations = write_migrations(tmp_path)
        # Two replicas migrating at once: the advisory lock applies it once.
        await asyncio.gather(
            migrate(engine, migrations, schema=pg_schema),
            migrate(engine, migrations, schema=pg_schema),
        )
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": pg_schema},
            )
            assert {r[0] for r in rows} == {"notes", "alembic_version"}
            assert (await conn.execute(text("SHOW search_path"))).scalar() == f'"{pg_schema}"'

        async with NotesUow(engine) as uow:
            await uow.connection.execute(insert(notes).values(body="kept"))
            await uow.commit()
        async with NotesUow(engine) as uow:
            await uow.connection.execute(insert(notes).values(body="dropped"))
        assert await count(engine) == 1
    finally:
        await engine.dispose()


def test_env_without_connection_uses_url_online_and_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The `alembic` CLI path (revision --autogenerate, upgrade --sql).
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(write_migrations(tmp_path)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path}/cli.db")
    command.upgrade(config, "head", sql=True)
    assert "CREATE TABLE notes" in capsys.readouterr().out
    command.upgrade(config, "head")

    async def tables() -> list[str]:
        engine = create_engine(f"sqlite:///{tmp_path}/cli.db")
        try:
            return await table_names(engine)
        finally:
            await engine.dispose()

    assert "notes" in asyncio.run(tables())


async def test_schema_differences_and_upgrading_to_a_revision(tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path)
    (migrations / "versions" / "0002_titles.py").write_text(
        textwrap.dedent(
            """\
            import sqlalchemy as sa
            from alembic import op

            revision = "0002"
            down_revision = "0001"
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.add_column("notes", sa.Column("title", sa.String(20), nullable=True))


            def downgrade() -> None:
                op.drop_column("notes", "title")
            """
        )
    )
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    try:
        await migrate(engine, migrations, revision="0001")
        # At 0001 the database is exactly the `notes` table the code above declares...
        assert await schema_differences(engine, metadata) == []
        await migrate(engine, migrations)
        # ...and head adds a column that declaration lacks: the comparison says so.
        [difference] = await schema_differences(engine, metadata)
        assert difference[0] == "remove_column" and difference[3].name == "title"
    finally:
        await engine.dispose()


async def test_postgres_connection_killed_while_idle_is_replaced(
    postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Busy connections skip the ping; one idle past the threshold is pinged, and a
    # dead one is swapped for a fresh connection instead of failing the call.
    import rapport.sqlstore._engine as engine_module

    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await ensure_schema(engine, pg_schema)
        async with engine.connect() as conn:
            victim = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        killer = create_engine(postgres_url)
        try:
            async with killer.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim})
        finally:
            await killer.dispose()
        async with engine.connect() as conn:
            now_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        assert now_pid != victim
    finally:
        await engine.dispose()
