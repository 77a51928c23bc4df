"""the skill rows' home-base index keys each skill by a hash of its key, not its text

Revision ID: 0017
Revises: 0015

Migration 0009 indexed ``technician_skills`` with GiST on (organization, skill, home base)
through btree_gist. btree_gist keeps a text column as ranges of strings, and with many
skills those ranges interleave ("bench_skill_16" lies between "bench_skill_1" and
"bench_skill_2"): an index page held rows of several skills, and the nearest walk for one
skill read pages of many — 84 pages (heap included) for its first 17 rows with 40 skills
and 100,000 technicians, and some 300 pages to learn that a skill nobody has is nowhere.
Keyed by ``hashtextextended(skill, 0)`` (a bigint: the hash that hash partitioning uses,
stable across PostgreSQL versions) each skill's rows fall into subtrees of their own: 38
pages for the same walk. The query tests the key itself too, so two skills with the same
hash stay apart.

The planner must know that the hash follows from the key (statistics of their functional
dependency): without them it multiplies the two tests' selectivities, expects 40 times
too few rows and, at a million technicians, sorts all of a skill's rows instead of walking
the index (150 ms instead of 1).

The index keeps its name; the downgrade gives back 0009's.
"""

from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_technician_skills_home_base")
    op.execute("CREATE INDEX ix_technician_skills_home_base ON technician_skills "
               "USING gist (organization_id, hashtextextended(skill, 0), home_base)")
    op.execute("CREATE STATISTICS st_technician_skills_skill_hash (dependencies) "
               "ON skill, (hashtextextended(skill, 0)) FROM technician_skills")
    op.execute("ANALYZE technician_skills")


def downgrade() -> None:
    op.execute("DROP STATISTICS st_technician_skills_skill_hash")
    op.execute("DROP INDEX ix_technician_skills_home_base")
    op.execute("CREATE INDEX ix_technician_skills_home_base ON technician_skills "
               "USING gist (organization_id, skill, home_base)")
