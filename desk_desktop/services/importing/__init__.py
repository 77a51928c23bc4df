"""CSV import and export of technicians, of their absences and of customers with their sites (all rows or none).

One format each, written by ``export_*`` and read by ``check_*``/``run_*`` (a round trip
gives the same people):

technicians, one row per technician::

    name,email,phone,active,skills,hours,home_lat,home_lon,max_open
    Ada King,ada@example.com,+49 30 1,yes,networking:4 hvac:2,mon 08:00-12:00 13:00-17:00; tue 09:00-17:00,52.52,13.40,8

customers, one row per SITE (rows with the same customer_ref are one customer; the
customer columns may be left blank after its first row, and must not differ)::

    customer_ref,customer_name,customer_type,email,phone,site_ref,site_name,address,lat,lon

absences, one row per absence of a technician (time off)::

    technician,from,to,all_day,reason
    ada@example.com,2026-12-07,2026-12-09,yes,Holiday
    Ada King,2026-12-10 09:00,2026-12-10 12:00,no,Doctor

The technician is found by e-mail address when the value has an ``@`` (case-insensitive),
else by name (exactly one active or inactive technician of that name, case-insensitive).
``from``/``to`` are days (whole days, ``to`` the last day off; ``to`` blank = one day) or
times (``YYYY-MM-DD HH:MM``) in the organization's time zone; ``all_day`` yes/no, blank =
as written. An absence overlapping another (in the file or already stored) is an error.

Every row adds a technician (there is no key to match existing ones); a customer_ref or
site_ref the organization already has is an error (nothing is updated). Skills and
customer types may be keys or display names. Files may be separated by ``,`` or ``;`` and
encoded in UTF-8 (with or without BOM) or Windows-1252.

``check_*`` reads the whole file and returns every problem (``line N: …``, the header is
line 1) and a preview of the first rows; ``run_*`` imports a checked file in ONE
transaction with set-based inserts, ``BATCH`` rows per statement, reading the file again
as it goes (memory stays the same whatever the file's size). Nothing is written if any
row is bad, or if the run is interrupted.
"""

from desk_desktop.services.importing import absences, customers, technicians
from desk_desktop.services.importing.files import BATCH, Checked, ImportFileError, detect_encoding

TECHNICIAN_COLUMNS = technicians.COLUMNS
CUSTOMER_COLUMNS = customers.COLUMNS
ABSENCE_COLUMNS = absences.COLUMNS

CHECK = {"technicians": technicians.check_technicians, "absences": absences.check_absences,
         "customers": customers.check_customers}
RUN = {"technicians": technicians.run_technicians, "absences": absences.run_absences,
       "customers": customers.run_customers}
EXPORT = {"technicians": technicians.export_technicians, "absences": absences.export_absences,
          "customers": customers.export_customers}

__all__ = ["ABSENCE_COLUMNS", "BATCH", "CHECK", "CUSTOMER_COLUMNS", "EXPORT", "RUN", "TECHNICIAN_COLUMNS", "Checked",
           "ImportFileError", "detect_encoding"]
