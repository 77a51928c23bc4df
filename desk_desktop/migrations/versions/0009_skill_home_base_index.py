"""one home-base index for every skill: technician_skills carries its technician's home base

Revision ID: 0009
Revises: 0008

Migration 0005 built one partial GiST index of home bases per skill, so the nearest walk
passed only technicians with the required skill — and a skill added to an organization's
catalog needed a new migration. Now every ``technician_skills`` row carries a copy of its
technician's home base, and one GiST index on (organization, skill, home base) (btree_gist
for the two scalar columns) serves every skill of every organization: the nearest query
walks ``ORDER BY home_base <-> :point`` with ``organization_id = :org AND skill = :skill``
(the skill a bind parameter), an index-ordered scan that passes only technicians with it.

The copy is kept exact by the database, never by the app:

* a row written to ``technician_skills`` (new, or moved to another technician) takes the
  home base of its technician, whatever the statement said (reading it ``FOR SHARE``, so
  it waits for a concurrent move of that home base instead of copying the old one);
* a technician whose home base changes passes it to all their skill rows.

Both trigger functions run as the caller (SECURITY INVOKER): row-level security applies to
them as to any statement of the dispatcher who changed the technician or the skills, and
they need no privilege a dispatcher lacks (``technician_skills`` already grants UPDATE).

btree_gist is a trusted extension (PostgreSQL 13+): whoever may create objects in the
database may install it, so this migration needs no superuser. The downgrade keeps it
(later schema, or other databases' tools, may rely on it) and restores 0005's indexes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OWNER = "desk_owner"

# The skills that had an index of their own in 0005 (frozen: the downgrade rebuilds them).
SKILLS_0005 = ("hvac", "electrical", "plumbing", "networking", "fiber", "refrigeration", "appliances",
               "security_systems", "it_hardware", "gas", "solar", "carpentry")

FUNCTIONS = ("desk_skill_home_base()", "desk_technician_home_base_moved()")


def upgrade() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    path = f'SET search_path = pg_catalog, "{schema}", pg_temp'
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("ALTER TABLE technician_skills ADD COLUMN home_base geography(POINT,4326)")
    op.execute("UPDATE technician_skills s SET home_base = t.home_base FROM technicians t WHERE t.id = s.technician_id")
    op.execute(f"""
        CREATE FUNCTION desk_skill_home_base() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            -- FOR SHARE: a move of this technician's home base that is not committed yet is
            -- waited for (it conflicts with that update), so the copy is never the old place.
            NEW.home_base := (SELECT t.home_base FROM technicians t WHERE t.id = NEW.technician_id FOR SHARE);
            RETURN NEW;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION desk_technician_home_base_moved() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            UPDATE technician_skills s SET home_base = NEW.home_base WHERE s.technician_id = NEW.id;
            RETURN NULL;
        END $$""")
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    op.execute("CREATE TRIGGER trg_technician_skills_home_base BEFORE INSERT OR UPDATE OF technician_id, home_base "
               "ON technician_skills FOR EACH ROW EXECUTE FUNCTION desk_skill_home_base()")
    op.execute("CREATE TRIGGER trg_technicians_home_base_moved AFTER UPDATE OF home_base ON technicians "
               "FOR EACH ROW WHEN (OLD.home_base IS DISTINCT FROM NEW.home_base) "
               "EXECUTE FUNCTION desk_technician_home_base_moved()")
    op.execute("CREATE INDEX ix_technician_skills_home_base ON technician_skills "
               "USING gist (organization_id, skill, home_base)")
    for skill in SKILLS_0005:
        op.execute(f"DROP INDEX ix_technicians_home_base_{skill}")


def downgrade() -> None:
    for skill in SKILLS_0005:
        op.execute(f"CREATE INDEX ix_technicians_home_base_{skill} ON technicians USING gist (home_base) "
                   f"WHERE skill_levels ? '{skill}'")
    op.execute("DROP INDEX ix_technician_skills_home_base")
    op.execute("DROP TRIGGER trg_technicians_home_base_moved ON technicians")
    op.execute("DROP TRIGGER trg_technician_skills_home_base ON technician_skills")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION {fn}")
    op.execute("ALTER TABLE technician_skills DROP COLUMN home_base")
