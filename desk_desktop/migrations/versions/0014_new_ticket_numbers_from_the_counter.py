"""a new ticket's number comes from the counter: a dispatcher cannot insert a future number

Revision ID: 0014
Revises: 0013

Migration 0006 made a ticket's number immutable after insert. The insert itself stayed
open: a dispatcher with raw SQL could insert a ticket numbered ``TK-2026-00301`` while the
counter stood at 280, and twenty tickets later every new ticket failed with "The next
ticket number is already taken" (issue 21, item 10).

Here a dispatcher's connection (administrators too: like the update guard of 0006, only a
trusted connection is exempt) may insert a ticket only with a number the counter has just issued:
its trailing digits are the organization's counter value ``next_value - 1`` of some period,
and the number names that period the way ``domain/numbering.py`` writes it:

* period ``-`` (never reset): any head; the value alone is unique for the organization;
* period ``2026`` (yearly): the year, a separator, optionally a two-digit month and a
  separator, then the digits;
* period ``2026-12`` (monthly): year, separator, month, separator, then the digits.

A separator is never a digit (``numbering.SEPARATORS``), so the digits after the last
non-digit are the counter value. The counter moves only forward by one for a dispatcher
(``desk_guard_counter``, migration 0002; an administrator may move it, and a move that
would collide is refused by the numbering service), and the ticket that took the previous
value already holds it, so the only value a forged insert can use is one its own transaction
just took: the number it writes can never be one the counter hands out later. The application
inserts the number in the same statement that takes it from the counter (the trigger sees
that statement's counter update), so it is never refused.
"""

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OWNER = "desk_owner"
FUNCTION = "desk_guard_new_ticket_number()"


def upgrade() -> None:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    path = f'SET search_path = pg_catalog, "{schema}", pg_temp'
    op.execute(rf"""
        CREATE OR REPLACE FUNCTION {FUNCTION} RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF desk_trusted() THEN
                RETURN NEW;
            END IF;
            IF NOT EXISTS (
                SELECT 1 FROM ticket_number_counters k
                 WHERE k.organization_id = NEW.organization_id AND k.next_value > 1
                   AND NEW.number ~ ('(^|[^0-9])'
                                     || CASE WHEN k.period = '-' THEN ''
                                             WHEN k.period ~ '^[0-9]{{4}}$' THEN k.period || '[^0-9]([0-9]{{2}}[^0-9])?'
                                             ELSE replace(k.period, '-', '[^0-9]') || '[^0-9]' END
                                     || '0*' || (k.next_value - 1) || '$')) THEN
                RAISE EXCEPTION 'A new ticket''s number must be the next one from the organization''s counter; '
                                'create tickets through Desk Dispatcher.' USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")
    op.execute(f"ALTER FUNCTION {FUNCTION} OWNER TO {OWNER}")
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"CREATE TRIGGER desk_guard_new_ticket_number BEFORE INSERT ON tickets "
               f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS desk_guard_new_ticket_number ON tickets")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
