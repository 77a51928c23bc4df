"""the skill rows carry their technician's current location too; both indexes key the skill by a hash

Revision ID: 0017
Revises: 0016

Two changes to the per-skill walks of the nearest query (issue 17, item 2).

**The skill by its hash.** Migration 0009 indexed ``technician_skills`` with GiST on
(organization, skill, home base) through btree_gist. btree_gist keeps a text column as
ranges of strings, and with many skills those ranges interleave ("bench_skill_16" lies
between "bench_skill_1" and "bench_skill_2"): an index page held rows of several skills,
and the walk for one skill read pages of many — 84 pages (heap included) for its first 17
rows with 40 skills and 100,000 technicians, and some 300 pages to learn that a skill
nobody has is nowhere. Keyed by ``hashtextextended(skill, 0)`` (a bigint: the hash that
hash partitioning uses, stable across PostgreSQL versions) each skill's rows keep to
subtrees of their own: 38 pages for the same walk. The query tests the key itself too, so
two skills with the same hash stay apart. The planner is told that the hash follows from
the key (statistics of their functional dependency): without them it multiplies the two
tests' selectivities, expects 40 times too few rows and, at a million technicians, sorts
all of a skill's rows instead of walking the index (150 ms instead of 1).

**The current location per skill.** The walk over fresh current locations went through
every technician's current location and dropped those without the skill (30 rows read
for 2 kept at 100,000 technicians, 60 at a million). Each skill row now also carries its
technician's ``current_location``, indexed like the home base (only the rows that have
one: most technicians have none, and the index is a tenth of the size), so that walk too
passes only technicians with the skill. The copy is kept exact by the database as the home
base's is (0009's two trigger functions now copy both columns). A position update
(``UPDATE technicians SET current_location …``) therefore also rewrites that
technician's few skill rows; the refresh of ``technicians.skill_levels`` (0003) now skips
skill rows whose skill and proficiency did not change, so such an update does not write
the technician row a second time.

The downgrade gives back 0009's index, functions and triggers and 0003's refresh.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_LEVELS = ("coalesce((SELECT jsonb_object_agg(s.skill, s.proficiency) FROM technician_skills s "
           "WHERE s.technician_id = t.id), '{}'::jsonb)")


def _search_path() -> str:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    return f'SET search_path = pg_catalog, "{schema}", pg_temp'


def _functions(*, current: bool) -> None:
    """0009's copy functions (``current``: copying the current location too) and 0003's
    refresh of the skill levels (``current``: only for rows whose skill or level changed)."""
    path = _search_path()
    copy = ("SELECT t.home_base, t.current_location INTO NEW.home_base, NEW.current_location"
            if current else "SELECT t.home_base INTO NEW.home_base")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_skill_home_base() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            -- FOR SHARE: a move of this technician that is not committed yet is waited for
            -- (it conflicts with that update), so the copy is never the old place.
            {copy} FROM technicians t WHERE t.id = NEW.technician_id FOR SHARE;
            RETURN NEW;
        END $$""")
    sets = "home_base = NEW.home_base, current_location = NEW.current_location" if current else "home_base = NEW.home_base"
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_technician_home_base_moved() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            UPDATE technician_skills s SET {sets} WHERE s.technician_id = NEW.id;
            RETURN NULL;
        END $$""")
    changed = ("SELECT technician_id FROM (SELECT technician_id, skill, proficiency FROM changed_new "
               "EXCEPT SELECT technician_id, skill, proficiency FROM changed_old) n "
               "UNION SELECT technician_id FROM (SELECT technician_id, skill, proficiency FROM changed_old "
               "EXCEPT SELECT technician_id, skill, proficiency FROM changed_new) o"
               if current else
               "SELECT technician_id FROM changed_new UNION SELECT technician_id FROM changed_old")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_refresh_skill_levels() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                UPDATE technicians t SET skill_levels = {_LEVELS}
                 WHERE t.id IN (SELECT technician_id FROM changed_new);
            ELSIF TG_OP = 'DELETE' THEN
                UPDATE technicians t SET skill_levels = {_LEVELS}
                 WHERE t.id IN (SELECT technician_id FROM changed_old);
            ELSE
                UPDATE technicians t SET skill_levels = {_LEVELS}
                 WHERE t.id IN ({changed});
            END IF;
            RETURN NULL;
        END
        $$""")
    columns = "technician_id, home_base, current_location" if current else "technician_id, home_base"
    moved = ("UPDATE OF home_base, current_location ON technicians FOR EACH ROW WHEN "
             "(OLD.home_base IS DISTINCT FROM NEW.home_base "
             "OR CAST(OLD.current_location AS bytea) IS DISTINCT FROM CAST(NEW.current_location AS bytea))"
             if current else
             "UPDATE OF home_base ON technicians FOR EACH ROW WHEN (OLD.home_base IS DISTINCT FROM NEW.home_base)")
    op.execute("DROP TRIGGER trg_technician_skills_home_base ON technician_skills")
    op.execute("DROP TRIGGER trg_technicians_home_base_moved ON technicians")
    op.execute(f"CREATE TRIGGER trg_technician_skills_home_base BEFORE INSERT OR UPDATE OF {columns} "
               "ON technician_skills FOR EACH ROW EXECUTE FUNCTION desk_skill_home_base()")
    op.execute(f"CREATE TRIGGER trg_technicians_home_base_moved AFTER {moved} "
               "EXECUTE FUNCTION desk_technician_home_base_moved()")


def upgrade() -> None:
    op.execute("ALTER TABLE technician_skills ADD COLUMN current_location geography(POINT,4326)")
    _functions(current=True)
    op.execute("UPDATE technician_skills s SET current_location = t.current_location FROM technicians t "
               "WHERE t.id = s.technician_id AND t.current_location IS NOT NULL")
    op.execute("DROP INDEX ix_technician_skills_home_base")
    op.execute("CREATE INDEX ix_technician_skills_home_base ON technician_skills "
               "USING gist (organization_id, hashtextextended(skill, 0), home_base)")
    op.execute("CREATE INDEX ix_technician_skills_current_location ON technician_skills "
               "USING gist (organization_id, hashtextextended(skill, 0), current_location) "
               "WHERE current_location IS NOT NULL")
    op.execute("CREATE STATISTICS st_technician_skills_skill_hash (dependencies) "
               "ON skill, (hashtextextended(skill, 0)) FROM technician_skills")
    op.execute("ANALYZE technician_skills")


def downgrade() -> None:
    op.execute("DROP STATISTICS st_technician_skills_skill_hash")
    op.execute("DROP INDEX ix_technician_skills_current_location")
    op.execute("DROP INDEX ix_technician_skills_home_base")
    op.execute("CREATE INDEX ix_technician_skills_home_base ON technician_skills "
               "USING gist (organization_id, skill, home_base)")
    _functions(current=False)
    op.execute("ALTER TABLE technician_skills DROP COLUMN current_location")
