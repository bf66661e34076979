"""The audit trail is append-only in the database itself (PostgreSQL).

Row triggers refuse UPDATE and DELETE of `accounts_auditevent`; a statement trigger refuses
TRUNCATE unless the transaction has set `syncportal.allow_audit_truncate` to `on`. That escape
exists for one caller: Django's `flush` as the test suite runs it between transactional tests
(tests/conftest.py sets it, inside the flush's own transaction, on PostgreSQL only). Nothing in
the portal sets it, so `manage.py flush` on a real database refuses to wipe the trail.

Deleting users and teams never touches audit rows: the trail's foreign keys are
`db_constraint=False` with `DO_NOTHING`. Someone with the rights to disable triggers can still
edit rows; the HMAC chain (`manage.py verify_audit_chain`) is what detects that.

SQLite has no such triggers here; the chain still detects tampering there.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION accounts_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('syncportal.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of accounts_auditevent refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER accounts_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();

CREATE TRIGGER accounts_auditevent_no_truncate
    BEFORE TRUNCATE ON accounts_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_auditevent_no_truncate ON accounts_auditevent;
DROP TRIGGER IF EXISTS accounts_auditevent_no_update_delete ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases (SQLite in development and tests)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_identity"),
    ]

    operations = [
        RunSQLOnPostgreSQL(CREATE, DROP, elidable=False),
    ]
